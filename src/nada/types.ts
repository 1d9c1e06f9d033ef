/**
 * The contract between the NADA engine and whoever drives it (the worker, `nadabot adapt`).
 * The engine knows nothing of queues or chat platforms; it reports through `onEvent`.
 */
import type { Logger } from 'pino';

import type { EngineModels } from './models.ts';

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

  /** model id in the store (`demo` is bundled); default `demo` */
  model?: string;
  /** folder of installed models; default NADABOT_MODELS_DIR or ~/.cache/nadabot/models */
  modelsDir?: string;
  /** learning rate before NADA's 4/5 lazy-regularisation factor (official 0.002) */
  lr?: number;
  /** W+ rows (layers) trained per step; all rows when ≥ the generator's row count */
  autoLayerK?: number;
  /** SGD steps of layer selection (official 1) */
  autoLayerIters?: number;
  /** latents drawn for layer selection (official default 8) */
  autoLayerBatch?: number;
  /** train the fixed set (input, conv1, all convs) every step, no layer selection */
  trainAllLayers?: boolean;
  /** weight of the directional CLIP loss (official 1) */
  lambdaDirection?: number;
  /** weight of the global CLIP loss toward "a <target>" (official 0) */
  lambdaGlobal?: number;
  /** CLIP models and their weights; default: every CLIP model of the model id, its weights */
  clipModels?: { name: string; weight: number }[];
  /** ψ of the preview samples (official sample_truncation 0.7) */
  sampleTruncation?: number;
  /** a checkpoint every this many steps (default `outputInterval`), at the end and on cancel */
  checkpointInterval?: number;
  /** edge of one preview image in a grid, pixels (nearest-neighbour upscale); default 192 */
  gridCellPx?: number;
  /**
   * Resume the run saved in this checkpoint for `steps` more steps. The run's settings (texts,
   * seed, batch, layer selection, …) come from the checkpoint; N steps then M equal N + M.
   */
  resumeFrom?: string;
  /**
   * Continue from this checkpoint toward a new `target` (chained adaptation): its adapted
   * generator becomes the frozen one and the start of the trained one, with a fresh optimiser.
   * `source` should then describe the previous target.
   */
  continueFrom?: string;
}

/** One text of the run as the routing read it (language and script detection, clean-up). */
export interface TextReading {
  /** as typed */
  original: string;
  /** after clean-up (NFKC, invisible characters out, whitespace collapsed) */
  text: string;
  /** what clean-up changed, in words */
  changes: string[];
  language: {
    /** ISO 639-1; 'und' undetermined; 'zxx' no words */
    code: string;
    /** in English words: 'Japanese', 'Chinese or Japanese' */
    name: string;
    alternatives: string[];
    method: 'script' | 'english-words' | 'detector' | 'none';
    confident: boolean;
    english: 'yes' | 'no' | 'unsure';
    note: string;
  };
  /** scripts of its letters, most used first */
  scripts: string[];
}

/** What happened to one CLIP model of the run. */
export interface SpaceReading {
  /** the CLIP model's name, which is its space: 'ViT-B/32' */
  space: string;
  status: 'encoded' | 'dropped';
  /** CLIP's own encoder, a multilingual one, or CLIP's own on the operator's English rendering */
  via?: 'clip' | 'multilingual' | 'english-rendering';
  /** `clip:ViT-B/32` or the multilingual encoder's id */
  encoderId?: string;
  /** the texts the encoder received (after clean-up and fitting to its context) */
  texts?: { target: string; source: string };
  /** loss weight in this run, after dropped models' weight is shared out; 0 when dropped */
  weight: number;
  reason: string;
  /** e.g. an encoder that strips accents and kana voicing marks */
  warnings: string[];
  /** English words and phrases nearest the target in this space, best first */
  understoodAs: { phrase: string; similarity: number }[];
}

/** How a run's texts were routed to text encoders; kept in checkpoints and `run.json`. */
export interface RunRouting {
  /** the model id (`demo`: random weights, similarities mean nothing) */
  model: string;
  target: TextReading;
  source: TextReading;
  spaces: SpaceReading[];
}

export type EngineEvent =
  | { type: 'started'; runId: string; totalSteps: number }
  | { type: 'step'; step: number; loss: number; msPerStep: number; layers: string[] }
  | { type: 'grid'; step: number; path: string }
  | { type: 'checkpoint'; step: number; path: string }
  | { type: 'finished'; step: number; firstLoss: number; lastLoss: number }
  | { type: 'failed'; step: number; code: string; message: string }
  /** something the person should know that does not stop the run (a shortened prompt) */
  | { type: 'note'; code: string; message: string }
  /** how the texts were read: encoder per CLIP model, language, nearest English words */
  | { type: 'understood'; routing: RunRouting };

export interface AdaptHooks {
  onEvent?: (event: EngineEvent) => void | Promise<void>;
  /** checked between steps; an aborted run saves a checkpoint and returns */
  signal?: AbortSignal;
  /** models loaded once by the caller (`loadEngineModels`); else loaded and freed per run */
  models?: EngineModels;
  /** the logger to use (pino); default the nadabot logger */
  logger?: Logger;
  /**
   * awaited before each training step, after the timers that were due have run; a queue
   * worker extends its job's lock here when a step holds the event loop for long
   */
  beforeStep?: () => Promise<void>;
}

export interface AdaptResult {
  runId: string;
  steps: number;
  losses: number[];
  grids: string[];
  cancelled: boolean;
  /** the last checkpoint written (`<runDir>/checkpoints/step-….safetensors`) */
  checkpoint?: string;
}
