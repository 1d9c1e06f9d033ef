import { z } from 'zod';
import { NadaError } from '../errors.ts';
import type { AccessPolicy } from './access.ts';
import type { QuotaLimits } from './quotas.ts';

/** A variable's check and, for the error, where a person finds its value. */
export interface EnvVariable {
  schema: z.ZodType;
  where: string;
}

const idList = z
  .string()
  .regex(/^[\w.-]+(,\s*[\w.-]+)*$/, 'must be ids separated by commas')
  .transform((s) => s.split(',').map((x) => x.trim()));
const count = z.coerce.number().int().min(0);

/** The operator's settings every threaded platform shares. */
export const chatVariables = {
  NADABOT_ALLOWED_CHANNELS: {
    schema: idList.optional(),
    where:
      'channel ids (Discord: right-click the channel → Copy Channel ID; Slack: channel details → bottom); unset allows every channel',
  },
  NADABOT_OPERATORS: {
    schema: idList.optional(),
    where: 'user ids of the people who may stop anyone’s run',
  },
  NADABOT_MAX_RUNS_PER_USER: { schema: count.default(1), where: 'a whole number; 0 for no limit' },
  NADABOT_MAX_RUNS_PER_CHANNEL: {
    schema: count.default(3),
    where: 'a whole number; 0 for no limit',
  },
  NADABOT_DAILY_STEPS: {
    schema: count.default(2000),
    where: 'training steps per person per UTC day; 0 for no limit',
  },
} satisfies Record<string, EnvVariable>;

/**
 * Checks `variables` in `env` (empty counts as unset) and returns their values, or throws a
 * NadaError `config.invalid` naming every variable that is missing or wrong and where to
 * get its value.
 *
 * @example
 * readEnv({ DISCORD_TOKEN: { schema: z.string(), where: 'Developer Portal → Bot' } }, {});
 * // NadaError: DISCORD_TOKEN is missing: Developer Portal → Bot
 */
export function readEnv<V extends Record<string, EnvVariable>>(
  variables: V,
  env: NodeJS.ProcessEnv,
): { [K in keyof V]: z.output<V[K]['schema']> } {
  const values: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [name, v] of Object.entries(variables)) {
    const raw = env[name]?.trim() ? env[name] : undefined;
    const parsed = v.schema.safeParse(raw);
    if (parsed.success) values[name] = parsed.data;
    else if (raw === undefined) problems.push(`${name} is missing: ${v.where}`);
    else
      problems.push(
        `${name} ${parsed.error.issues[0].message}, got ${JSON.stringify(raw)}: ${v.where}`,
      );
  }
  if (problems.length > 0) {
    throw new NadaError('config.invalid', problems.join('; '), { variables: problems });
  }
  return values as { [K in keyof V]: z.output<V[K]['schema']> };
}

/** The access policy and quotas from the environment. */
export function readChatPolicy(
  env: NodeJS.ProcessEnv,
  roles: { allowedRoles?: string[]; operatorRoles?: string[] } = {},
): { access: AccessPolicy; quotas: QuotaLimits } {
  const e = readEnv(chatVariables, env);
  return {
    access: {
      allowedChannels: e.NADABOT_ALLOWED_CHANNELS ?? [],
      operators: e.NADABOT_OPERATORS ?? [],
      allowedRoles: roles.allowedRoles ?? [],
      operatorRoles: roles.operatorRoles ?? [],
    },
    quotas: {
      maxRunsPerUser: e.NADABOT_MAX_RUNS_PER_USER,
      maxRunsPerChannel: e.NADABOT_MAX_RUNS_PER_CHANNEL,
      dailyStepsPerUser: e.NADABOT_DAILY_STEPS,
    },
  };
}
