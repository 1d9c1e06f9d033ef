import { createRequire } from 'node:module';

import { Command } from 'commander';
import { isNadaError } from '../errors.ts';
import { logger } from '../log.ts';
import { adaptCommand } from './adapt.ts';
import { type AdaptCliOptions, addAdaptOptions } from './adapt-options.ts';
import { modelsCommand } from './models.ts';
import { botCommand, demoCommand, workerCommand } from './serve.ts';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

const program = new Command('nadabot')
  .description('Adapt a StyleGAN2 face generator toward any text (StyleGAN-NADA) from a chat')
  .version(version)
  .showHelpAfterError();

program
  .command('demo')
  .description('start a worker and the local web chat (Redis must be running)')
  .action(() => demoCommand());

program
  .command('bot')
  .description('serve the chat (the local web chat when no platform token is set)')
  .action(() => botCommand());

program
  .command('worker')
  .description('take adaptation jobs from the queue, one at a time')
  .action(() => workerCommand());

addAdaptOptions(
  program
    .command('adapt')
    .description('run one adaptation here, no chat and no Redis, writing the grids to a folder')
    .argument('[prompt]', 'what the faces should become, in any language'),
).action((prompt: string | undefined, options: AdaptCliOptions) => adaptCommand(prompt, options));

program.addCommand(modelsCommand());

try {
  await program.parseAsync(process.argv);
} catch (err) {
  exitWithError(err);
}

/**
 * One line for errors a person can fix (a bad setting, Redis down), no stack trace; the
 * full error goes to the log at debug.
 */
export function exitWithError(err: unknown): never {
  logger.debug({ err }, 'exiting on error');
  if (isNadaError(err)) {
    process.stderr.write(`nadabot: ${err.message}\n`);
    process.exit(err.code === 'config.invalid' ? 2 : 1);
  }
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`nadabot: ${message}\n(run with NADABOT_LOG_LEVEL=debug for the details)\n`);
  process.exit(1);
}
