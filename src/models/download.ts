import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { open, rename, writeFile } from 'node:fs/promises';

import { NadaError } from '../errors.ts';

/** What a download reports as it goes. */
export interface DownloadProgress {
  url: string;
  /** bytes on disk so far, resumed bytes included */
  received: number;
  /** the whole file's size when the server says it */
  total?: number;
  /** bytes that were already in the `.part` file when this attempt started */
  resumedFrom: number;
}

export interface DownloadOptions {
  /** further attempts after a dropped connection or a 5xx answer (default 3); each resumes */
  retries?: number;
  onProgress?: (p: DownloadProgress) => void;
}

export interface Downloaded {
  path: string;
  bytes: number;
  sha256: string;
}

/** Sidecar of a `.part` file: which URL and which version of it the bytes belong to. */
interface PartInfo {
  url: string;
  etag?: string;
  total?: number;
}

/**
 * Downloads `url` to `dest` through `dest.part`: an interrupted download resumes where it
 * stopped (HTTP Range, guarded by If-Range on the ETag), and only a complete file is renamed
 * to `dest`. Errors: `download.http` (the status), `download.incomplete` ("got N of M
 * bytes"), `download.failed` (no answer).
 *
 * @example
 * const { sha256 } = await download(url, '/models/.downloads/ffhq/clip-0.safetensors');
 */
export async function download(
  url: string,
  dest: string,
  opts: DownloadOptions = {},
): Promise<Downloaded> {
  const done = finished(dest, url);
  if (done) return done;
  const retries = opts.retries ?? 3;
  for (let attempt = 0; ; attempt++) {
    try {
      await fetchIntoPart(url, dest, opts);
      break;
    } catch (err) {
      if (attempt >= retries || !isRetryable(err)) throw err;
    }
  }
  await rename(`${dest}.part`, dest);
  rmSync(`${dest}.part.json`, { force: true });
  const got = { path: dest, bytes: statSync(dest).size, sha256: await sha256File(dest) };
  await writeFile(`${dest}.json`, JSON.stringify({ url, ...got }));
  return got;
}

/** A file this URL was already downloaded to (a pull that stopped later, at another file). */
function finished(dest: string, url: string): Downloaded | undefined {
  try {
    const got = JSON.parse(readFileSync(`${dest}.json`, 'utf8')) as Downloaded & { url: string };
    if (got.url !== url || statSync(dest).size !== got.bytes) return undefined;
    return { path: dest, bytes: got.bytes, sha256: got.sha256 };
  } catch {
    return undefined;
  }
}

/** One attempt: request the missing bytes and append them to `dest.part`. */
async function fetchIntoPart(url: string, dest: string, opts: DownloadOptions): Promise<void> {
  const part = `${dest}.part`;
  const known = readPartInfo(dest, url);
  const offset = known && existsSync(part) ? statSync(part).size : 0;
  if (offset > 0 && offset === known?.total) return; // complete already

  // ask for the rest only (If-Range: the whole file again if it changed meanwhile)
  const headers: Record<string, string> = {};
  if (offset > 0) headers.range = `bytes=${offset}-`;
  if (offset > 0 && known?.etag) headers['if-range'] = known.etag;
  const res = await request(url, headers);
  if (res.status === 416 && offset > 0) {
    rmSync(part, { force: true }); // the server has no such range: start over
    throw retryable(url, 'the server refused to resume; starting over');
  }
  if (!res.ok) throw httpError(url, res);

  // a 206 continues the part file; a 200 is the whole file from byte 0
  const resumed = res.status === 206 ? checkContentRange(url, res, offset) : 0;
  const total = res.status === 206 ? contentRangeTotal(res) : contentLength(res);
  const info: PartInfo = { url, etag: res.headers.get('etag') ?? undefined, total };
  await writeFile(`${dest}.part.json`, JSON.stringify(info));
  await appendBody(res, part, { url, received: resumed, total, resumedFrom: resumed }, opts);
}

async function request(url: string, headers: Record<string, string>): Promise<Response> {
  try {
    return await fetch(url, { headers, redirect: 'follow' });
  } catch (err) {
    const cause = (err as { cause?: Error }).cause?.message ?? (err as Error).message;
    throw retryable(url, `no answer from ${new URL(url).host} (${cause})`, 'download.failed');
  }
}

/** Streams the body onto the part file; a dropped connection or short body is incomplete. */
async function appendBody(
  res: Response,
  part: string,
  progress: DownloadProgress,
  opts: DownloadOptions,
): Promise<void> {
  const file = await open(part, progress.received > 0 ? 'a' : 'w');
  let cut: Error | undefined;
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      await file.write(chunk);
      progress.received += chunk.byteLength;
      opts.onProgress?.({ ...progress });
    }
  } catch (err) {
    cut = err as Error;
  } finally {
    await file.close();
  }
  const { received, total } = progress;
  if (cut || (total !== undefined && received !== total)) {
    throw retryable(
      progress.url,
      `incomplete download: got ${received} of ${total ?? 'an unknown number of'} bytes` +
        `${cut ? ` (${cut.message})` : ''}; run the command again to resume`,
      'download.incomplete',
      { received, total },
    );
  }
}

function checkContentRange(url: string, res: Response, offset: number): number {
  const start = Number(/bytes (\d+)-/.exec(res.headers.get('content-range') ?? '')?.[1]);
  if (start !== offset) {
    throw new NadaError(
      'download.failed',
      `${url}: asked for bytes from ${offset}, the server sent from ${start}`,
      { url, offset, start },
    );
  }
  return offset;
}

function contentRangeTotal(res: Response): number | undefined {
  const total = /\/(\d+)$/.exec(res.headers.get('content-range') ?? '')?.[1];
  return total === undefined ? undefined : Number(total);
}

function contentLength(res: Response): number | undefined {
  const length = res.headers.get('content-length');
  return length === null ? undefined : Number(length);
}

function readPartInfo(dest: string, url: string): PartInfo | undefined {
  try {
    const info = JSON.parse(readFileSync(`${dest}.part.json`, 'utf8')) as PartInfo;
    return info.url === url ? info : undefined;
  } catch {
    return undefined;
  }
}

function httpError(url: string, res: Response): NadaError {
  const err = new NadaError(
    'download.http',
    `GET ${url} answered ${res.status} ${res.statusText}` +
      (res.status === 404 ? ': no file there; check the URL' : ''),
    { url, status: res.status },
  );
  if (res.status >= 500 || res.status === 429) err.context.retry = true;
  return err;
}

function retryable(
  url: string,
  message: string,
  code = 'download.failed',
  context: Record<string, unknown> = {},
): NadaError {
  return new NadaError(code, message, { url, ...context, retry: true });
}

function isRetryable(err: unknown): boolean {
  return err instanceof NadaError && err.context.retry === true;
}

/** sha256 of a file, hex, read as a stream (real weights are hundreds of MB). */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
