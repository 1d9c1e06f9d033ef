/**
 * The contract between the NADA engine and whoever drives it (the worker, `nadabot adapt`).
 * The engine knows nothing of queues or chat platforms; it reports through `onEvent`.
 */

/** What one adaptation run needs. Defaults follow the demo setup, not the paper's 1024 px. */
export interface AdaptOptions {
  /** the target text, as the person typed it (any language) */
  target: string;
  /** the source text; "photo" for face generators */
  source: string;
  /** training steps to run in this call */
  steps: number;
  seed: number;
  /** training batch size (NADA README: 2) */
  batch: number;
  /** a preview grid is rendered at step 0, every `outputInterval` steps, and at the end */
  outputInterval: number;
  /** number of fixed preview latents in each grid */
  nSample: number;
  /** directory of this run in the artifact store; grids and checkpoints go here */
  runDir: string;
  /** id of this run (the folder name under the artifact store) */
  runId: string;
}

export type EngineEvent =
  | { type: 'started'; runId: string; totalSteps: number }
  | { type: 'step'; step: number; loss: number; msPerStep: number; layers: string[] }
  | { type: 'grid'; step: number; path: string }
  | { type: 'checkpoint'; step: number; path: string }
  | { type: 'finished'; step: number; firstLoss: number; lastLoss: number }
  | { type: 'failed'; step: number; code: string; message: string };

export interface AdaptHooks {
  onEvent?: (event: EngineEvent) => void | Promise<void>;
  /** checked between steps; an aborted run saves a checkpoint and returns */
  signal?: AbortSignal;
}

export interface AdaptResult {
  runId: string;
  steps: number;
  losses: number[];
  grids: string[];
  cancelled: boolean;
}
