import { afterAll, beforeAll, expect, it } from 'vitest';
import { startSlackBot, type RunningSlackBot } from '../src/platforms/slack/slack-bot.ts';
import { FakeSlack } from './fakes/slack-api.ts';
import { startNadaStack, type NadaStack } from './fakes/nada-stack.ts';
import { waitFor } from './fakes/wait.ts';

// The real Bolt app in Socket Mode: it opens its connection with `apps.connections.open` on a
// local Slack and takes envelopes over that WebSocket. No worker runs here, so runs stay queued.

let stack: NadaStack;
let fake: FakeSlack;
let bot: RunningSlackBot;

beforeAll(async () => {
  stack = await startNadaStack('slack-socket');
  fake = new FakeSlack();
  fake.mode = 'socket';
  await fake.start();
  bot = await startSlackBot(
    {
      botToken: fake.botToken,
      signingSecret: fake.signingSecret,
      appToken: fake.appToken,
      port: 0,
      maxUploadBytes: 1024 * 1024,
      apiUrl: fake.apiUrl,
    },
    stack.runtime({ access: { allowedChannels: [fake.channel] } }),
  );
});

afterAll(async () => {
  await bot?.close();
  await fake?.stop();
  await stack?.stop();
});

it('GIVEN Socket Mode THEN /nada arrives as an envelope, is acknowledged, and opens a thread', async () => {
  expect(bot.server).toBeUndefined();
  const { status } = await fake.command('U0ALICE', 'bronze statue --steps 1');
  expect(status).toBe(200);
  const root = await waitFor('the answer', () => fake.messages.find((m) => !m.threadTs));
  expect(root.text).toContain('*bronze statue*');
  const line = await waitFor('the queue line', () => fake.thread(root.ts)[0]);
  expect(line.text).toBe('Queue position: next in line.');

  // a refused command answers privately through response_url
  await fake.command('U0BOB', 'sketch', { channel: fake.otherChannel });
  const refusal = await waitFor('the refusal', () => fake.responses[0]);
  expect(refusal).toMatchObject({ responseType: 'ephemeral' });
  expect(refusal.text).toContain('I do not take commands in this channel');
});

it('GIVEN "stop" redelivered with retry_attempt THEN the queued run leaves the queue once', async () => {
  const root = fake.messages.find((m) => !m.threadTs)!;
  const first = await fake.reply('U0ALICE', root.ts, 'stop');
  const again = await fake.event(
    {
      type: 'message',
      channel: fake.channel,
      user: 'U0ALICE',
      text: 'stop',
      ts: '2.000001',
      thread_ts: root.ts,
    },
    { eventId: first.eventId, retryNum: 1 },
  );
  expect([first.status, again.status]).toEqual([200, 200]);
  const removed = 'Your run was taken off the queue before it started.';
  await waitFor('the stop', () => fake.thread(root.ts).some((m) => m.text === removed));
  await waitFor(
    'the queue line to close',
    () => fake.thread(root.ts)[0].text === 'Queue position: done.',
  );
  // a later reply is answered; by then the retry would have been too, had it been taken
  await fake.reply('U0ALICE', root.ts, 'save');
  await waitFor('the answer to save', () =>
    fake.thread(root.ts).some((m) => m.text.startsWith('No favourites yet')),
  );
  expect(fake.thread(root.ts).filter((m) => m.text === removed)).toHaveLength(1);
  expect(fake.thread(root.ts).some((m) => m.text.includes('already finished'))).toBe(false);
  const counts = await stack.client.zcard(`bull:${stack.config.queueName}:wait`);
  expect(counts).toBe(0);
});
