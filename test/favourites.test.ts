import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Favourites } from '../src/chat/favourites.ts';
import { reactionAction } from '../src/chat/reactions.ts';
import { freshQueueName, startTestRedis, type TestRedis } from './helpers/redis.ts';

let server: TestRedis;
let redis: Redis;

beforeAll(async () => {
  server = await startTestRedis();
  redis = new Redis(server.url);
});

afterAll(async () => {
  redis.disconnect();
  await server.stop();
});

describe('favourites of a thread', () => {
  it('GIVEN two marks WHEN one is taken back THEN only the other stays', async () => {
    const favourites = new Favourites(redis, freshQueueName('fav'));
    await favourites.mark('discord', 't1', 3, 'alice');
    await favourites.mark('discord', 't1', 1, 'alice');
    expect(await favourites.list('discord', 't1')).toEqual([1, 3]);

    await favourites.unmark('discord', 't1', 3, 'alice');
    expect(await favourites.list('discord', 't1')).toEqual([1]);
  });

  it('GIVEN two people marked a sample WHEN one takes it back THEN it stays marked', async () => {
    const favourites = new Favourites(redis, freshQueueName('fav'));
    await favourites.mark('slack', 't2', 2, 'alice');
    await favourites.mark('slack', 't2', 2, 'bob');
    await favourites.unmark('slack', 't2', 2, 'alice');
    expect(await favourites.list('slack', 't2')).toEqual([2]);
    await favourites.unmark('slack', 't2', 2, 'bob');
    expect(await favourites.list('slack', 't2')).toEqual([]);
  });

  it('keeps threads and platforms apart', async () => {
    const favourites = new Favourites(redis, freshQueueName('fav'));
    await favourites.mark('discord', 't3', 4, 'alice');
    expect(await favourites.list('slack', 't3')).toEqual([]);
    expect(await favourites.list('discord', 't4')).toEqual([]);
  });
});

describe('reaction emoji', () => {
  it('reads keycaps 1 to 10, stop and redraw, with or without the variation selector', () => {
    expect(reactionAction('1️⃣')).toEqual({ kind: 'sample', sample: 1 });
    expect(reactionAction('7\u20e3')).toEqual({ kind: 'sample', sample: 7 });
    expect(reactionAction('🔟')).toEqual({ kind: 'sample', sample: 10 });
    expect(reactionAction('⏹')).toEqual({ kind: 'stop' });
    expect(reactionAction('⏹️')).toEqual({ kind: 'stop' });
    expect(reactionAction('🔁')).toEqual({ kind: 'redraw' });
    expect(reactionAction('👍')).toBeUndefined();
  });
});
