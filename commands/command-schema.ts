import { z } from 'zod';

// Discord's limits, the strictest of the platforms: names 1-32 lower-case characters,
// descriptions up to 100, at most 25 options.
const name = z
  .string()
  .regex(/^[a-z0-9_-]{1,32}$/, 'must be 1-32 lower-case letters, digits, - or _');
const description = z.string().min(1).max(100);

const optionSchema = z.object({
  name,
  description,
  type: z.enum(['string', 'integer']),
  required: z.boolean(),
  minValue: z.number().int().optional(),
  maxValue: z.number().int().optional(),
  maxLength: z.number().int().min(1).max(6000).optional(),
});

/** One slash command as every platform registers it. */
export const commandSchema = z
  .object({ name, description, options: z.array(optionSchema).max(25) })
  .refine((c) => new Set(c.options.map((o) => o.name)).size === c.options.length, {
    message: 'option names must be unique',
  })
  .refine((c) => c.options.every((o, i) => o.required || !c.options[i + 1]?.required), {
    message: 'required options must come before optional ones',
  });

export type CommandDefinition = z.infer<typeof commandSchema>;
export type CommandOption = CommandDefinition['options'][number];

/** Checks a command definition when its file is loaded; a bad one stops start-up. */
export function defineCommand(definition: CommandDefinition): CommandDefinition {
  const parsed = commandSchema.safeParse(definition);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(
      `command /${definition.name}: ${issue.path.join('.') || 'definition'} ${issue.message}`,
    );
  }
  return parsed.data;
}
