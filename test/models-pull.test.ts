import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as tf from '@tensorflow/tfjs-core';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { isNadaError, type NadaError } from '../src/errors.ts';
import { selectBackend } from '../src/models/backend/index.ts';
import { ClipModel } from '../src/models/clip/index.ts';
import { convertGenerator } from '../src/models/convert.ts';
import { pullModel, type PullOptions } from '../src/models/pull.ts';
import { resolveModel } from '../src/models/store.ts';
import { StyleGan2Generator } from '../src/models/stylegan2/index.ts';
import { expectClose, FORWARD, goldenPath, nhwc, golden } from './helpers/golden.ts';

// ---- a local file server that answers like a CDN: Content-Length, Range, ETag ----------------

interface Served {
  body: Uint8Array;
  /** cut the connection after this many bytes, on the first `cutTimes` requests */
  cutAt?: number;
  cutTimes?: number;
}

interface Hit {
  path: string;
  range?: string;
}

const files = new Map<string, Served>();
const hits: Hit[] = [];

function answer(req: IncomingMessage, res: ServerResponse): void {
  const path = req.url ?? '/';
  hits.push({ path, range: req.headers.range });
  const file = files.get(path);
  if (!file) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    return;
  }
  const size = file.body.byteLength;
  const etag = `"${createHash('sha256').update(file.body).digest('hex').slice(0, 16)}"`;
  const from = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
  const headers = { etag, 'accept-ranges': 'bytes', 'content-length': String(size - from) };
  if (from > 0) {
    res.writeHead(206, { ...headers, 'content-range': `bytes ${from}-${size - 1}/${size}` });
  } else {
    res.writeHead(200, headers);
  }
  if (file.cutAt !== undefined && (file.cutTimes ?? 1) > 0) {
    file.cutTimes = (file.cutTimes ?? 1) - 1;
    // half-close after the bytes: the client gets them all, then an early end of stream
    res.write(file.body.subarray(from, file.cutAt), () => res.socket?.end());
    return;
  }
  res.end(file.body.subarray(from));
}

let server: Server;
let base: string;
let root: string;

beforeAll(async () => {
  await selectBackend();
  server = createServer(answer);
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  root = mkdtempSync(join(tmpdir(), 'models-pull-'));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((done) => server.close(done));
  rmSync(root, { recursive: true, force: true });
});

const golden64 = readFileSync(goldenPath('stylegan2/tiny-ffhq.pt'));
const clipHf = readFileSync(goldenPath('clip/tiny-clip-hf.safetensors'));
const clipConfig = readFileSync(goldenPath('clip/hf_config.json'));

beforeEach(() => {
  files.clear();
  hits.length = 0;
  files.set('/gen/tiny-ffhq.pt', { body: golden64 });
  files.set('/clip/model.safetensors', { body: clipHf });
  files.set('/clip/config.json', { body: clipConfig });
});

/** A fresh models folder whose operator catalog lists `tiny`, served by the local server. */
function freshStore(generatorPath = '/gen/tiny-ffhq.pt'): string {
  const dir = mkdtempSync(join(root, 'store-'));
  const tiny = {
    id: 'tiny',
    description: 'the golden tiny models, served locally',
    source: 'photo',
    generator: { fileName: 'tiny-ffhq.pt', size: 64, url: `${base}${generatorPath}` },
    clip: [
      {
        name: 'ViT-B/32',
        weight: 1,
        file: 'clip-vit-b-32.safetensors',
        url: `${base}/clip/model.safetensors`,
        configUrl: `${base}/clip/config.json`,
      },
    ],
  };
  writeFileSync(join(dir, 'catalog.json'), JSON.stringify({ models: [tiny] }));
  return dir;
}

async function pullError(id: string, opts: PullOptions): Promise<NadaError> {
  try {
    await pullModel(id, opts);
  } catch (err) {
    if (isNadaError(err)) return err;
    throw err;
  }
  throw new Error('pull succeeded');
}

/** Nothing installed, staged or half-moved: only the catalog and the downloads folder. */
function expectNothingInstalled(dir: string): void {
  expect(readdirSync(dir).sort()).toEqual(['.downloads', 'catalog.json']);
  expect(() => resolveModel('tiny', dir)).toThrow(/not installed/);
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** sha256 of the golden checkpoint converted here from the file on disk (no download). */
async function convertedGoldenSha256(): Promise<string> {
  const dest = join(mkdtempSync(join(root, 'convert-')), 'stylegan2.safetensors');
  await convertGenerator(goldenPath('stylegan2/tiny-ffhq.pt'), dest, {
    label: `${base}/gen/tiny-ffhq.pt`,
  });
  return sha256(readFileSync(dest));
}

describe('nadabot models pull', () => {
  it('GIVEN the tiny files on a server WHEN pulled THEN the model resolves and renders what the demo renders', async () => {
    const dir = freshStore();
    const files = await pullModel('tiny', { modelsDir: dir });

    // installed in the store layout, with the checksums of the installed files
    expect(resolveModel('tiny', dir).dir).toBe(join(dir, 'tiny'));
    expect(files.info.source).toBe('photo');
    expect(files.info.generator.sha256).toBe(sha256(readFileSync(files.generatorPath)));
    expect(files.info.clip[0].sha256).toBe(sha256(clipHf)); // HF safetensors kept as is
    expect(files.info.clip[0].config.visionHeads).toBe(4); // from the served config.json
    expect(files.info.generator.origin).toBe(`${base}/gen/tiny-ffhq.pt`);
    expect(existsSync(join(dir, '.downloads', 'tiny'))).toBe(false);

    // the converted generator is the demo's, number for number
    const demo = resolveModel('demo');
    const [a, b] = await Promise.all([
      StyleGan2Generator.load(files.generatorPath),
      StyleGan2Generator.load(demo.generatorPath),
    ]);
    const before = tf.memory().numTensors;
    const diff = tf.tidy(() => {
      const z = tf.randomNormal([2, 64], 0, 1, 'float32', 3) as tf.Tensor2D;
      const x = a.forward([z], { noise: 'const' }).image;
      const y = b.forward([z], { noise: 'const' }).image;
      return tf.max(tf.abs(tf.sub(x, y))).dataSync()[0];
    });
    console.log(`pulled vs demo generator: max |diff| ${diff}`);
    expect(diff).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    a.dispose();
    b.dispose();

    // the HF-named CLIP gives the golden OpenAI embeddings
    const clip = await ClipModel.load(files.clip[0].path, files.clip[0].config);
    const images = nhwc(golden('clip/golden.safetensors', 'images'));
    expectClose(
      clip.encodeImage(images),
      golden('clip/golden.safetensors', 'encode_image'),
      FORWARD,
      'pulled CLIP encode_image',
    );
    clip.dispose();
  });

  it('GIVEN a connection cut mid-file WHEN pulling THEN it resumes from the byte it had', async () => {
    const cutAt = 200_000;
    files.set('/gen/tiny-ffhq.pt', { body: golden64, cutAt });
    const dir = freshStore();
    const pulled = await pullModel('tiny', { modelsDir: dir });

    // the second request asks for the rest only (fetch may drop the last queued chunk of a
    // broken stream, so the part file can hold a little less than the server sent)
    const ranges = hits.filter((h) => h.path === '/gen/tiny-ffhq.pt').map((h) => h.range);
    expect(ranges).toHaveLength(2);
    expect(ranges[0]).toBeUndefined();
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(ranges[1] ?? '')?.[1]);
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt).toBeLessThanOrEqual(cutAt);
    // and the file put together from two requests is the whole checkpoint
    expect(pulled.info.generator.sha256).toBe(await convertedGoldenSha256());
  });

  it('GIVEN no retries WHEN the connection is cut THEN it says how much arrived, and the next pull resumes', async () => {
    files.set('/gen/tiny-ffhq.pt', { body: golden64, cutAt: 100_000 });
    const dir = freshStore();
    const err = await pullError('tiny', { modelsDir: dir, retries: 0 });
    expect(err.code).toBe('download.incomplete');
    const got = Number(/got (\d+) of (\d+) bytes/.exec(err.message)?.[1]);
    expect(err.message).toContain(`of ${golden64.byteLength} bytes`);
    expectNothingInstalled(dir);
    expect(readFileSync(join(dir, '.downloads/tiny/tiny-ffhq.pt.part')).byteLength).toBe(got);

    const pulled = await pullModel('tiny', { modelsDir: dir, retries: 0 });
    expect(hits.filter((h) => h.path === '/gen/tiny-ffhq.pt').map((h) => h.range)).toEqual(
      got > 0 ? [undefined, `bytes=${got}-`] : [undefined, undefined],
    );
    expect(pulled.info.generator.sha256).toBe(await convertedGoldenSha256());
  });

  it('GIVEN a body that always stops short THEN download.incomplete after the retries', async () => {
    files.set('/clip/model.safetensors', { body: clipHf, cutAt: 4096, cutTimes: 99 });
    const dir = freshStore();
    const err = await pullError('tiny', { modelsDir: dir, retries: 2 });
    expect(err.code).toBe('download.incomplete');
    const got = Number(/got (\d+) of (\d+) bytes/.exec(err.message)?.[1]);
    expect(got).toBeLessThanOrEqual(4096);
    expect(err.message).toContain(`of ${clipHf.byteLength} bytes`);
    const part = join(dir, '.downloads/tiny/clip-vit-b-32.safetensors.part');
    expect(readFileSync(part).byteLength).toBe(got);
    expect(hits.filter((h) => h.path === '/clip/model.safetensors')).toHaveLength(3);
    expectNothingInstalled(dir);
  });

  it('GIVEN a 404 THEN download.http names the URL and the status', async () => {
    files.delete('/clip/model.safetensors');
    const dir = freshStore();
    const err = await pullError('tiny', { modelsDir: dir });
    expect(err.code).toBe('download.http');
    expect(err.message).toBe(
      `GET ${base}/clip/model.safetensors answered 404 Not Found: no file there; check the URL`,
    );
    expectNothingInstalled(dir);
  });

  it('GIVEN a pickle that calls os.system THEN weights.unsafe_pickle, nothing runs, the file goes', async () => {
    const marker = join(root, 'pwned');
    files.set('/gen/evil.pt', { body: evilCheckpoint(`touch ${marker}`) });
    const dir = freshStore('/gen/evil.pt');
    const err = await pullError('tiny', { modelsDir: dir });
    expect(err.code).toBe('weights.unsafe_pickle');
    expect(err.message).toContain('os.system');
    expect(existsSync(marker)).toBe(false);
    expectNothingInstalled(dir);
    // the complete but unusable download is gone, so the next pull fetches it again
    expect(readdirSync(join(dir, '.downloads/tiny'))).not.toContain('tiny-ffhq.pt');
  });

  it('GIVEN a web page instead of a checkpoint THEN model.not_checkpoint says so', async () => {
    files.set('/gen/page', { body: Buffer.from('<!DOCTYPE html><html>Virus scan warning</html>') });
    const dir = freshStore('/gen/page');
    const err = await pullError('tiny', { modelsDir: dir });
    expect(err.code).toBe('model.not_checkpoint');
    expect(err.message).toMatch(/is a web page, not a checkpoint/);
    expectNothingInstalled(dir);
  });

  it('GIVEN a 64 px generator for ffhq THEN model.wrong_generator names both sizes', async () => {
    const dir = freshStore();
    const err = await pullError('ffhq', {
      modelsDir: dir,
      url: `${base}/gen/tiny-ffhq.pt`,
      clipUrls: [`${base}/clip/model.safetensors`],
    });
    expect(err.code).toBe('model.wrong_generator');
    expect(err.message).toMatch(/is a 64 px generator, this model id needs 1024 px/);
    expect(existsSync(join(dir, 'ffhq'))).toBe(false);
  });
});

// ---- the command line ------------------------------------------------------------------------

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], dir: string): Promise<Exit> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['bin/nadabot.js', 'models', ...args], {
      env: { ...process.env, NADABOT_MODELS_DIR: dir },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('exit', (code) => done({ code, stdout, stderr }));
  });
}

describe('nadabot models (command line)', () => {
  it('WHEN pull, list, pull again and verify run THEN each answers as an operator expects', async () => {
    const dir = freshStore();
    const pulled = await cli(['pull', 'tiny'], dir);
    expect(pulled.code).toBe(0);
    expect(pulled.stdout).toContain(`installed tiny in ${join(dir, 'tiny')}: 64 px generator`);
    expect(pulled.stderr).toContain(`downloading generator from ${base}/gen/tiny-ffhq.pt`);

    const listed = await cli(['list'], dir);
    expect(listed.stdout).toMatch(/^tiny +installed +7\.1 MB +not verified$/m);
    expect(listed.stdout).toMatch(/^ffhq +available +needs --url or import$/m);

    const again = await cli(['pull', 'tiny'], dir);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^nadabot: model "tiny" is installed already .* --force/);

    const verified = await cli(['verify', 'tiny'], dir);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toContain('ok  rendered one 64×64 image');
    expect(verified.stdout).toContain('ok  CLIP ViT-B/32 embedded the image and a text');
    expect((await cli(['list'], dir)).stdout).toMatch(/^tiny +installed +7\.1 MB +verified 20/m);
  });

  it('GIVEN ffhq without --url THEN one line explains Google Drive and import', async () => {
    const { code, stderr } = await cli(['pull', 'ffhq'], freshStore());
    expect(code).toBe(1);
    expect(stderr).toMatch(/^nadabot: the ffhq generator .* has no direct download/);
    expect(stderr).toContain('nadabot models import ffhq');
    expect(stderr).not.toMatch(/^\s+at /m);
  });
});

// ---- a hostile checkpoint: { g_ema: os.system(cmd) } in a torch zip ---------------------------

function evilCheckpoint(cmd: string): Uint8Array {
  const u32 = (n: number) => [n & 255, (n >> 8) & 255, (n >> 16) & 255, (n >>> 24) & 255];
  const str = (s: string) => [0x58, ...u32(Buffer.byteLength(s)), ...Buffer.from(s)];
  const pickle = Uint8Array.from([
    ...[0x80, 0x02, 0x7d], // PROTO 2, EMPTY_DICT
    ...str('g_ema'),
    ...[0x63, ...Buffer.from('os\nsystem\n', 'latin1')], // GLOBAL os.system
    ...str(cmd),
    ...[0x85, 0x52, 0x73, 0x2e], // TUPLE1, REDUCE, SETITEM, STOP
  ]);
  return zipSync({ 'evil/data.pkl': pickle, 'evil/version': Buffer.from('3\n') }, { level: 0 });
}
