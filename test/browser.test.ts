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

    // the immediate answer, then the thread with the queue position
    await page.waitForSelector('section.thread .message.bot .body');
    expect((await botTexts()).find((t) => t.startsWith('Adapting'))).toMatch(
      /^Adapting photo → 日本人女性: 8 steps, seed \d+\. Follow it in the thread\.$/,
    );
    expect(await page.textContent('#reply-title')).toBe('photo → 日本人女性');

    // the closing message, after every grid
    await waitForBotText(/^Done:/, 1);
    const closing = (await botTexts()).at(-1)!;
    expect(closing).toMatch(
      /^Done: 8 steps\. Directional CLIP loss \d\.\d{4} at the first step → \d\.\d{4} at the last\.$/,
    );

    // three grids in step order, each loaded by the browser and each different; then the
    // final numbered grid and the animation
    const grids = await gridRows();
    expect(grids.map((g) => g.name)).toEqual([
      'step-000000.png',
      'step-000004.png',
      'step-000008.png',
      'final-000008.png',
      'run.webp',
    ]);
    expect(
      grids.slice(0, 3).map((g) => g.caption.replace(/ · loss \d\.\d{4}$/, ' · loss')),
    ).toEqual(['Step 0 / 8', 'Step 4 / 8 · loss', 'Step 8 / 8 · loss']);
    for (const grid of grids) expect(grid.width).toBeGreaterThan(0);
    const hashes = await Promise.all(
      grids.slice(0, 3).map(async (g) => {
        const bytes = await (await page.request.get(new URL(g.src, page.url()).href)).body();
        return createHash('sha256').update(bytes).digest('hex');
      }),
    );
    expect(new Set(hashes).size).toBe(3);

    // the messages come in the order of a thread: answer, queue line, start, how the prompt
    // was read, grids, final grid, animation, closing
    expect((await rowOrder()).slice(-11)).toEqual([
      '/nada',
      'Adapting',
      'Queue',
      'Training',
      'Understood',
      'grid',
      'grid',
      'grid',
      'grid',
      'grid',
      'Done:',
    ]);
  });

  it('GIVEN the finished run THEN 1️⃣ marks a favourite, save posts it, and a reply of 2 trains on', async () => {
    // react 1️⃣ on the final grid through the picker
    const final = page.locator('section.thread .message.bot', { hasText: 'Final grid at step 8' });
    await final.locator('.add-reaction').click();
    await final.locator('.pick', { hasText: '1️⃣' }).click();
    await final.locator('.chip', { hasText: '1️⃣' }).waitFor();

    // "save" in the thread posts the favourite at full size
    await send('save');
    await waitForBotText(/^Favourites 1 at step 8, full size\.$/, 1);
    expect((await gridRows()).at(-1)!.name).toBe('favourite-1.png');

    // a number trains that many more steps from where the run stopped
    await send('2');
    await waitForBotText(/^Done:/, 2);
    const texts = await botTexts();
    expect(texts).toContain('Training 2 more steps from step 8 toward 日本人女性.');
    expect(texts.filter((t) => t.startsWith('Final grid at step 10'))).toHaveLength(1);
    expect(texts.find((t) => t.startsWith('Final grid at step 10'))).toContain(
      'Favourites (shown first): 1.',
    );
    expect(texts.at(-1)).toMatch(/^Done: 10 steps\./);

    await mkdir(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    console.log(`screenshot: ${SCREENSHOT}`);
  });
});

/** Waits until `count` bot messages match `pattern`. */
async function waitForBotText(pattern: RegExp, count: number): Promise<void> {
  await page.waitForFunction(
    ([source, flags, n]) => {
      const re = new RegExp(source as string, flags as string);
      const bodies = Array.from(document.querySelectorAll('.message.bot .body'));
      return bodies.filter((b) => re.test(b.textContent ?? '')).length >= (n as number);
    },
    [pattern.source, pattern.flags, count] as const,
    { polling: POLL_MS, timeout: RUN_TIMEOUT_MS },
  );
}

/** The bot's messages with images: file name, link, caption, and whether the image loaded. */
function gridRows(): Promise<{ name: string; src: string; caption: string; width: number }[]> {
  return page.$$eval('.message.bot:has(img.grid)', (rows) =>
    rows.map((row) => {
      const img = row.querySelector('img.grid') as HTMLImageElement;
      return {
        name: (img.getAttribute('alt') ?? '').replace(/^.*\//, ''),
        src: img.getAttribute('src') ?? '',
        caption: row.querySelector('.body')?.textContent ?? '',
        width: img.naturalWidth,
      };
    }),
  );
}

/** Each message row as its first word, or 'grid' for one with an image, in page order. */
function rowOrder(): Promise<string[]> {
  return page.$$eval('.message', (rows) =>
    rows.map((row) =>
      row.querySelector('img')
        ? 'grid'
        : (row.querySelector('.body')?.textContent ?? '').split(' ')[0],
    ),
  );
}
