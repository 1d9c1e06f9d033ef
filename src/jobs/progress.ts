import { z } from 'zod';

const finite = z.number().refine(Number.isFinite, 'must be a finite number');

/** One text of a run as the text side read it (the engine's `TextReading`). */
const textReadingSchema = z.object({
  original: z.string(),
  text: z.string(),
  changes: z.array(z.string()),
  language: z.object({
    code: z.string(),
    name: z.string(),
    alternatives: z.array(z.string()),
    method: z.enum(['script', 'english-words', 'detector', 'none']),
    confident: z.boolean(),
    english: z.enum(['yes', 'no', 'unsure']),
    note: z.string(),
  }),
  scripts: z.array(z.string()),
});

/** What happened to one CLIP model of the run (the engine's `SpaceReading`). */
const spaceReadingSchema = z.object({
  space: z.string(),
  status: z.enum(['encoded', 'dropped']),
  via: z.enum(['clip', 'multilingual', 'english-rendering']).optional(),
  encoderId: z.string().optional(),
  texts: z.object({ target: z.string(), source: z.string() }).optional(),
  weight: z.number(),
  reason: z.string(),
  warnings: z.array(z.string()),
  understoodAs: z.array(z.object({ phrase: z.string(), similarity: finite })),
});

/** How a run's texts were routed to text encoders (the engine's `RunRouting`). */
export const runRoutingSchema = z.object({
  model: z.string(),
  target: textReadingSchema,
  source: textReadingSchema,
  spaces: z.array(spaceReadingSchema),
});
export type RunRoutingProgress = z.infer<typeof runRoutingSchema>;

/**
 * What a worker reports with `job.updateProgress` while a run goes on: the engine's events,
 * with artifact paths made relative to the artifact store so any bot can find them, plus
 * `error` when the run fails with a coded error.
 */
export const progressSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('started'), runId: z.string(), totalSteps: z.number().int() }),
  z.object({
    type: z.literal('step'),
    step: z.number().int(),
    loss: finite,
    msPerStep: z.number(),
    layers: z.array(z.string()),
  }),
  /** `path` is relative to the artifact store: `<runId>/grids/step-000050.png` */
  z.object({ type: z.literal('grid'), step: z.number().int(), path: z.string() }),
  z.object({ type: z.literal('checkpoint'), step: z.number().int(), path: z.string() }),
  z.object({
    type: z.literal('finished'),
    step: z.number().int(),
    firstLoss: z.number(),
    lastLoss: z.number(),
  }),
  /** something the person should know that does not stop the run (a shortened prompt) */
  z.object({ type: z.literal('note'), code: z.string(), message: z.string() }),
  /** how the texts were read: encoder per CLIP model, language, nearest English words */
  z.object({ type: z.literal('understood'), routing: runRoutingSchema }),
  z.object({
    type: z.literal('error'),
    step: z.number().int(),
    code: z.string(),
    message: z.string(),
  }),
]);
export type RunProgress = z.infer<typeof progressSchema>;

/** Parses a progress payload from the queue; anything else (a plain number) gives undefined. */
export function parseProgress(data: unknown): RunProgress | undefined {
  const parsed = progressSchema.safeParse(data);
  return parsed.success ? parsed.data : undefined;
}
