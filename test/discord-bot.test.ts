import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatRuns } from '../src/chat/chat-runs.ts';
import { Favourites } from '../src/chat/favourites.ts';
import { ThreadRuns } from '../src/chat/thread-runs.ts';
import { startDiscordBot, type RunningDiscordBot } from '../src/platforms/discord/discord-bot.ts';
import type { DiscordSettings } from '../src/platforms/discord/discord-config.ts';
import { FakeDiscord, type FakeMessage, type FakeUser } from './fakes/discord-api.ts';
import { startNadaStack, type NadaStack } from './fakes/nada-stack.ts';
import { waitFor } from './fakes/wait.ts';

// The real discord.js client against a local Discord (REST + gateway), the real worker
// training the bundled `demo` model for a step or two, and a real Redis. The scenarios run
// in order on one server, as a conversation would.

const alice: FakeUser = { id: '200000000000000001', username: 'alice' };
const bob: FakeUser = { id: '200000000000000002', username: 'bob' };
const RUN_MS = 90_000;
// Grids of 3 samples at 192 px are ~90 kB as PNG: this limit forces a re-encode.
const SMALL_UPLOAD_LIMIT = 40_000;
// 1 + 2 + 1 + 20 steps asked in the scenarios below
const DAILY_STEPS = 24;

let stack: NadaStack;
let fake: FakeDiscord;
let bot: RunningDiscordBot | undefined;
let thread: string;

function settings(over: Partial<DiscordSettings> = {}): DiscordSettings {
  return {
    token: 'fake.'.padEnd(60, 'x'),
    appId: fake.appId,
    messageContent: true,
    allowedRoles: [],
    operatorRoles: [],
    apiUrl: fake.apiUrl,
    ...over,
  };
}

async function startBot(over: Partial<DiscordSettings> = {}): Promise<void> {
  bot = await startDiscordBot(
    settings(over),
    stack.runtime({
      access: { allowedChannels: [fake.channelId] },
      quotas: { maxRunsPerUser: 1, dailyStepsPerUser: DAILY_STEPS },
    }),
  );
}

const inThread = (text: string) =>
  fake.channelMessages(thread).filter((m) => m.content.includes(text));
async function waitInThread(text: string, count = 1) {
  await waitFor(`"${text}" ×${count} in the thread`, () => inThread(text).length >= count, RUN_MS);
  return inThread(text);
}

beforeAll(async () => {
  stack = await startNadaStack('discord');
  fake = new FakeDiscord();
  await fake.start();
  await stack.startWorker();
  await startBot();
});

afterAll(async () => {
  await bot?.close();
  await fake?.stop();
  await stack?.stop();
});

describe('Discord: /nada in a channel', () => {
  it('GIVEN a prompt with @everyone, delivered twice, and a 40 kB upload limit THEN one thread shows the run to its final grid, mentions disabled, every file under the limit', async () => {
    // the same interaction twice: answered once
    const id = fake.slashCommand(
      alice,
      'nada',
      { prompt: 'bronze statue @everyone', steps: 1 },
      { attachmentSizeLimit: SMALL_UPLOAD_LIMIT },
    );
    fake.slashCommand(
      alice,
      'nada',
      { prompt: 'bronze statue @everyone', steps: 1 },
      {
        interactionId: id,
        attachmentSizeLimit: SMALL_UPLOAD_LIMIT,
      },
    );
    const reply = await waitFor('the reply', () => fake.interactionReply(id));
    expect(reply.ephemeral).toBe(false);
    expect(reply.content).toContain('@\u200beveryone');
    thread = await waitFor('the thread on the reply', () => fake.threadOn(reply.id));

    // queue line, started, grids at steps 0 and 1, final grid, animation, done
    await waitInThread('Done: 1 step');
    const posts = fake.channelMessages(thread);
    expect(posts[0].history.at(-1)).toBe('Queue position: done.');
    expect(posts[0].history).toContain('Queue position: running now.');
    expect(inThread('Step 0 / 1')).toHaveLength(1);
    expect(inThread('Step 1 / 1')).toHaveLength(1);
    expect(inThread('Step 1 / 1')[0].content).toMatch(/^Step 1 \/ 1 · loss \d+\.\d{4}$/);
    const final = inThread('Final grid at step 1')[0];
    expect(final.content).toContain('@\u200beveryone');
    expect(final.attachments).toHaveLength(1);
    const finalMeta = await sharp(final.attachments[0].bytes).metadata();
    expect(finalMeta.width).toBe(3 * (192 + 4) + 4); // three numbered samples side by side
    const animation = inThread('The run, grid by grid.')[0].attachments[0];
    expect((await sharp(animation.bytes, { animated: true }).metadata()).pages).toBe(2);

    // nothing pings: every message the bot sent disabled mentions
    const botMessages = [...fake.messages.values()].filter((m) => m.authorId === fake.bot.id);
    for (const m of botMessages) expect(m.allowedMentions).toEqual({ parse: [] });

    // the grids went up re-encoded under the interaction's limit (the fake refuses larger)
    const files = posts.flatMap((m) => m.attachments);
    for (const f of files) expect(f.size).toBeLessThanOrEqual(SMALL_UPLOAD_LIMIT);
    expect(inThread('Step 1 / 1')[0].attachments[0].contentType).toBe('image/webp');
    expect(fake.failedCalls()).toEqual([]);
    // one reply and one thread only
    expect([...fake.messages.values()].filter((m) => m.interactionId === id)).toHaveLength(1);
    expect(await runIds()).toHaveLength(1);
  });

  it('GIVEN number reactions on the final grid WHEN one is taken back THEN only the other stays a favourite, and "save" posts it full size', async () => {
    const final = inThread('Final grid at step 1')[0];
    const favourites = new Favourites(stack.client, stack.config.queueName);
    fake.react(bob, final.id, '2️⃣');
    fake.react(alice, final.id, '3️⃣');
    await waitFor(
      'two favourites',
      async () => (await favourites.list('discord', thread)).length === 2,
    );
    fake.react(alice, final.id, '3️⃣', false);
    await waitFor(
      'one favourite',
      async () => (await favourites.list('discord', thread)).length === 1,
    );
    expect(await favourites.list('discord', thread)).toEqual([2]);

    fake.reply(alice, thread, 'save');
    const saved = (await waitInThread('Favourites 2 at step 1'))[0];
    expect(saved.attachments.map((a) => a.filename)).toEqual(['favourite-2.png']);
    const meta = await sharp(saved.attachments[0].bytes).metadata();
    expect([meta.width, meta.height]).toEqual([192, 192]);
  });
});

describe('Discord: continuing a run', () => {
  it('GIVEN a reply "2" WHEN the bot restarts mid-run THEN training goes on from step 1 to 3 and every post appears once, favourites first', async () => {
    fake.reply(alice, thread, '2');
    await waitInThread('Training 2 more steps from step 1');
    await waitInThread('Training started: steps 2 to 3.');

    // restart: the old client leaves, the worker goes on, a new client catches up
    await bot!.close();
    // the bot left mid-run: the end is still to come
    expect(inThread('Final grid at step 3')).toHaveLength(0);
    await waitFor(
      'the run to end while no bot listens',
      async () => {
        const runId = (await runIds()).at(-1);
        const job = await stack.client.hget(
          `bull:${stack.config.queueName}:${runId}`,
          'finishedOn',
        );
        return job !== null;
      },
      RUN_MS,
    );
    await startBot({ messageContent: false });
    await waitInThread('Done: 3 steps');

    expect(inThread('Step 2 / 3')).toHaveLength(1);
    expect(inThread('Step 3 / 3')).toHaveLength(1);
    expect(inThread('Done: 3 steps')).toHaveLength(1);
    const final = inThread('Final grid at step 3');
    expect(final).toHaveLength(1);
    expect(final[0].content).toContain('Favourites (shown first): 2.');
    const animation = inThread('The run, grid by grid.').at(-1)!;
    expect((await sharp(animation.attachments[0].bytes, { animated: true }).metadata()).pages).toBe(
      4,
    );
  });

  it('GIVEN no Message Content intent WHEN a reply mentions the bot with new text THEN it steers from where the run stopped', async () => {
    // without the intent, a plain reply arrives empty and is not taken
    fake.reply(alice, thread, 'oil painting');
    fake.reply(alice, thread, `<@${fake.bot.id}> oil painting`);
    await waitInThread('Steering from bronze statue @\u200beveryone toward **oil painting**');
    await waitInThread('Done: 1 step', 2);
    expect(inThread('Steering from')).toHaveLength(1);
    expect(
      inThread('Final grid at step 1: bronze statue @\u200beveryone → **oil painting**'),
    ).toHaveLength(1);
    // the reaction still finds grids posted before the restart
    const firstFinal = inThread('Final grid at step 1')[0];
    fake.react(bob, firstFinal.id, '1️⃣');
    const favourites = new Favourites(stack.client, stack.config.queueName);
    await waitFor('favourite 1', async () =>
      (await favourites.list('discord', thread)).includes(1),
    );
  });

  it('GIVEN 🔁 on a grid THEN new samples of the latest generator come without training, and the thread goes on from the trained run', async () => {
    const steered = inThread('Final grid at step 1: bronze statue')[0];
    fake.react(bob, steered.id, '🔁');
    const redraw = (await waitInThread('New samples from the generator at step 1'))[0];
    await waitFor(
      'the redraw to end',
      () => lastQueueLine(fake.channelMessages(thread)) === 'done',
    );
    // same grid layout, other faces than the trained run's own step-1 grid
    const own = inThread('Step 1 / 1').at(-1)!.attachments[0].bytes;
    const drawn = redraw.attachments[0].bytes;
    const [a, b] = await Promise.all([own, drawn].map((x) => sharp(x).raw().toBuffer()));
    expect(a.length).toBe(b.length);
    let differing = 0;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) differing++;
    expect(differing / a.length).toBeGreaterThan(0.1);
    // its numbers mark no favourites, and no training step was counted
    const favourites = new Favourites(stack.client, stack.config.queueName);
    const before = await favourites.list('discord', thread);
    fake.react(bob, redraw.id, '3️⃣');
    fake.reply(alice, thread, `<@${fake.bot.id}> save`);
    await waitInThread('Favourites 1, 2 at step 1');
    expect(await favourites.list('discord', thread)).toEqual(before);
    // the thread's run is still the trained one
    const latest = await new ThreadRuns(stack.client, stack.config.queueName).byThread(
      'discord',
      thread,
    );
    expect((await new ChatRuns(stack.client, stack.config.queueName).get(latest!))?.kind).toBe(
      'steer',
    );
  });
});

describe('Discord: stopping and limits', () => {
  let stopThread: string;

  it('GIVEN a running run WHEN someone else presses stop THEN it is refused; WHEN the requester reacts ⏹ THEN it stops', async () => {
    const id = fake.slashCommand(alice, 'nada', { prompt: 'sketch', steps: 20 });
    const reply = await waitFor('the reply', () => fake.interactionReply(id));
    stopThread = await waitFor('the thread', () => fake.threadOn(reply.id));
    const posts = () => fake.channelMessages(stopThread);
    const grid0 = await waitFor(
      'the first grid',
      () => posts().find((m) => m.content.startsWith('Step 0 / 20')),
      RUN_MS,
    );

    // bob's button press is refused, privately
    const queueLine = posts()[0];
    expect(queueLine.buttons).toHaveLength(1);
    const click = fake.clickButton(bob, queueLine.id, queueLine.buttons[0]);
    await waitFor('the refusal', () => fake.interactionAnswer(click));
    expect(fake.interactionAnswer(click)).toBe('ephemeral');
    expect(fake.interactionReply(click)!.content).toContain('Only **alice**');

    // while it runs, a second command of alice's is over her limit of one run
    const second = fake.slashCommand(alice, 'nada', { prompt: 'watercolour', steps: 1 });
    const refusal = await waitFor('the quota reply', () => fake.interactionReply(second));
    expect(refusal.ephemeral).toBe(true);
    expect(refusal.content).toContain('1 run queued or running, the limit per person');

    // bob's run waits behind it; its queue line moves up when the worker takes it
    const bobs = fake.slashCommand(bob, 'nada', { prompt: 'watercolour', steps: 1 });
    const bobReply = await waitFor("bob's reply", () => fake.interactionReply(bobs));
    const bobThread = await waitFor("bob's thread", () => fake.threadOn(bobReply.id));
    const bobQueue = await waitFor("bob's queue line", () => fake.channelMessages(bobThread)[0]);
    expect(bobQueue.history[0]).toBe('Queue position: 1 run ahead.');

    // alice's reaction stops it between two steps
    fake.react(alice, grid0.id, '⏹️');
    await waitFor(
      'the stop',
      () => posts().find((m) => m.content.includes('as asked; a checkpoint is kept')),
      RUN_MS,
    );
    const stopped = posts().find((m) => m.content.includes('as asked; a checkpoint is kept'))!;
    const step = Number(/Stopped at step (\d+)/.exec(stopped.content)![1]);
    expect(step).toBeLessThan(20);
    await waitFor('the stop acknowledged', () =>
      posts().some((m) => m.content.includes('Stopping after the current step')),
    );
    expect(posts()[0].history.at(-1)).toBe('Queue position: done.');
    expect(posts()[0].buttons).toEqual([]);
    await waitFor(
      "bob's run to end",
      () => bobQueue.history.at(-1) === 'Queue position: done.',
      RUN_MS,
    );
    expect(bobQueue.history).toContain('Queue position: running now.');
  });

  it('GIVEN the daily quota nearly spent THEN a larger run is refused naming the quota', async () => {
    // alice asked 1 + 2 + 1 + 20 = 24 steps today, the quota
    const id = fake.slashCommand(alice, 'nada', { prompt: 'charcoal', steps: 2 });
    const reply = await waitFor('the quota reply', () => fake.interactionReply(id));
    expect(reply.ephemeral).toBe(true);
    expect(reply.content).toContain(`the daily quota is ${DAILY_STEPS} steps per person`);
    expect(reply.content).toContain('you have 0 left today');
  });

  it('GIVEN a channel the operator did not allow THEN the command is refused there', async () => {
    const id = fake.slashCommand(
      bob,
      'nada',
      { prompt: 'charcoal', steps: 1 },
      { channelId: fake.otherChannelId },
    );
    const reply = await waitFor('the channel reply', () => fake.interactionReply(id));
    expect(reply.ephemeral).toBe(true);
    expect(reply.content).toContain('I do not take commands in this channel');
    expect(fake.threadOn(reply.id)).toBeUndefined();
  });
});

// 'done' once the newest queue line of a thread shows the run ended.
function lastQueueLine(posts: FakeMessage[]): string | undefined {
  const lines = posts.filter((m) => m.history[0]?.startsWith('Queue position'));
  return lines.at(-1)?.content === 'Queue position: done.' ? 'done' : undefined;
}

// The run ids of the jobs on the queue, oldest first (run ids sort by time).
async function runIds(): Promise<string[]> {
  const keys = await stack.client.keys(`bull:${stack.config.queueName}:*`);
  const ids = keys
    .map((k) => k.split(':').at(-1)!)
    .filter((id) => /^\d{8}-\d{6}-[0-9a-f]+$/.test(id));
  return ids.sort();
}
