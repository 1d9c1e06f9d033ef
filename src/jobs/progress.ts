import { z } from 'zod';

const finite = z.number().refine(Number.isFinite, 'must be a finite number');

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
