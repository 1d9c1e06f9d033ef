/**
 * Prints how nadabot routes prompts in several languages to text encoders, and what each
 * prompt is "understood as", with the models available offline: the bundled demo CLIP
 * (ViT-B/32, 48-d), a random tiny ViT-B/16 CLIP, and the tiny XLM-R / DistilBERT M-CLIP
 * encoders of the golden fixtures (48-d, mapping into the demo ViT-B/32 space).
 *
 *   npx tsx scripts/routing-table.ts
 */
import '@tensorflow/tfjs-backend-cpu';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as tf from '@tensorflow/tfjs-core';

import { isNadaError } from '../src/errors.ts';
import { randomClipTensors } from '../src/models/clip/random-weights.ts';
import { resolveModel } from '../src/models/store.ts';
import { unigramJson, wordPieceJson } from '../src/text/tiny-encoder.ts';
import {
  ClipOnnxTextEncoder,
  MclipEncoder,
  UnderstoodAsIndex,
  explainRouting,
  languageName,
  routePrompt,
  understoodAs,
  type TextEncoder,
} from '../src/text/index.ts';

const PROMPTS = [
  '日本人女性',
  'ブロンズ像',
  '林檎',
  'Skizze',
  '청동상',
  'estatua de bronce',
  '铜像',
  'женщина',
  'bronze statue',
  "peinture à l'huile",
  'Frau mit Hut',
  'تمثال برونزي',
];
const GOLDEN = fileURLToPath(new URL('../test/fixtures/golden/mclip/', import.meta.url));

/** A model folder in the M-CLIP release layout around a golden tiny encoder. */
function goldenFolder(root: string, name: 'xlmr' | 'distilbert'): string {
  const info = JSON.parse(readFileSync(join(GOLDEN, 'info.json'), 'utf8'))[name];
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const config = { ...info.base_config, ...info.mclip_config };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  copyFileSync(join(GOLDEN, `tiny-mclip-${name}.safetensors`), join(dir, 'model.safetensors'));
  // The goldens ship no tokenizer: a small vocabulary of the prompts' characters fills the ids.
  const vocabSize: number = info.base_config.vocab_size;
  const chars = [...new Set(PROMPTS.join('').replace(/\s/g, '') + 'abcdefghijklmnopqrstuvwxyz')];
  const tokenizer =
    name === 'xlmr'
      ? unigramJson(
          ['<s>', '<pad>', '</s>', '<unk>', '▁', ...chars.flatMap((c) => [c, `▁${c}`])].slice(
            0,
            vocabSize,
          ),
        )
      : wordPieceJson(
          [
            '[PAD]',
            '[UNK]',
            '[CLS]',
            '[SEP]',
            '[MASK]',
            ...chars.flatMap((c) => [c, `##${c}`]),
          ].slice(0, vocabSize),
          false,
        );
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  return dir;
}

async function loadEncoders(root: string): Promise<TextEncoder[]> {
  const demo = resolveModel('demo');
  const b32 = demo.clip[0];
  // CLIP's own text encoder through onnxruntime: the same vectors as tfjs, much faster on CPU.
  const clipB32 = await ClipOnnxTextEncoder.load(b32.path, b32.config, 'ViT-B/32');
  // The demo has one CLIP; a random one of the same size stands in for ViT-B/16.
  const b16 = randomClipTensors(b32.config, 16);
  const clipB16 = await ClipOnnxTextEncoder.fromTensors(b16, b32.config, {
    space: 'ViT-B/16',
    weightsHash: 'random-seed-16',
  });
  const opts = { space: 'ViT-B/32', spaceDim: b32.config.embedDim };
  const xlmr = await MclipEncoder.load(goldenFolder(root, 'xlmr'), {
    ...opts,
    id: 'tiny-mclip-xlmr',
  });
  const distil = await MclipEncoder.load(goldenFolder(root, 'distilbert'), {
    ...opts,
    id: 'tiny-mclip-distilbert',
  });
  return [clipB32, clipB16, xlmr, distil];
}

// East Asian wide characters take two terminal columns.
const WIDE =
  /[\u1100-\u115F\u2E80-\uA4CF\uAC00-\uD7A3\uF900-\uFAFF\uFE30-\uFE4F\uFF00-\uFF60\uFFE0-\uFFE6]/u;

function pad(text: string, width: number): string {
  const cols = [...text].reduce((n, ch) => n + (WIDE.test(ch) ? 2 : 1), 0);
  return text + ' '.repeat(Math.max(0, width - cols));
}

function row(cells: string[], widths: number[]): string {
  return cells.map((c, i) => pad(c, widths[i])).join(' | ');
}

async function main(): Promise<void> {
  await tf.setBackend('cpu');
  const root = mkdtempSync(join(tmpdir(), 'nadabot-routing-table-'));
  const encoders = await loadEncoders(root);
  const models = encoders
    .filter((e) => e.kind === 'clip')
    .map((e) => ({ space: e.space, dim: e.dim }));
  console.log('nadabot routing table — tiny offline models');
  console.log(
    'NOTE: these are tiny random-weight models of the real architectures. The routing is what',
  );
  console.log(
    'the real models get; the similarities below carry no meaning. Real semantics need the',
  );
  console.log('released CLIP and Multilingual-CLIP weights (pulled by the operator).\n');
  console.log(`encoders: ${encoders.map((e) => `${e.id} → ${e.space} (${e.dim}-d)`).join(', ')}\n`);

  // Step 1: the routing table.
  const widths = [18, 9, 32, 30, 20];
  console.log(row(['prompt', 'script', 'language', 'ViT-B/32', 'ViT-B/16'], widths));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  const records = [];
  for (const prompt of PROMPTS) {
    const record = routePrompt({ target: prompt, source: 'photo', models, encoders });
    records.push(record);
    const cell = (space: string) => {
      const r = record.routes.find((x) => x.space === space)!;
      return r.status === 'encoded' ? `${r.via}: ${r.encoderId}` : 'dropped';
    };
    const lang = `${record.target.language.code} (${languageName(record.target.language)})`;
    console.log(
      row(
        [prompt, record.target.scripts.dominant, lang, cell('ViT-B/32'), cell('ViT-B/16')],
        widths,
      ),
    );
  }

  // Step 2: the reasons, in words.
  console.log('\nwhy:');
  records.forEach((r) => {
    console.log(`  ${r.target.original}`);
    for (const line of explainRouting(r)) console.log(`    ${line}`);
  });

  // Step 3: what an English rendering and a non-English source text change.
  console.log('\nwith an English rendering, and with a source text in Japanese:');
  const withRendering = routePrompt({
    target: 'ブロンズ像',
    source: 'photo',
    english: { target: 'bronze statue' },
    models,
    encoders,
  });
  const jaSource = routePrompt({ target: 'sketch', source: '写真', models, encoders });
  for (const line of [...explainRouting(withRendering), ...explainRouting(jaSource)]) {
    console.log(`    ${line}`);
  }

  // Step 4: understood-as, per kept space (the list is embedded once per CLIP and cached).
  console.log('\nunderstood as (top 5, cosine; first run embeds the English list and caches it):');
  const clips = encoders.filter((e) => e.kind === 'clip');
  const t0 = Date.now();
  const indexes = await Promise.all(clips.map((c) => UnderstoodAsIndex.open(c)));
  const how = indexes
    .map((i) => `${i.space} ${i.fromCache ? 'from cache' : 'embedded'}`)
    .join(', ');
  console.log(`  (${indexes[0].phrases.length} English entries; ${how}, ${Date.now() - t0} ms)`);
  for (const r of records) {
    for (const u of await understoodAs(r, encoders, indexes, 5)) {
      const list = u.entries.map((e) => `${e.phrase} ${e.similarity.toFixed(2)}`).join(', ');
      console.log(`  ${r.target.original} [${u.space} via ${u.encoderId}]: ${list}`);
    }
  }
  encoders.forEach((e) => e.dispose());
  rmSync(root, { recursive: true, force: true });
}

main().catch((err) => {
  console.error(isNadaError(err) ? `${err.code}: ${err.message}` : err);
  process.exit(1);
});
