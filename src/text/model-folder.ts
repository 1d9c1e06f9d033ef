import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { NadaError } from '../errors.ts';
import type { HeadTensors } from '../models/mclip/index.ts';
import { readSafetensors, type RawTensor } from '../models/weights/safetensors.ts';
import { extractStateDict, parseTorchCheckpoint } from '../models/weights/torch-checkpoint.ts';

type Json = Record<string, unknown>;

/** One entry of sentence-transformers' modules.json. */
interface ModuleEntry {
  type: string;
  path: string;
}

/** A multilingual encoder's files, found in one of the layouts its public release uses. */
export interface EncoderFolder {
  layout: 'mclip' | 'sentence-transformers';
  /** folder holding tokenizer.json */
  tokenizerDir: string;
  /** the transformer's config.json merged with M-CLIP's fields where present */
  config: Json;
  /** the weights file(s) read, for hashing */
  weightFiles: string[];
  transformer: Map<string, RawTensor>;
  head: HeadTensors;
}

/**
 * Reads a model folder: either M-CLIP's (config.json, tokenizer.json, model.safetensors with
 * `transformer.*` + `LinearTransformation.*`) or sentence-transformers' (modules.json naming a
 * Transformer, a mean Pooling and a Dense module, each in its own sub-folder).
 */
export function readEncoderFolder(dir: string): EncoderFolder {
  if (!existsSync(dir)) {
    throw new NadaError(
      'encoder.missing',
      `model folder ${dir} does not exist: pull the model first`,
      {
        dir,
      },
    );
  }
  return existsSync(join(dir, 'modules.json')) ? readSentenceTransformers(dir) : readMclip(dir);
}

function readMclip(dir: string): EncoderFolder {
  const config = readJson(join(dir, 'config.json'));
  const file = weightsFile(dir);
  const tensors = readWeights(file);
  const weight = tensors.get('LinearTransformation.weight');
  if (!weight) {
    throw new NadaError(
      'encoder.head_missing',
      `${file} has no LinearTransformation.weight: not an M-CLIP text encoder ` +
        '(a sentence-transformers folder needs its modules.json)',
      { file },
    );
  }
  const head = { weight, bias: tensors.get('LinearTransformation.bias') };
  return {
    layout: 'mclip',
    tokenizerDir: dir,
    config,
    weightFiles: [file],
    transformer: tensors,
    head,
  };
}

function readSentenceTransformers(dir: string): EncoderFolder {
  const modules = readJson(join(dir, 'modules.json')) as unknown as ModuleEntry[];
  const find = (kind: string) => modules.find((m) => m.type.endsWith(`.${kind}`));
  const [tm, pm, dm] = [find('Transformer'), find('Pooling'), find('Dense')];
  if (!tm || !pm || !dm) {
    throw new NadaError(
      'encoder.layout_unsupported',
      `${dir}/modules.json must list a Transformer, a Pooling and a Dense module ` +
        `(found ${modules.map((m) => m.type).join(', ')})`,
      { dir },
    );
  }
  checkMeanPooling(join(dir, pm.path));
  const tDir = join(dir, tm.path);
  const dDir = join(dir, dm.path);
  const dense = readJson(join(dDir, 'config.json'));
  if (!String(dense.activation_function ?? 'Identity').endsWith('Identity')) {
    throw new NadaError(
      'encoder.layout_unsupported',
      `${dDir}: only an Identity activation is supported`,
      {
        activation: dense.activation_function,
      },
    );
  }
  const [tFile, dFile] = [weightsFile(tDir), weightsFile(dDir)];
  const denseTensors = readWeights(dFile);
  const head = {
    weight: need(denseTensors, 'linear.weight', dFile),
    bias: denseTensors.get('linear.bias'),
  };
  return {
    layout: 'sentence-transformers',
    tokenizerDir: tDir,
    config: readJson(join(tDir, 'config.json')),
    weightFiles: [tFile, dFile],
    transformer: readWeights(tFile),
    head,
  };
}

/**
 * Only the linear head of a folder (for an ONNX graph that stops at the hidden states):
 * M-CLIP's `LinearTransformation.*` in model.safetensors, or sentence-transformers' Dense.
 */
export function readHead(dir: string): { head: HeadTensors; files: string[] } {
  if (!existsSync(join(dir, 'modules.json'))) {
    const file = weightsFile(dir);
    const tensors = readWeights(file);
    const weight = need(tensors, 'LinearTransformation.weight', file);
    return { head: { weight, bias: tensors.get('LinearTransformation.bias') }, files: [file] };
  }
  const modules = readJson(join(dir, 'modules.json')) as unknown as ModuleEntry[];
  const dense = modules.find((m) => String(m.type).endsWith('.Dense'));
  const pooling = modules.find((m) => String(m.type).endsWith('.Pooling'));
  if (!dense || !pooling) {
    throw new NadaError(
      'encoder.layout_unsupported',
      `${dir}/modules.json lacks a Pooling or Dense module`,
      { dir },
    );
  }
  checkMeanPooling(join(dir, pooling.path));
  const file = weightsFile(join(dir, dense.path));
  const tensors = readWeights(file);
  return {
    head: { weight: need(tensors, 'linear.weight', file), bias: tensors.get('linear.bias') },
    files: [file],
  };
}

function checkMeanPooling(dir: string): void {
  const cfg = readJson(join(dir, 'config.json'));
  const others = [
    'cls_token',
    'max_tokens',
    'mean_sqrt_len_tokens',
    'weightedmean_tokens',
    'lasttoken',
  ];
  if (
    cfg.pooling_mode_mean_tokens !== true ||
    others.some((k) => cfg[`pooling_mode_${k}`] === true)
  ) {
    throw new NadaError(
      'encoder.layout_unsupported',
      `${dir}/config.json asks for a pooling other than the mean over tokens; only mean pooling is supported`,
      { dir },
    );
  }
}

// model.safetensors first; the PyTorch files the older releases ship are read without executing code.
const WEIGHT_FILES = ['model.safetensors', 'pytorch_model.bin'];

function weightsFile(dir: string): string {
  const file = WEIGHT_FILES.map((f) => join(dir, f)).find(existsSync);
  if (file) return file;
  throw new NadaError(
    'encoder.weights_missing',
    `${dir} has neither ${WEIGHT_FILES.join(' nor ')}: the model folder is incomplete; pull it again`,
    { dir },
  );
}

/** A weights file as a flat state dict (safetensors, or a PyTorch zip/legacy pickle through the allow-list). */
function readWeights(file: string): Map<string, RawTensor> {
  if (file.endsWith('.safetensors')) return readSafetensors(file).tensors;
  return extractStateDict(parseTorchCheckpoint(readFileSync(file), file), 'state_dict', file);
}

function need(tensors: Map<string, RawTensor>, name: string, file: string): RawTensor {
  const t = tensors.get(name);
  if (!t) throw new NadaError('encoder.weights_missing', `${file} lacks "${name}"`, { file, name });
  return t;
}

/** Parses a JSON file, with a NadaError naming the file when it is missing or broken. */
export function readJson(path: string): Json {
  if (!existsSync(path)) {
    throw new NadaError(
      'encoder.config_missing',
      `${path} does not exist: the model folder is incomplete`,
      {
        path,
      },
    );
  }
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Json;
  } catch (err) {
    throw new NadaError(
      'encoder.config_invalid',
      `${path} is not valid JSON (${(err as Error).message})`,
      {
        path,
      },
    );
  }
}
