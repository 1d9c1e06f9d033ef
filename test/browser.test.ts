import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  freePort,
  freshQueueName,
  startTestRedis,
  stopProcess,
  type TestRedis,
} from './helpers/redis.ts';

// The browser test of the local chat: the demo stack (Redis, worker with the real engine and
// the demo models, local chat) driven through Debian's Chromium, as a person would use it.

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = path.resolve('tmp', 'browser-local-chat.png');
// Polling the page once a second is plenty: a step takes seconds on these CPUs.
const POLL_MS = 1000;
const RUN_TIMEOUT_MS = 15 * 60_000;

let redis: TestRedis;
let demo: ChildProcess;
let artifacts: string;
let browser: Browser;
let page: Page;

/** Starts `nadabot demo` and resolves with the address it prints once ready. */
async function startDemo(env: Record<string, string>): Promise<string> {
  demo = spawn(process.execPath, ['bin/nadabot.js', 'demo'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    demo.stdout!.on('data', (chunk) => {
      out += chunk;
      const ready = /demo ready: open (http:\/\/\S+)/.exec(out);
      if (ready) resolve(ready[1]);
    });
    demo.on('exit', (code) => reject(new Error(`nadabot demo exited with ${code}:\n${out}`)));
  });
}

beforeAll(async () => {
  expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: bash scripts/test.sh installs it`).toBe(
    true,
  );
  redis = await startTestRedis();
  artifacts = await mkdtemp(path.join(tmpdir(), 'nadabot-browser-'));
  const url = await startDemo({
    REDIS_URL: redis.url,
    NADABOT_PORT: String(await freePort()),
    NADABOT_QUEUE: freshQueueName('browser'),
    NADABOT_ARTIFACTS: artifacts,
    // a short run: grids at steps 0, 4 and 8
    NADABOT_STEPS: '8',
    NADABOT_OUTPUT_INTERVAL: '4',
    NADABOT_LOG_LEVEL: 'warn',
  });

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  page = await browser.newPage({ viewport: { width: 900, height: 1400 } });
  await page.goto(url);
});

afterAll(async () => {
  await browser?.close();
  if (demo) await stopProcess(demo);
  await redis?.stop();
  await rm(artifacts, { recursive: true, force: true });
});

async function send(text: string): Promise<void> {
  await page.fill('#input', text);
  await page.press('#input', 'Enter');
}

/** Texts of the bot's messages, in timeline order. */
function botTexts(): Promise<string[]> {
  return page.$$eval('.message.bot .body', (nodes) => nodes.map((n) => n.textContent ?? ''));
}

describe('the local chat in a browser', () => {
  it('GIVEN an empty /nada THEN the thread answers kindly and keeps serving', async () => {
    await page.waitForSelector('#status[data-state="live"]');
    await send('/nada \u200b');
    await page.waitForSelector('.message.bot .body');
    expect((await botTexts())[0]).toMatch(/only invisible characters/);
  });

  it('GIVEN /nada 日本人女性 THEN three grids arrive in order and the run finishes', async () => {
    await send('/nada 日本人女性');

    // the immediate answer, with the queue position
    await page.waitForFunction(
      () => document.body.innerText.includes('Queue position'),
      undefined,
      { polling: POLL_MS },
    );
    expect((await botTexts()).find((t) => t.startsWith('Adapting'))).toMatch(
      /^Adapting photo → 日本人女性: 8 steps, seed \d+\. Queue position: next in line\.$/,
    );

    // the closing message, after every grid
    await page.waitForFunction(
      () =>
        Array.from(document.querySelectorAll('.message.bot .body')).some((n) =>
          n.textContent?.startsWith('Done:'),
        ),
      undefined,
      { polling: POLL_MS, timeout: RUN_TIMEOUT_MS },
    );
    const closing = (await botTexts()).at(-1)!;
    expect(closing).toMatch(
      /^Done: 8 steps\. Directional CLIP loss \d\.\d{4} at the first step → \d\.\d{4} at the last\.$/,
    );

    // three grids, in step order, each loaded by the browser and each different
    const grids = await page.$$eval('img.grid', (imgs) =>
      (imgs as HTMLImageElement[]).map((img) => ({
        src: img.getAttribute('src') ?? '',
        width: img.naturalWidth,
        caption: img.parentElement?.querySelector('figcaption')?.textContent ?? '',
      })),
    );
    expect(grids.map((g) => g.src.replace(/^\/artifacts\/[^/]+\//, ''))).toEqual([
      'grids/step-000000.png',
      'grids/step-000004.png',
      'grids/step-000008.png',
    ]);
    expect(grids.map((g) => g.caption.replace(/ · loss \d\.\d{4}$/, ' · loss'))).toEqual([
      'Step 0 / 8',
      'Step 4 / 8 · loss',
      'Step 8 / 8 · loss',
    ]);
    for (const grid of grids) expect(grid.width).toBeGreaterThan(0);
    const hashes = await Promise.all(
      grids.map(async (g) => {
        const bytes = await (await page.request.get(new URL(g.src, page.url()).href)).body();
        return createHash('sha256').update(bytes).digest('hex');
      }),
    );
    expect(new Set(hashes).size).toBe(3);

    // the messages come in the order of a thread: answer, start, how the prompt was read,
    // grids, closing
    const order = await page.$$eval('.message', (rows) =>
      rows.map((row) =>
        row.querySelector('img') ? 'grid' : row.querySelector('.body')?.textContent?.split(' ')[0],
      ),
    );
    expect(order.slice(-8)).toEqual([
      '/nada',
      'Adapting',
      'Training',
      'Understood',
      'grid',
      'grid',
      'grid',
      'Done:',
    ]);

    await mkdir(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    console.log(`screenshot: ${SCREENSHOT}`);
  });
});
