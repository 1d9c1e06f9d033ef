import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Favourites } from '../src/chat/favourites.ts';
import { startSlackBot, type RunningSlackBot } from '../src/platforms/slack/slack-bot.ts';
import { STOP_ACTION_ID } from '../src/platforms/slack/slack-platform.ts';
import { FakeSlack, type SlackMessage } from './fakes/slack-api.ts';
import { startNadaStack, type NadaStack } from './fakes/nada-stack.ts';
import { waitFor } from './fakes/wait.ts';

// The real Bolt app in HTTP mode receiving signed requests from a local Slack, its WebClient
// calling that Slack's Web API, the real worker training the bundled `demo` model for a step
// or two, and a real Redis. The scenarios run in order, as a conversation would.

const ALICE = 'U0ALICE';
const BOB = 'U0BOB';
const RUN_MS = 90_000;
// Grids of 3 samples at 192 px are ~90 kB as PNG: this cap forces a re-encode.
const UPLOAD_CAP = 40_000;
// 1 + 2 + 1 + 20 steps asked in the scenarios below
const DAILY_STEPS = 24;

let stack: NadaStack;
let fake: FakeSlack;
let bot: RunningSlackBot | undefined;
let root: SlackMessage;

async function startBot(): Promise<void> {
  bot = await startSlackBot(
    {
      botToken: fake.botToken,
      signingSecret: fake.signingSecret,
      port: 0,
      maxUploadBytes: UPLOAD_CAP,
      apiUrl: fake.apiUrl,
    },
    stack.runtime({
      access: { allowedChannels: [fake.channel], operators: [] },
      quotas: { maxRunsPerUser: 1, dailyStepsPerUser: DAILY_STEPS },
    }),
  );
  const { port } = bot.server!.address() as AddressInfo;
  fake.eventsUrl = `http://127.0.0.1:${port}/slack/events`;
}

const thread = () => fake.thread(root.ts);
const inThread = (text: string) => thread().filter((m) => m.text.includes(text));
async function waitInThread(text: string, count = 1) {
  await waitFor(`"${text}" ×${count} in the thread`, () => inThread(text).length >= count, RUN_MS);
  return inThread(text);
}
const favourites = () => new Favourites(stack.client, stack.config.queueName);

beforeAll(async () => {
  stack = await startNadaStack('slack');
  fake = new FakeSlack();
  await fake.start();
  await stack.startWorker();
  await startBot();
});

afterAll(async () => {
  await bot?.close();
  await fake?.stop();
  await stack?.stop();
});

describe('Slack: /nada in a channel', () => {
  it('GIVEN a prompt with <!everyone>, sent twice with one trigger id THEN one thread shows the run to its final grid, escaped, every upload under the cap', async () => {
    const first = await fake.command(ALICE, 'bronze statue <!everyone> <@U0BOB> --steps 1');
    const again = await fake.command(ALICE, 'bronze statue <!everyone> <@U0BOB> --steps 1', {
      triggerId: first.triggerId,
    });
    expect([first.status, again.status]).toEqual([200, 200]);
    root = await waitFor('the answer in the channel', () =>
      fake.messages.find((m) => !m.threadTs && m.user === fake.botUser),
    );
    expect(root.text).toContain('*bronze statue &lt;!everyone&gt; &lt;@U0BOB&gt;*');
    expect(root.parse).toBe('none');

    await waitInThread('Done: 1 step');
    expect(fake.messages.filter((m) => !m.threadTs)).toHaveLength(1);
    const queueLine = thread()[0];
    expect(queueLine.history.at(-1)).toBe('Queue position: done.');
    expect(queueLine.history).toContain('Queue position: running now.');
    expect(inThread('Step 0 / 1')).toHaveLength(1);
    expect(inThread('Step 1 / 1')).toHaveLength(1);
    const final = inThread('Final grid at step 1')[0];
    expect(final.text).toContain('&lt;!everyone&gt;');
    expect(final.text).not.toMatch(/<!everyone>|<@U0BOB>/);
    const width = (await sharp(final.files[0].bytes).metadata()).width;
    expect(width).toBe(3 * (192 + 4) + 4);
    const animation = inThread('The run, grid by grid.')[0].files[0];
    expect((await sharp(animation.bytes, { animated: true }).metadata()).pages).toBe(2);

    // every image went up through the external upload flow, under the cap
    const files = thread().flatMap((m) => m.files);
    expect(files.length).toBeGreaterThanOrEqual(4);
    for (const f of files) expect(f.bytes.length).toBeLessThanOrEqual(UPLOAD_CAP);
    expect(inThread('Step 1 / 1')[0].files[0].name).toMatch(/\.webp$/);
    expect(fake.failedCalls()).toEqual([]);
  });

  it('GIVEN number reactions WHEN one is taken back THEN only the other stays a favourite, and "save" posts it full size', async () => {
    const final = inThread('Final grid at step 1')[0];
    await fake.react(BOB, final.ts, 'two');
    await fake.react(ALICE, final.ts, 'three');
    await waitFor(
      'two favourites',
      async () => (await favourites().list('slack', root.ts)).length === 2,
    );
    await fake.react(ALICE, final.ts, 'three', false);
    await waitFor(
      'one favourite',
      async () => (await favourites().list('slack', root.ts)).length === 1,
    );
    expect(await favourites().list('slack', root.ts)).toEqual([2]);

    await fake.reply(ALICE, root.ts, 'save');
    const saved = (await waitInThread('Favourites 2 at step 1'))[0];
    expect(saved.files.map((f) => f.name)).toEqual(['favourite-2.png']);
    const meta = await sharp(saved.files[0].bytes).metadata();
    expect([meta.width, meta.height]).toEqual([192, 192]);
  });
});

describe('Slack: continuing a run', () => {
  it('GIVEN a reply "2", redelivered, WHEN the bot restarts mid-run THEN one continuation trains from step 1 to 3 and every post appears once', async () => {
    const { eventId } = await fake.reply(ALICE, root.ts, '2');
    await waitInThread('Training 2 more steps from step 1');
    // Slack retries the same event: recognised and ignored
    const retry = await fake.event(
      {
        type: 'message',
        channel: fake.channel,
        user: ALICE,
        text: '2',
        ts: '1.000001',
        thread_ts: root.ts,
      },
      { eventId, retryNum: 1 },
    );
    expect(retry.status).toBe(200);
    await waitInThread('Training started: steps 2 to 3.');

    // restart: the old app stops, the worker goes on, a new app catches up
    await bot!.close();
    // the bot left mid-run: the end is still to come
    expect(inThread('Final grid at step 3')).toHaveLength(0);
    await waitFor('the run to end while no bot listens', () => runFinished(), RUN_MS);
    await startBot();
    await waitInThread('Done: 3 steps');

    expect(inThread('Training 2 more steps')).toHaveLength(1);
    expect(inThread('Step 2 / 3')).toHaveLength(1);
    expect(inThread('Step 3 / 3')).toHaveLength(1);
    const final = inThread('Final grid at step 3');
    expect(final).toHaveLength(1);
    expect(final[0].text).toContain('Favourites (shown first): 2.');
    expect(inThread('Done: 3 steps')).toHaveLength(1);
  });

  it('GIVEN a reply with new text THEN it steers from where the run stopped, and old grids still take reactions', async () => {
    // options ride along as on /nada: the text to steer by is "oil painting" alone
    await fake.reply(ALICE, root.ts, `<@${fake.botUser}> oil painting --steps 1`);
    await waitInThread(
      'Steering from bronze statue &lt;!everyone&gt; &lt;@U0BOB&gt; toward *oil painting*',
    );
    await waitInThread('Done: 1 step', 2);
    expect(inThread('Final grid at step 1: bronze statue')[0].text).toContain('→ *oil painting*');

    const firstFinal = inThread('Final grid at step 1')[0];
    await fake.react(BOB, firstFinal.ts, 'one');
    await waitFor('favourite 1', async () =>
      (await favourites().list('slack', root.ts)).includes(1),
    );
  });

  it('GIVEN a reply "again" THEN new samples of the latest generator come without training', async () => {
    await fake.reply(ALICE, root.ts, 'again');
    const redraw = (await waitInThread('New samples from the generator at step 1'))[0];
    expect(redraw.files).toHaveLength(1);
    await waitFor('the redraw to end', () => {
      const lines = thread().filter((m) => m.history[0]?.startsWith('Queue position'));
      return lines.at(-1)?.text === 'Queue position: done.';
    });
    // the thread still continues from the trained run
    await fake.reply(ALICE, root.ts, 'save');
    await waitInThread('Favourites 1, 2 at step 1');
  });
});

describe('Slack: stopping and limits', () => {
  it('GIVEN a running run WHEN someone else presses stop THEN it is refused; WHEN the requester reacts ⏹ THEN it stops', async () => {
    await fake.command(ALICE, 'sketch --steps 20');
    const stopRoot = await waitFor(
      'the second thread',
      () => fake.messages.filter((m) => !m.threadTs && m.user === fake.botUser)[1],
    );
    const posts = () => fake.thread(stopRoot.ts);
    const grid0 = await waitFor(
      'the first grid',
      () => posts().find((m) => m.text.startsWith('Step 0 / 20')),
      RUN_MS,
    );

    // bob's button press is refused, privately
    const queueLine = posts()[0];
    expect(queueLine.buttons.map((b) => b.actionId)).toEqual([STOP_ACTION_ID]);
    await fake.clickButton(BOB, queueLine, STOP_ACTION_ID);
    const refusal = await waitFor('the refusal', () =>
      fake.responses.find((r) => r.text.includes('Only')),
    );
    expect(refusal.responseType).toBe('ephemeral');

    // while it runs, alice's second command is over her limit of one run
    await fake.command(ALICE, 'watercolour --steps 1');
    await waitFor('the quota reply', () =>
      fake.responses.find((r) => r.text.includes('the limit per person')),
    );

    // bob's run waits behind it; its queue line moves up when the worker takes it
    await fake.command(BOB, 'watercolour --steps 1');
    const bobRoot = await waitFor(
      "bob's thread",
      () => fake.messages.filter((m) => !m.threadTs && m.user === fake.botUser)[2],
    );
    const bobQueue = await waitFor("bob's queue line", () => fake.thread(bobRoot.ts)[0]);
    expect(bobQueue.history[0]).toBe('Queue position: 1 run ahead.');

    // alice's reaction stops it between two steps
    await fake.react(ALICE, grid0.ts, 'black_square_for_stop');
    const stopped = await waitFor(
      'the stop',
      () => posts().find((m) => m.text.includes('as asked; a checkpoint is kept')),
      RUN_MS,
    );
    expect(Number(/Stopped at step (\d+)/.exec(stopped.text)![1])).toBeLessThan(20);
    await waitFor('the stop acknowledged', () =>
      posts().some((m) => m.text.includes('Stopping after the current step')),
    );
    await waitFor(
      'the queue line to close',
      () => posts()[0].history.at(-1) === 'Queue position: done.',
    );
    expect(posts()[0].buttons).toEqual([]);
    await waitFor(
      "bob's run to end",
      () => bobQueue.history.at(-1) === 'Queue position: done.',
      RUN_MS,
    );
    expect(bobQueue.history).toContain('Queue position: running now.');
  });

  it('GIVEN the daily quota spent THEN a larger run is refused naming the quota', async () => {
    // alice asked 1 + 2 + 1 + 20 = 24 steps today, the quota
    await fake.command(ALICE, 'charcoal --steps 2');
    const reply = await waitFor('the quota reply', () =>
      fake.responses.find((r) => r.text.includes('daily quota')),
    );
    expect(reply.text).toContain(`the daily quota is ${DAILY_STEPS} steps per person`);
    expect(reply.responseType).toBe('ephemeral');
  });

  it('GIVEN a channel the operator did not allow THEN the command is refused there', async () => {
    await fake.command(BOB, 'charcoal --steps 1', { channel: fake.otherChannel });
    const reply = await waitFor('the channel reply', () =>
      fake.responses.find((r) => r.text.includes('I do not take commands in this channel')),
    );
    expect(reply.responseType).toBe('ephemeral');
    expect(fake.messages.filter((m) => m.channel === fake.otherChannel)).toEqual([]);
  });
});

// The newest job on the queue has finished (run ids sort by time).
async function runFinished(): Promise<boolean> {
  const keys = await stack.client.keys(`bull:${stack.config.queueName}:*`);
  const ids = keys
    .map((k) => k.split(':').at(-1)!)
    .filter((id) => /^\d{8}-\d{6}-[0-9a-f]+$/.test(id));
  const latest = ids.sort().at(-1);
  return (
    (await stack.client.hget(`bull:${stack.config.queueName}:${latest}`, 'finishedOn')) !== null
  );
}
