import * as tf from '@tensorflow/tfjs-core';
import type { Logger } from 'pino';

import { isNadaError, NadaError } from '../errors.ts';
import type { TextEncoder } from '../text/encoder.ts';
import {
  explainRouting,
  languageName,
  routePrompt,
  type RoutingRecord,
  type SpaceRoute,
  type TextAnalysis,
} from '../text/routing.ts';
import { scriptsOf } from '../text/script.ts';
import type { ClipLossTerm } from './clip-loss.ts';
import { buildClipTerms, disposeClipTerms, fitTexts } from './clip-terms.ts';
import type { EngineClip, EngineModels } from './models.ts';
import { fillTemplates } from './templates.ts';
import {
  checkDifferent,
  clipWindow,
  directionFromFeatures,
  l2Normalize,
  type TokenWindow,
} from './text-direction.ts';
import type { RunRouting, SpaceReading, TextReading } from './types.ts';
import { clipEncoder } from './understood.ts';

/** A remark for the person: a shortened prompt, a CLIP model left out of the run. */
export interface RunNote {
  code: string;
  message: string;
}

/** The run's texts encoded per CLIP model, with the routing that chose the encoders. */
export interface RoutedTerms {
  terms: ClipLossTerm[];
  routing: RunRouting;
  notes: RunNote[];
  /** the target text the first kept model trains on (shortened if it had to be) */
  usedTarget: string;
}

// The chat limits what people type; the engine fits texts to each encoder's context itself.
const ENGINE_MAX_PROMPT_CHARS = 2000;
// Entries of the understood-as line per CLIP model.
const UNDERSTOOD_K = 5;

/**
 * Routes the run's texts (`routePrompt`) and encodes them per CLIP model with the encoder it
 * chose: CLIP's own (English) through the exact official 79-template computation, or a
 * multilingual encoder. A model no encoder reads is left out with a note, its loss weight
 * shared among the others; none left → `routing.no_encoder`, before any training.
 *
 * @example
 * const routed = await routeRunTexts({ source: 'photo', target: '日本人女性', clipModels }, models);
 * routed.routing.spaces[0]; // { space: 'ViT-B/32', via: 'multilingual', encoderId: 'tiny-xlmr', … }
 */
export async function routeRunTexts(
  texts: { source: string; target: string; clipModels: { name: string; weight: number }[] },
  models: EngineModels,
  log?: Logger,
): Promise<RoutedTerms> {
  // Step 1: refuse equal texts before any model work.
  checkDifferent(texts.source, texts.target);

  // Step 2: route: one encoder per CLIP model of the run, or none.
  const clips = texts.clipModels.map(({ name }) => clipOf(models, name));
  const encoders = [...clips.map((c) => clipEncoder(c, models)), ...(models.multilingual ?? [])];
  const record = route(texts, clips, encoders);
  for (const line of explainRouting(record)) log?.info({ routing: line }, 'text routing');

  // Step 3: loss weights shared out over the kept models; a note for each dropped one.
  const weights = sharedWeights(texts.clipModels, record.kept);
  const notes: RunNote[] = record.routes
    .filter((r) => r.status === 'dropped')
    .map((r) => droppedNote(r, record.kept));

  // Step 4: encode per kept model with its routed encoder.
  const terms: ClipLossTerm[] = [];
  try {
    for (const r of record.routes) {
      if (r.status !== 'encoded') continue;
      const clip = clipOf(models, r.space);
      const weight = weights.get(r.space)!;
      const term = await encodeRoute(r, clip, weight, models, encoders, notes);
      terms.push(term);
    }
  } catch (err) {
    disposeClipTerms(terms);
    throw err;
  }

  // Step 5: the understood-as line and the record for the run's metadata.
  const routing = runRouting(models, record, weights, terms);
  const usedTarget = record.routes.find((r) => r.status === 'encoded')!.texts!.target;
  return { terms, routing, notes: unique(notes), usedTarget };
}

function clipOf(models: EngineModels, name: string): EngineClip {
  const clip = models.clips.find((c) => c.name === name);
  if (clip) return clip;
  throw new NadaError(
    'model.missing_clip',
    `CLIP model "${name}" is not part of this model (have ${models.clips.map((c) => c.name).join(', ')})`,
    { name },
  );
}

/** `routePrompt`, with a `routing.no_encoder` message that says which languages are served. */
function route(
  texts: { source: string; target: string },
  clips: EngineClip[],
  encoders: TextEncoder[],
): RoutingRecord {
  try {
    return routePrompt({
      target: texts.target,
      source: texts.source,
      models: clips.map((c) => ({ space: c.name, dim: c.model.config.embedDim })),
      encoders,
      normalise: { maxChars: ENGINE_MAX_PROMPT_CHARS },
    });
  } catch (err) {
    if (!isNadaError(err, 'routing.no_encoder')) throw err;
    const record = (err.context as { record: RoutingRecord }).record;
    const lang = languageName(record.target.language);
    const message =
      `no text encoder here reads ${lang} ("${record.target.text}"): ${servedLanguages(encoders)}. ` +
      'Write the prompt in one of those, or ask the operator to add a multilingual encoder';
    throw new NadaError('routing.no_encoder', message, { record });
  }
}

/**
 * The languages the loaded encoders read, in words: "CLIP's own encoders read English
 * (ViT-B/32); tiny-xlmr reads any language into ViT-B/32".
 */
export function servedLanguages(encoders: TextEncoder[]): string {
  const own = encoders.filter((e) => e.kind === 'clip').map((e) => e.space);
  const parts = [`CLIP's own encoders read English (${own.join(', ')})`];
  for (const e of encoders.filter((x) => x.kind === 'multilingual')) {
    const langs = e.languages === 'any' ? 'any language' : e.languages.map(nameOf).join(', ');
    parts.push(`${e.id} reads ${langs} into ${e.space}`);
  }
  if (parts.length === 1) parts.push('no multilingual encoder is loaded');
  return parts.join('; ');
}

const NAMES = new Intl.DisplayNames(['en'], { type: 'language' });

function nameOf(code: string): string {
  try {
    return NAMES.of(code) ?? code;
  } catch {
    return code;
  }
}

/**
 * Loss weights of the kept models, scaled so they add up to what all the run's weights added
 * up to (one of two equal models dropped: the other's weight doubles). Kept models whose
 * weights are all zero share the total equally.
 */
export function sharedWeights(
  all: { name: string; weight: number }[],
  kept: string[],
): Map<string, number> {
  const total = all.reduce((s, m) => s + m.weight, 0);
  const keptModels = all.filter((m) => kept.includes(m.name));
  const keptTotal = keptModels.reduce((s, m) => s + m.weight, 0);
  const out = new Map(all.map((m) => [m.name, 0]));
  for (const m of keptModels) {
    const w = keptTotal > 0 ? (m.weight * total) / keptTotal : total / keptModels.length;
    out.set(m.name, keptModels.length === all.length ? m.weight : w);
  }
  return out;
}

function droppedNote(r: SpaceRoute, kept: string[]): RunNote {
  return {
    code: 'routing.dropped',
    message: `${r.space} is left out of this run: ${r.reason}; its loss weight goes to ${kept.join(', ')}`,
  };
}

/**
 * One CLIP model's loss term from the encoder the routing chose for it. Either way the texts
 * go through the 79 templates, so both are first shortened to that encoder's window.
 */
async function encodeRoute(
  r: SpaceRoute,
  clip: EngineClip,
  weight: number,
  models: EngineModels,
  encoders: TextEncoder[],
  notes: RunNote[],
): Promise<ClipLossTerm> {
  const multi =
    r.via === 'multilingual'
      ? encoders.find((e) => e.id === r.encoderId && e.space === r.space)!
      : undefined;

  // Shorten to the window (CLIP's 77 tokens, or the multilingual encoder's), with a note.
  const window = multi
    ? encoderWindow(multi)
    : clipWindow(models.tokenizer, clip.model.config.contextLength);
  const fitted = fitTexts(r.texts!.source, r.texts!.target, window);
  notes.push(...fitted.notes.map(({ code, message }) => ({ code, message })));
  r.texts = { source: fitted.source, target: fitted.target };

  // Encode: the multilingual encoder, or CLIP's own through the official computation.
  if (multi) return multilingualTerm(multi, fitted, clip, weight);
  const spec = [{ name: clip.name, weight }];
  return buildClipTerms([clip], spec, fitted, models.tokenizer)[0];
}

function encoderWindow(enc: TextEncoder): TokenWindow {
  return { name: enc.id, maxTokens: enc.maxTokens, count: (text) => enc.countTokens(text) };
}

/**
 * The loss term of a multilingual encoder. Departure from NADA, which only ever uses CLIP's
 * text encoder: the same 79 templates are filled with the class text (in the person's
 * language) and encoded by the multilingual encoder, as these encoders were trained on
 * captions, so a captioned sentence is what they read best; the direction, the raw target and
 * "a <target>" are then computed exactly as for CLIP's own features.
 */
async function multilingualTerm(
  enc: TextEncoder,
  texts: { source: string; target: string },
  clip: EngineClip,
  weight: number,
): Promise<ClipLossTerm> {
  const source = await enc.encode(fillTemplates(texts.source)); // 79 × [dim]
  const target = await enc.encode(fillTemplates(texts.target)); // 79 × [dim]
  const [plain, withA] = await enc.encode([texts.target, `a ${texts.target}`]);
  const features = (rows: Float32Array[]) =>
    tf.tidy(() => l2Normalize(tf.stack(rows.map((v) => tf.tensor1d(v))) as tf.Tensor2D));
  const [src, tgt] = [features(source), features(target)]; // [79, dim] each
  try {
    return {
      name: clip.name,
      weight,
      model: clip.model,
      direction: directionFromFeatures(src, tgt), // [1, dim]
      targetFeatures: features([plain]), // [1, dim]
      aTargetFeatures: features([withA]), // [1, dim]
    };
  } finally {
    tf.dispose([src, tgt]);
  }
}

function runRouting(
  models: EngineModels,
  record: RoutingRecord,
  weights: Map<string, number>,
  terms: ClipLossTerm[],
): RunRouting {
  const spaces = record.routes.map((r): SpaceReading => {
    const term = terms.find((t) => t.name === r.space);
    const index = models.understoodAs?.find((i) => i.space === r.space);
    const nearest =
      term && index
        ? index.nearest(term.targetFeatures.dataSync() as Float32Array, UNDERSTOOD_K)
        : [];
    return {
      space: r.space,
      status: r.status,
      via: r.via,
      encoderId: r.encoderId,
      texts: r.texts,
      weight: weights.get(r.space) ?? 0,
      reason: r.reason,
      warnings: r.warnings,
      understoodAs: nearest.map((e) => ({ phrase: e.phrase, similarity: round(e.similarity) })),
    };
  });
  return {
    model: models.id,
    target: reading(record.target),
    source: reading(record.source),
    spaces,
  };
}

function reading(a: TextAnalysis): TextReading {
  return {
    original: a.original,
    text: a.text,
    changes: a.changes,
    language: { ...a.language, name: languageName(a.language) },
    scripts: scriptsOf(a.scripts),
  };
}

function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}

function unique(notes: RunNote[]): RunNote[] {
  return notes.filter((n, i) => notes.findIndex((m) => m.message === n.message) === i);
}
