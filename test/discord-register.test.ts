import { afterAll, beforeAll, expect, it } from 'vitest';
import { registerDiscordCommands } from '../deploy/discord-register.ts';
import { readDiscordSettings } from '../src/platforms/discord/discord-config.ts';
import { FakeDiscord } from './fakes/discord-api.ts';

let fake: FakeDiscord;

beforeAll(async () => {
  fake = new FakeDiscord();
  await fake.start();
});

afterAll(async () => fake.stop());

it('GIVEN a guild id THEN /nada and /stop are put into that server with their option limits', async () => {
  const count = await registerDiscordCommands({
    token: 'fake.'.padEnd(60, 'x'),
    appId: fake.appId,
    guildId: fake.guildId,
    apiUrl: fake.apiUrl,
  });
  expect(count).toBe(2);
  const put = fake.registered.get(`/applications/${fake.appId}/guilds/${fake.guildId}/commands`);
  const nada = (put as { name: string; options: Record<string, unknown>[] }[])[0];
  expect(nada.name).toBe('nada');
  expect(nada.options[0]).toMatchObject({
    name: 'prompt',
    type: 3,
    required: true,
    max_length: 300,
  });
  expect(nada.options.map((o) => o.name)).toEqual(['prompt', 'source', 'steps', 'seed']);
});

it('GIVEN no guild id THEN the commands go global', async () => {
  await registerDiscordCommands({
    token: 'fake.'.padEnd(60, 'x'),
    appId: fake.appId,
    apiUrl: fake.apiUrl,
  });
  expect(fake.registered.has(`/applications/${fake.appId}/commands`)).toBe(true);
});

it('names every missing Discord variable and where to get it', () => {
  expect(() => readDiscordSettings({})).toThrow(
    /DISCORD_TOKEN is missing: the bot token: Discord Developer Portal .*DISCORD_APP_ID is missing: Discord Developer Portal → your application → General Information/,
  );
  expect(() =>
    readDiscordSettings({
      DISCORD_TOKEN: 'x'.repeat(60),
      DISCORD_APP_ID: '12',
      DISCORD_MESSAGE_CONTENT: 'yes',
    }),
  ).toThrow(/DISCORD_MESSAGE_CONTENT .*got "yes"/);
});

it('GIVEN DISCORD_TOKEN without DISCORD_APP_ID THEN start-up stops naming it, before Redis is touched', async () => {
  const { loadConfig } = await import('../src/config.ts');
  const { startPlatformBots } = await import('../src/platforms/platform-bots.ts');
  // nothing listens on port 1: reaching Redis would fail with another message
  const env = { REDIS_URL: 'redis://127.0.0.1:1', DISCORD_TOKEN: 'x'.repeat(60) };
  await expect(startPlatformBots(loadConfig(env), env)).rejects.toThrow(
    /DISCORD_APP_ID is missing: Discord Developer Portal/,
  );
});
