import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { isNadaError } from '../src/errors.ts';
import { modelsDir, resolveModel } from '../src/models/store.ts';
import { readSafetensors } from '../src/models/weights/safetensors.ts';
import { goldenPath } from './helpers/golden.ts';

const root = mkdtempSync(join(tmpdir(), 'store-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (err) {
    return isNadaError(err) ? err.code : 'not a NadaError';
  }
  return undefined;
}

describe('model store', () => {
  it('resolves the bundled demo model to the tiny golden weights', () => {
    const demo = resolveModel('demo', join(root, 'nothing-here'));
    expect(demo.info.source).toBe('photo');
    expect(demo.info.generator.config.size).toBe(64);
    expect(demo.clip.map((c) => [c.name, c.weight])).toEqual([['ViT-B/32', 1]]);
    expect(demo.clip[0].config.visionHeads).toBe(4);
    // The bundled files are the golden tiny models, byte for byte.
    const bundled = readFileSync(demo.generatorPath);
    expect(bundled.equals(readFileSync(goldenPath('stylegan2/tiny-ffhq.safetensors')))).toBe(true);
    expect(readSafetensors(demo.clip[0].path).tensors.get('visual.proj')?.shape).toEqual([64, 48]);
  });

  it('reads NADABOT_MODELS_DIR, else ~/.cache/nadabot/models', () => {
    expect(modelsDir({ NADABOT_MODELS_DIR: '/srv/models' })).toBe('/srv/models');
    expect(modelsDir({})).toBe(join(homedir(), '.cache', 'nadabot', 'models'));
  });

  it('GIVEN an installed model folder THEN resolves its files', () => {
    const dir = join(root, 'ok', 'ffhq');
    mkdirSync(dir, { recursive: true });
    const demo = resolveModel('demo');
    copyFileSync(join(demo.dir, 'model.json'), join(dir, 'model.json'));
    copyFileSync(demo.generatorPath, join(dir, 'stylegan2.safetensors'));
    copyFileSync(demo.clip[0].path, join(dir, 'clip-vit-b-32.safetensors'));
    const ffhq = resolveModel('ffhq', join(root, 'ok'));
    expect(ffhq.generatorPath).toBe(join(dir, 'stylegan2.safetensors'));
  });

  it('GIVEN a model that is not installed THEN model.missing says how to get it', () => {
    expect(codeOf(() => resolveModel('ffhq', join(root, 'empty')))).toBe('model.missing');
    expect(() => resolveModel('ffhq', join(root, 'empty'))).toThrow(/nadabot models pull ffhq/);
  });

  it('GIVEN model.json without its weight file THEN model.missing names the file', () => {
    const dir = join(root, 'partial', 'ffhq');
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(resolveModel('demo').dir, 'model.json'), join(dir, 'model.json'));
    expect(() => resolveModel('ffhq', join(root, 'partial'))).toThrow(
      /stylegan2\.safetensors is missing/,
    );
  });

  it('GIVEN a damaged model.json THEN model.corrupt', () => {
    const dir = join(root, 'bad', 'ffhq');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'model.json'), '{"id": "ffhq"');
    expect(codeOf(() => resolveModel('ffhq', join(root, 'bad')))).toBe('model.corrupt');
    writeFileSync(join(dir, 'model.json'), '{"id": "ffhq"}');
    expect(codeOf(() => resolveModel('ffhq', join(root, 'bad')))).toBe('model.corrupt');
  });

  it('refuses ids that could leave the models folder', () => {
    expect(codeOf(() => resolveModel('../etc'))).toBe('model.bad_id');
  });
});
