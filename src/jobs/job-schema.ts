import { z } from 'zod';

/** The BullMQ job name of an adaptation run. */
export const ADAPT_JOB_NAME = 'adapt';

/** Longest target or source text a job carries, in code points (the chat states this limit). */
export const MAX_PROMPT_CHARS = 300;

/** A run id: the job id and the folder name under the artifact store. */
export const runIdSchema = z.string().regex(/^[A-Za-z0-9][\w-]{0,63}$/);

/** A checkpoint of the artifact store, relative to it: `<runId>/checkpoints/<file>.safetensors`. */
export const checkpointPathSchema = z
  .string()
  .regex(/^[A-Za-z0-9][\w-]{0,63}\/checkpoints\/[\w.-]+\.safetensors$/);

/** Where the run's posts go: a platform and the thread opened for the command. */
export const replyTargetSchema = z.object({
  platform: z.string().min(1).max(32),
  channelId: z.string().min(1).max(128),
  threadId: z.string().min(1).max(128),
});
export type ReplyTarget = z.infer<typeof replyTargetSchema>;

/**
 * The payload of one adaptation job: small on purpose (texts, numbers and ids). Images and
 * checkpoints never travel through Redis; the worker writes them into the artifact store.
 */
export const adaptJobSchema = z.object({
  runId: runIdSchema,
  /** the target text as the person typed it (any language) */
  prompt: z.string().min(1).max(MAX_PROMPT_CHARS),
  /** the source text the direction starts from ("photo" for face generators) */
  source: z.string().min(1).max(MAX_PROMPT_CHARS),
  steps: z.number().int().min(1).max(100_000),
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1),
  /** a preview grid is rendered at step 0, every `outputInterval` steps and at the end */
  outputInterval: z.number().int().min(1),
  requester: z.object({
    platform: z.string().min(1).max(32),
    userId: z.string().min(1).max(128),
    name: z.string().max(128).optional(),
  }),
  reply: replyTargetSchema,
  /** ISO time the command arrived */
  requestedAt: z.string().datetime(),
  /**
   * Train `steps` more steps of a finished run: its checkpoint, relative to the artifact store
   * (`<runId>/checkpoints/latest.safetensors`). Texts and settings come from the checkpoint.
   */
  resumeFrom: checkpointPathSchema.optional(),
  /**
   * Steer on from a finished run toward `prompt`: its checkpoint (relative, as above) becomes
   * the starting generator; `source` is then that run's prompt.
   */
  continueFrom: checkpointPathSchema.optional(),
  /**
   * Draw new samples (latents from `seed`) from a finished run's generator without training:
   * its checkpoint, relative as above. `steps` is then not used.
   */
  redrawFrom: checkpointPathSchema.optional(),
});
export type AdaptJob = z.infer<typeof adaptJobSchema>;

/** What a finished job returns (BullMQ stores it as the job's return value). */
export const adaptResultSchema = z.object({
  runId: runIdSchema,
  steps: z.number().int().min(0),
  firstLoss: z.number().nullable(),
  lastLoss: z.number().nullable(),
  /** grid paths relative to the artifact store, in step order */
  grids: z.array(z.string()),
  cancelled: z.boolean(),
});
export type AdaptJobResult = z.infer<typeof adaptResultSchema>;
