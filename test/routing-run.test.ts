import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as tf from '@tensorflow/tfjs-core';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { isNadaError } from '../src/errors.ts';
import { selectBackend } from '../src/models/backend/index.ts';
import { resolveModel } from '../src/models/store.ts';
import { readCheckpoint } from '../src/nada/checkpoint.ts';
import { disposeClipTerms } from '../src/nada/clip-terms.ts';
import { DEMO_SETTINGS, runAdaptation } from '../src/nada/engine.ts';
import { disposeEngineModels, loadEngineModels, type EngineModels } from '../src/nada/models.ts';
import { routeRunTexts, sharedWeights } from '../src/nada/text-routing.ts';
import type { AdaptOptions, EngineEvent, RunRouting } from '../src/nada/types.ts';
import { fillTemplates } from '../src/nada/templates.ts';
import { openUnderstoodAs } from '../src/nada/understood.ts';
import type { TextEncoder } from '../src/text/encoder.ts';
import type { MclipEncoder } from '../src/text/mclip-encoder.ts';

// Runs of the bundled demo model (tiny CLIP ViT-B/32 and the tiny XLM-R encoder into its
// space), and of two models made from the same files: one with a second CLIP model that no
// multilingual encoder serves, one with no multilingual encoder at all.

const logger = pino({ level: 'silent' });
const root = mkdtempSync(join(tmpdir(), 'nadabot-routing-run-'));
const modelsDir = join(root, 'models');
const demo = resolveModel('demo');
let models: EngineModels;

/** A model folder beside the demo: its files linked, its model.json changed by `edit`. */
function demoVariant(id: string, edit: (info: Record<string, unknown>) => void): void {
  const dir = join(modelsDir, id);
  mkdirSync(dir, { recursive: true });
  for (const file of ['stylegan2.safetensors', 'clip-vit-b-32.safetensors', 'tiny-xlmr-b32']) {
    symlinkSync(join(demo.dir, file), join(dir, file));
  }
  const info = JSON.parse(readFileSync(join(demo.dir, 'model.json'), 'utf8'));
  edit(info);
  writeFileSync(join(dir, 'model.json'), JSON.stringify({ ...info, id }));
}

beforeAll(async () => {
  await selectBackend();
  models = await loadEngineModels('demo');
  await openUnderstoodAs(models, { cacheDir: join(root, 'cache') });
  demoVariant('two-clips', (info) => {
    const [b32] = info.clip as Record<string, unknown>[];
    info.clip = [b32, { ...b32, name: 'ViT-B/16' }];
  });
  demoVariant('english-only', (info) => delete info.textEncoders);
});

afterAll(() => {
  disposeEngineModels(models);
  rmSync(root, { recursive: true, force: true });
});

function options(runId: string, target: string, over: Partial<AdaptOptions> = {}): AdaptOptions {
  return {
    ...DEMO_SETTINGS,
    target,
    source: 'photo',
    steps: 1,
    seed: 5,
    outputInterval: 1,
    runDir: join(root, 'runs', runId),
    runId,
    gridCellPx: 32,
    ...over,
  };
}

async function run(o: AdaptOptions, with_: EngineModels | undefined = models) {
  const events: EngineEvent[] = [];
  const result = await runAdaptation(o, {
    models: with_,
    logger,
    onEvent: (e) => void events.push(e),
  });
  return { result, events };
}

function understood(events: EngineEvent[]): RunRouting {
  const all = events.filter((e) => e.type === 'understood');
  expect(all).toHaveLength(1);
  return (all[0] as Extract<EngineEvent, { type: 'understood' }>).routing;
}

describe('GIVEN the demo model with its bundled multilingual encoder', () => {
  it('WHEN the prompt is Japanese THEN ViT-B/32 reads it through tiny-xlmr, in the event, checkpoint and run.json', async () => {
    const runDir = join(root, 'runs', 'ja');
    mkdirSync(runDir, { recursive: true });
    writeFileSync(join(runDir, 'run.json'), JSON.stringify({ requestedBy: 'u1' }));

    const { result, events } = await run(options('ja', '日本人女性'));

    const routing = understood(events);
    expect(routing.model).toBe('demo');
    expect(routing.target.language.english).toBe('no');
    expect(routing.target.scripts).toEqual(['Han']);
    const [b32] = routing.spaces;
    expect(b32).toMatchObject({
      space: 'ViT-B/32',
      status: 'encoded',
      via: 'multilingual',
      encoderId: 'tiny-xlmr',
      texts: { target: '日本人女性', source: 'photo' },
      weight: 1,
    });
    // five English entries, best first, similarities of unit vectors
    expect(b32.understoodAs).toHaveLength(5);
    const sims = b32.understoodAs.map((e) => e.similarity);
    expect([...sims].sort((a, b) => b - a)).toEqual(sims);
    for (const s of sims) expect(Math.abs(s)).toBeLessThanOrEqual(1);
    // the event comes right after `started`, before the first step
    const types = events.map((e) => e.type);
    expect(types.indexOf('understood')).toBe(types.indexOf('started') + 1);
    expect(types.indexOf('understood')).toBeLessThan(types.indexOf('step'));

    expect(readCheckpoint(result.checkpoint!).meta.routing).toEqual(routing);
    const runJson = JSON.parse(readFileSync(join(runDir, 'run.json'), 'utf8'));
    expect(runJson).toMatchObject({
      requestedBy: 'u1',
      runId: 'ja',
      source: 'photo',
      target: '日本人女性',
      baseModel: 'demo',
      routing,
    });
  });

  it('WHEN a run folder has no run.json THEN the run writes one with its texts and routing', async () => {
    const { events } = await run(options('fresh', 'bronze statue'));
    const runJson = JSON.parse(readFileSync(join(root, 'runs', 'fresh', 'run.json'), 'utf8'));
    expect(runJson).toMatchObject({
      runId: 'fresh',
      source: 'photo',
      target: 'bronze statue',
      routing: understood(events),
    });
  });

  it("WHEN the prompt is English THEN ViT-B/32 reads it with CLIP's own encoder, and the list finds the prompt itself", async () => {
    const { result, events } = await run(options('en', 'bronze statue'));
    const routing = understood(events);
    expect(routing.spaces[0]).toMatchObject({
      via: 'clip',
      encoderId: 'clip:ViT-B/32',
      texts: { target: 'bronze statue', source: 'photo' },
    });
    // "bronze statue" is on the list: embedded by the same encoder, it is its own nearest entry
    expect(routing.spaces[0].understoodAs[0]).toEqual({ phrase: 'bronze statue', similarity: 1 });
    expect(readCheckpoint(result.checkpoint!).meta.routing?.spaces[0].encoderId).toBe(
      'clip:ViT-B/32',
    );
  });

  it('WHEN texts are routed THEN the multilingual terms hold unit vectors and no tensor is left behind', async () => {
    const before = tf.memory().numTensors;
    const routed = await routeRunTexts(
      { source: 'photo', target: 'ブロンズ像', clipModels: [{ name: 'ViT-B/32', weight: 1 }] },
      models,
    );
    const [term] = routed.terms;
    for (const t of [term.direction, term.targetFeatures, term.aTargetFeatures]) {
      expect(t.shape).toEqual([1, 48]);
      const norm = Math.hypot(...t.dataSync());
      expect(norm).toBeCloseTo(1, 5);
    }
    disposeClipTerms(routed.terms);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('GIVEN a model whose second CLIP model no encoder reads in Japanese', () => {
  it('THEN ViT-B/16 is dropped with a note, its weight goes to ViT-B/32, and the run trains', async () => {
    const two = await loadEngineModels('two-clips', modelsDir);
    try {
      const { result, events } = await run(
        options('two', '日本人女性', { model: 'two-clips' }),
        two,
      );
      const note = events.find((e) => e.type === 'note' && e.code === 'routing.dropped');
      expect(note).toMatchObject({ message: expect.stringMatching(/^ViT-B\/16 is left out/) });
      expect(note && 'message' in note && note.message).toMatch(/weight goes to ViT-B\/32/);

      const routing = understood(events);
      expect(routing.spaces.map((s) => [s.space, s.status, s.weight])).toEqual([
        ['ViT-B/32', 'encoded', 2],
        ['ViT-B/16', 'dropped', 0],
      ]);
      expect(result.steps).toBe(1);
      expect(Number.isFinite(result.losses[0])).toBe(true);
    } finally {
      disposeEngineModels(two);
    }
  });

  it('THEN an English prompt keeps both models at their own weights', async () => {
    const two = await loadEngineModels('two-clips', modelsDir);
    try {
      const routed = await routeRunTexts(
        { source: 'photo', target: 'sketch', clipModels: two.clips },
        two,
      );
      expect(routed.terms.map((t) => [t.name, t.weight])).toEqual([
        ['ViT-B/32', 1],
        ['ViT-B/16', 1],
      ]);
      expect(routed.notes).toEqual([]);
      disposeClipTerms(routed.terms);
    } finally {
      disposeEngineModels(two);
    }
  });
});

describe('GIVEN a model without any multilingual encoder', () => {
  it('WHEN the prompt is Japanese THEN routing.no_encoder before any step, naming the languages served', async () => {
    const english = await loadEngineModels('english-only', modelsDir);
    try {
      const events: EngineEvent[] = [];
      const o = options('none', '日本人女性', { model: 'english-only' });
      await expect(
        runAdaptation(o, { models: english, logger, onEvent: (e) => void events.push(e) }),
      ).rejects.toSatisfy((err) => isNadaError(err, 'routing.no_encoder'));
      expect(events.map((e) => e.type)).toEqual(['failed']);
      const failed = events[0] as Extract<EngineEvent, { type: 'failed' }>;
      expect(failed.message).toMatch(/reads Chinese or Japanese/);
      expect(failed.message).toMatch(/CLIP's own encoders read English \(ViT-B\/32\)/);
      expect(failed.message).toMatch(/no multilingual encoder is loaded/);
    } finally {
      disposeEngineModels(english);
    }
  });

  it('WHEN the operator lists an encoder in NADABOT_TEXT_ENCODERS THEN the prompt is routed to it', async () => {
    const list = join(root, 'encoders.json');
    const entry = { id: 'listed-xlmr', dir: demo.textEncoders[0].dir, space: 'ViT-B/32' };
    writeFileSync(list, JSON.stringify([{ ...entry, spaceDim: 48 }]));
    const english = await loadEngineModels('english-only', modelsDir, { textEncodersFile: list });
    try {
      const routed = await routeRunTexts(
        { source: 'photo', target: '日本人女性', clipModels: english.clips },
        english,
      );
      expect(routed.routing.spaces[0]).toMatchObject({
        via: 'multilingual',
        encoderId: 'listed-xlmr',
      });
      disposeClipTerms(routed.terms);
    } finally {
      disposeEngineModels(english);
    }

    // a bad entry stops the load, naming the variable
    writeFileSync(list, JSON.stringify([{ ...entry, spaceDim: -1 }]));
    await expect(
      loadEngineModels('english-only', modelsDir, { textEncodersFile: list }),
    ).rejects.toThrow(/^NADABOT_TEXT_ENCODERS entry 0 .* is not valid \(spaceDim/);
  });
});

describe('GIVEN a Japanese prompt longer than the multilingual encoder takes', () => {
  // 44 characters: inside the longest template it is 74 tokens to the demo tiny-xlmr, whose
  // window is 64 (66 learned positions less the two XLM-R reserves). The bug it pins: the
  // multilingual path sent the 79 filled templates unshortened and failed with text.too_long,
  // quoting "a photo of the hard to see …" back to the person.
  const long =
    '長い黒髪と大きな瞳を持ち柔らかな光の中で優しく微笑む日本人女性の油絵の肖像画と金色の額縁';

  const xlmr = () => models.multilingual![0] as MclipEncoder;
  const tokens = (text: string) => xlmr().tokenizer.tokenize(text).length;

  it('WHEN routed to tiny-xlmr THEN it is cut to fit every template, with a note naming the encoder', async () => {
    expect(xlmr().maxTokens).toBe(64);
    expect(Math.max(...fillTemplates(long).map(tokens))).toBeGreaterThan(64);

    const routed = await routeRunTexts(
      { source: 'photo', target: long, clipModels: [{ name: 'ViT-B/32', weight: 1 }] },
      models,
    );
    disposeClipTerms(routed.terms);

    const used = routed.usedTarget;
    expect(used.length).toBeLessThan(long.length);
    expect(long.startsWith(used)).toBe(true);
    for (const s of fillTemplates(used)) expect(tokens(s)).toBeLessThanOrEqual(64);
    expect(routed.routing.spaces[0].texts).toEqual({ target: used, source: 'photo' });
    expect(routed.notes).toEqual([
      {
        code: 'prompt.shortened',
        message: expect.stringMatching(/tiny-xlmr's 64 tokens.*trained on "/),
      },
    ]);
  });

  it('WHEN the run trains THEN the note reaches the person and the run finishes', async () => {
    const { events } = await run(options('ja-long', long));
    const note = events.find((e) => e.type === 'note');
    expect(note).toMatchObject({ code: 'prompt.shortened' });
    expect(events.at(-1)?.type).toBe('finished');
  });

  it('WHEN the encoder window is smaller than the templates alone THEN encoder.window_too_small, quoting no template', async () => {
    // the same encoder told it reads 20 tokens: the longest template around one kanji is 36
    const small = Object.create(xlmr(), { maxTokens: { value: 20 } }) as TextEncoder;
    const narrow = { ...models, multilingual: [small] };
    const err = await routeRunTexts(
      { source: 'photo', target: '日本人女性', clipModels: [{ name: 'ViT-B/32', weight: 1 }] },
      narrow,
    ).then(
      () => expect.unreachable('should have refused'),
      (e: unknown) => e,
    );
    expect(isNadaError(err, 'encoder.window_too_small')).toBe(true);
    const message = (err as Error).message;
    expect(message).toMatch(/tiny-xlmr reads at most 20 tokens/);
    expect(message).not.toMatch(/a photo of|hard to see/);
  });
});

describe('sharedWeights', () => {
  it('GIVEN weights 1 and 0.5 WHEN the first is dropped THEN the second carries the total 1.5', () => {
    const all = [
      { name: 'ViT-B/32', weight: 1 },
      { name: 'ViT-B/16', weight: 0.5 },
    ];
    expect([...sharedWeights(all, ['ViT-B/16'])]).toEqual([
      ['ViT-B/32', 0],
      ['ViT-B/16', 1.5],
    ]);
    // official default: ViT-B/16 at weight 0; kept alone it takes the whole weight
    const official = [
      { name: 'ViT-B/32', weight: 1 },
      { name: 'ViT-B/16', weight: 0 },
    ];
    expect(sharedWeights(official, ['ViT-B/16']).get('ViT-B/16')).toBe(1);
  });
});
