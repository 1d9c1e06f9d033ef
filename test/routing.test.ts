import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { selectBackend } from '../src/models/backend/index.ts';
import { isNadaError } from '../src/errors.ts';
import { ClipModel, ClipTokenizer } from '../src/models/clip/index.ts';
import {
  ClipTextEncoder,
  MclipEncoder,
  encodeRouted,
  explainRouting,
  routePrompt,
  writeTinyEncoder,
  type RouteRequest,
  type TextEncoder,
} from '../src/text/index.ts';
import { FORWARD, expectClose } from './helpers/golden.ts';
import { tinyClipConfig } from './helpers/tiny-clip.ts';

// Tiny CLIPs of the real text architecture (77 tokens, full BPE vocabulary), 24-d spaces.
const TINY_CLIP = tinyClipConfig(24);
const MODELS = [
  { space: 'ViT-B/32', dim: 24 },
  { space: 'ViT-B/16', dim: 24 },
];
const root = mkdtempSync(join(tmpdir(), 'nadabot-routing-'));
let clipB32: ClipTextEncoder;
let clipB16: ClipTextEncoder;
let xlmr: MclipEncoder;
let uncased: MclipEncoder;
let encoders: TextEncoder[];

beforeAll(async () => {
  await selectBackend();
  const tok = ClipTokenizer.load();
  clipB32 = new ClipTextEncoder(ClipModel.random(TINY_CLIP, 1), tok, {
    space: 'ViT-B/32',
    weightsHash: 'b32',
    ownsModel: true,
  });
  clipB16 = new ClipTextEncoder(ClipModel.random(TINY_CLIP, 2), tok, {
    space: 'ViT-B/16',
    weightsHash: 'b16',
    ownsModel: true,
  });
  const pieces = [
    '▁',
    '▁photo',
    '▁ブロンズ',
    '像',
    '日',
    '本',
    '人',
    '女',
    '性',
    'ت',
    'م',
    'ث',
    'ا',
    'ل',
  ];
  writeTinyEncoder(join(root, 'xlmr'), {
    architecture: 'xlm-roberta',
    layout: 'mclip',
    pieces,
    outDim: 24,
    seed: 5,
  }).dispose();
  xlmr = await MclipEncoder.load(join(root, 'xlmr'), {
    space: 'ViT-B/32',
    spaceDim: 24,
    id: 'tiny-xlmr-b32',
  });
  const bert = ['photo', 'ハ', '##ン', '##タ'];
  writeTinyEncoder(join(root, 'bert'), {
    architecture: 'distilbert',
    layout: 'sentence-transformers',
    pieces: bert,
    outDim: 24,
    seed: 6,
    uncased: true,
  }).dispose();
  uncased = await MclipEncoder.load(join(root, 'bert'), {
    space: 'ViT-B/32',
    spaceDim: 24,
    id: 'tiny-uncased-b32',
  });
  encoders = [clipB32, clipB16, xlmr];
});

afterAll(() => {
  [clipB32, clipB16, xlmr, uncased].forEach((e) => e.dispose());
  rmSync(root, { recursive: true, force: true });
});

const route = (target: string, extra: Partial<RouteRequest> = {}) =>
  routePrompt({ target, source: 'photo', models: MODELS, encoders, ...extra });

function errorOf(fn: () => unknown) {
  try {
    fn();
  } catch (err) {
    if (isNadaError(err)) return err;
    throw err;
  }
  throw new Error('expected a NadaError');
}

describe('GIVEN an English prompt', () => {
  it("THEN both CLIP models use CLIP's own text encoder", () => {
    const r = route('bronze statue');
    expect(r.routes.map((x) => [x.space, x.via, x.encoderId])).toEqual([
      ['ViT-B/32', 'clip', 'clip:ViT-B/32'],
      ['ViT-B/16', 'clip', 'clip:ViT-B/16'],
    ]);
    expect(r.kept).toEqual(['ViT-B/32', 'ViT-B/16']);
    expect(r.routes[0].reason).toBe("English: CLIP's own text encoder");
  });

  it("THEN the vectors are CLIP's own, and encoding leaves no tensors behind", async () => {
    const before = tf.memory().numTensors;
    const [b32, b16] = await encodeRouted(route('bronze statue'), encoders);
    expect(tf.memory().numTensors).toBe(before);
    const [want32] = await clipB32.encode(['bronze statue']);
    const [want16] = await clipB16.encode(['photo']);
    expectClose(b32.target, want32, FORWARD, 'ViT-B/32 target via CLIP');
    expectClose(b16.source, want16, FORWARD, 'ViT-B/16 source via CLIP');
  });
});

describe('GIVEN a Japanese prompt (ブロンズ像)', () => {
  it('THEN ViT-B/32 goes through the multilingual encoder, source text included, and ViT-B/16 is dropped', () => {
    const r = route('ブロンズ像');
    expect(r.target.language.code).toBe('ja');
    const [b32, b16] = r.routes;
    expect(b32).toMatchObject({
      status: 'encoded',
      via: 'multilingual',
      encoderId: 'tiny-xlmr-b32',
    });
    expect(b32.texts).toEqual({ target: 'ブロンズ像', source: 'photo' });
    expect(b32.reason).toContain('same encoder');
    expect(b16.status).toBe('dropped');
    expect(b16.reason).toContain('no multilingual CLIP encoder exists for it');
    expect(r.dropped).toEqual(['ViT-B/16']);
  });

  it("THEN an operator's English rendering keeps ViT-B/16 on CLIP's own encoder", () => {
    const r = route('ブロンズ像', { english: { target: 'ｂｒｏｎｚｅ statue' } });
    expect(r.routes[1]).toMatchObject({
      status: 'encoded',
      via: 'english-rendering',
      encoderId: 'clip:ViT-B/16',
      texts: { target: 'bronze statue', source: 'photo' },
    });
  });

  it('THEN the encoded vectors come from the routed encoder for both texts', async () => {
    const r = route('ブロンズ像');
    const before = tf.memory().numTensors;
    const [b32] = await encodeRouted(r, encoders);
    expect(tf.memory().numTensors).toBe(before);
    const [target, source] = await xlmr.encode(['ブロンズ像', 'photo']);
    expectClose(b32.target, target, FORWARD, 'routed target');
    expectClose(b32.source, source, FORWARD, 'routed source via the multilingual encoder');
    const [clipPhoto] = await clipB32.encode(['photo']);
    expect(Math.max(...b32.source.map((v, i) => Math.abs(v - clipPhoto[i])))).toBeGreaterThan(1e-3);
  });
});

describe('GIVEN a multilingual encoder that lists its languages', () => {
  it('THEN it takes the languages it lists (and English), and not the others', async () => {
    const dir = join(root, 'xlmr');
    const jaOnly = await MclipEncoder.load(dir, {
      space: 'ViT-B/32',
      spaceDim: 24,
      id: 'ja-only',
      languages: ['ja'],
    });
    const only = { encoders: [jaOnly, clipB32], models: [MODELS[0]] };
    expect(route('ブロンズ像', only).routes[0]).toMatchObject({
      encoderId: 'ja-only',
      texts: { source: 'photo' },
    });
    expect(errorOf(() => route('청동상', only)).code).toBe('routing.no_encoder');
    jaOnly.dispose();
  });
});

describe('GIVEN a run whose only CLIP model has no encoder for the language', () => {
  it('THEN routing fails with routing.no_encoder and the record in its context', () => {
    const err = errorOf(() => route('청동상', { models: [MODELS[1]] }));
    expect(err.code).toBe('routing.no_encoder');
    expect(err.message).toContain('Korean');
    expect((err.context.record as { dropped: string[] }).dropped).toEqual(['ViT-B/16']);
  });
});

describe('GIVEN a source text in another language', () => {
  it('THEN the pair is routed together: a multilingual encoder even for an English target', () => {
    const r = route('sketch', { source: '写真' });
    expect(r.routes[0]).toMatchObject({
      via: 'multilingual',
      texts: { target: 'sketch', source: '写真' },
    });
    expect(r.routes[1].status).toBe('dropped');
    const kept = route('sketch', { source: '写真', english: { source: 'photo' } });
    expect(kept.routes[1]).toMatchObject({
      via: 'english-rendering',
      texts: { target: 'sketch', source: 'photo' },
    });
  });
});

describe('GIVEN odd input', () => {
  it('THEN right-to-left Arabic with a bidi override is cleaned and routed', () => {
    const r = route('\u202Bتمثال برونزي\u202C');
    expect(r.target.text).toBe('تمثال برونزي');
    expect(r.target.changes[0]).toMatch(/bidi/);
    expect(r.routes[0].via).toBe('multilingual');
  });

  it("THEN emoji only has no words: CLIP's own encoders (byte-level BPE) take it", () => {
    const r = route('🗿🗿🗿');
    expect(r.target.language.code).toBe('zxx');
    expect(r.routes.map((x) => x.via)).toEqual(['clip', 'clip']);
  });

  it('THEN mixed scripts are not English', () => {
    const r = route('a 日本人 woman');
    expect(r.target.scripts.mixed).toBe(true);
    expect(r.routes[0].via).toBe('multilingual');
  });

  it("THEN a Latin name no detector places keeps ViT-B/16 on CLIP's encoder, with a warning", () => {
    const r = route('Mona Lisa');
    expect(r.target.language).toMatchObject({ code: 'und', english: 'unsure' });
    expect(r.routes.map((x) => x.via)).toEqual(['multilingual', 'clip']);
    expect(r.routes[1].warnings[0]).toMatch(/language not recognised/);
  });

  it('THEN a Latin word with no English in it and a foreign hint is not English', () => {
    for (const prompt of ['Skizze', 'estatua de bronce', 'Frau mit Hut']) {
      const r = route(prompt);
      expect(r.target.language.english, prompt).toBe('no');
      expect(
        r.routes.map((x) => x.status),
        prompt,
      ).toEqual(['encoded', 'dropped']);
    }
  });

  it('THEN 10,000 characters, an empty prompt and a lone surrogate give clear errors or clean text', () => {
    expect(errorOf(() => route('x'.repeat(10_000))).code).toBe('prompt.too_long');
    expect(errorOf(() => route('\u200B \u2066')).code).toBe('prompt.empty');
    expect(errorOf(() => route('bronze', { source: '' })).message).toContain(
      'source text is empty',
    );
    expect(route('bronze\uD800 statue').target.text).toBe('bronze statue');
    const refuse = { normalise: { loneSurrogates: 'refuse' as const } };
    expect(errorOf(() => route('bronze\uD800', refuse)).code).toBe('prompt.invalid_text');
  });
});

describe('GIVEN an encoder whose tokenizer strips accents and voicing marks', () => {
  it('THEN the routing record warns that パンダ reaches it as ハンタ', () => {
    const r = route('パンダ', { encoders: [uncased, clipB32] });
    expect(r.routes[0].encoderId).toBe('tiny-uncased-b32');
    expect(r.routes[0].warnings).toEqual([
      'tiny-uncased-b32 strips accents and voicing marks: "パンダ" reaches it as "ハンタ" (パ→ハ, ダ→タ)',
    ]);
  });
});

describe('GIVEN an encoder of the wrong size for the run', () => {
  it('THEN it is not used and the record says why', () => {
    const models = [{ space: 'ViT-B/32', dim: 512 }, MODELS[1]];
    const r = route('bronze statue', { models, encoders: [xlmr, clipB16] });
    expect(r.routes[0].status).toBe('dropped');
    expect(r.routes[0].warnings).toEqual([
      'tiny-xlmr-b32 gives 24-d vectors, ViT-B/32 here is 512-d: not used',
    ]);
    expect(r.kept).toEqual(['ViT-B/16']);
  });
});

describe('the routing record', () => {
  it('survives JSON and explains itself in sentences', () => {
    const r = route('ブロンズ像');
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
    const lines = explainRouting(r);
    expect(lines[0]).toMatch(/^ViT-B\/32: tiny-xlmr-b32 — Japanese → tiny-xlmr-b32/);
    expect(lines[1]).toMatch(
      /^ViT-B\/16: dropped — no loaded text encoder reads Japanese for ViT-B\/16/,
    );
  });
});
