import { Command } from 'commander';
import { Presets, SingleBar } from 'cli-progress';

import type { DownloadProgress } from '../models/download.ts';
import { importModel, pullModel, type PullEvents } from '../models/pull.ts';
import { modelsDir, type ModelFiles } from '../models/store.ts';
import { listModels } from '../models/list.ts';

const MB = 1024 * 1024;

/** Collects a repeatable option into a list. */
function many(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/**
 * `nadabot models list | pull | import | verify`: the operator's commands for the model store
 * (`NADABOT_MODELS_DIR`, else ~/.cache/nadabot/models).
 */
export function modelsCommand(): Command {
  const models = new Command('models').description(
    `list, download, import and check models (store: ${modelsDir()})`,
  );

  models
    .command('list')
    .description('bundled and installed models with their sizes, and the ones nadabot knows')
    .action(() => listCommand());

  models
    .command('pull')
    .description('download a model, convert it and install it (resumes a broken download)')
    .argument('<id>', 'model id, e.g. ffhq (see `nadabot models list`)')
    .option('--url <url>', 'the generator checkpoint (rosinality .pt), e.g. a mirror of yours')
    .option('--clip-url <url>', 'a CLIP model.safetensors, config.json beside it (repeat)', many)
    .option('--force', 'replace the model if it is installed')
    .action((id: string, o) => pullCommand(id, o));

  models
    .command('import')
    .description('install a model from local files (offline hosts, Google Drive downloads)')
    .argument('<id>', 'model id to install under, e.g. ffhq')
    .requiredOption('--generator <file>', 'rosinality .pt (g_ema) or a generator .safetensors')
    .requiredOption(
      '--clip <file>',
      'CLIP weights .safetensors (HF or OpenAI names) (repeat)',
      many,
    )
    .option('--clip-config <file>', 'config.json for the matching --clip (repeat)', many)
    .option('--clip-name <name>', 'ViT-B/32 or ViT-B/16 for the matching --clip (repeat)', many)
    .option('--source <text>', 'what the generator makes, for ids nadabot does not know')
    .option('--force', 'replace the model if it is installed')
    .action((id: string, o) => importCommand(id, o));

  models
    .command('verify')
    .description('check files and checksums, load the weights and render one image')
    .argument('<id>', 'model id')
    .action((id: string) => verifyCommand(id));

  return models;
}

function listCommand(): void {
  const rows = listModels();
  const width = Math.max(...rows.map((r) => r.id.length));
  for (const r of rows) {
    const size = r.bytes === undefined ? '' : `${(r.bytes / MB).toFixed(1)} MB`;
    const line = [r.id.padEnd(width), r.state.padEnd(9), size.padStart(10), r.check];
    process.stdout.write(`${line.join('  ')}\n    ${r.description}\n`);
  }
  process.stdout.write(`store: ${modelsDir()}\n`);
}

interface PullCliOptions {
  url?: string;
  clipUrl?: string[];
  force?: boolean;
}

async function pullCommand(id: string, o: PullCliOptions): Promise<void> {
  const show = progressDisplay();
  try {
    const files = await pullModel(id, { url: o.url, clipUrls: o.clipUrl, force: o.force, ...show });
    printInstalled(files);
  } finally {
    show.stop();
  }
}

interface ImportCliOptions {
  generator: string;
  clip: string[];
  clipConfig?: string[];
  clipName?: string[];
  source?: string;
  force?: boolean;
}

async function importCommand(id: string, o: ImportCliOptions): Promise<void> {
  const onStep = (m: string) => process.stderr.write(`${m}\n`);
  printInstalled(await importModel(id, { ...o, onStep }));
}

async function verifyCommand(id: string): Promise<void> {
  // tfjs loads only here: list, pull and import need no tensor library
  const { selectBackend } = await import('../models/backend/index.ts');
  const { verifyModel } = await import('../models/verify.ts');
  const backend = await selectBackend();
  process.stderr.write(`backend: ${backend.name} (${backend.reason})\n`);
  process.stderr.write('loading the weights and rendering one image (real models take a while)\n');
  await verifyModel(id, modelsDir(), (m) => process.stdout.write(`ok  ${m}\n`));
}

function printInstalled(files: ModelFiles): void {
  const clips = files.clip.map((c) => `${c.name} ×${c.weight}`).join(', ');
  process.stdout.write(
    `installed ${files.id} in ${files.dir}: ${files.info.generator.config.size} px generator, ` +
      `CLIP ${clips}, source "${files.info.source}"\n` +
      `check it with \`nadabot models verify ${files.id}\`\n`,
  );
}

/** A progress bar per download on a terminal; one line per file otherwise. */
function progressDisplay(): PullEvents & { stop: () => void } {
  const tty = process.stderr.isTTY === true;
  const bar = new SingleBar(
    { format: '{label} [{bar}] {mb}/{totalMb} MB', stream: process.stderr },
    Presets.shades_classic,
  );
  let running = false;
  const stop = () => {
    if (running) bar.stop();
    running = false;
  };
  return {
    stop,
    onDownload: (label, url) => {
      stop();
      process.stderr.write(`downloading ${label} from ${url}\n`);
    },
    onProgress: (p: DownloadProgress) => {
      if (!tty || p.total === undefined) return;
      const payload = {
        label: 'download',
        mb: (p.received / MB).toFixed(1),
        totalMb: (p.total / MB).toFixed(1),
      };
      if (!running) bar.start(p.total, p.received, payload);
      running = true;
      bar.update(p.received, payload);
    },
    onDownloaded: (label, bytes) => {
      stop();
      process.stderr.write(`${label}: ${bytes} bytes\n`);
    },
    onStep: (m) => {
      stop();
      process.stderr.write(`${m}\n`);
    },
  };
}
