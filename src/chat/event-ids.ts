import type { Redis } from 'ioredis';

// Platforms redeliver within minutes; a day covers every retry schedule with room to spare.
const TTL_SECONDS = 24 * 3600;

/**
 * The platform events already handled (interaction ids, Slack event ids and trigger ids), in
 * Redis so that a redelivery, to this process or another, is recognised and ignored.
 */
export class ProcessedEvents {
  constructor(
    private readonly redis: Redis,
    private readonly queueName: string,
  ) {}

  /** True the first time `eventId` is seen on `platform`, false on every redelivery. */
  async firstTime(platform: string, eventId: string): Promise<boolean> {
    const key = `nadabot:${this.queueName}:event:${platform}:${eventId}`;
    return (await this.redis.set(key, '1', 'EX', TTL_SECONDS, 'NX')) === 'OK';
  }
}
