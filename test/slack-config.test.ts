import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { readChatPolicy } from '../src/chat/chat-config.ts';
import { readSlackSettings } from '../src/platforms/slack/slack-config.ts';

it('names every missing Slack variable and where to get it', () => {
  expect(() => readSlackSettings({})).toThrow(
    /SLACK_BOT_TOKEN is missing: api\.slack\.com\/apps → your app → OAuth & Permissions .*SLACK_SIGNING_SECRET is missing: .*Signing Secret/,
  );
  expect(() =>
    readSlackSettings({ SLACK_BOT_TOKEN: 'xoxp-123', SLACK_SIGNING_SECRET: 'a'.repeat(32) }),
  ).toThrow(/SLACK_BOT_TOKEN must start with xoxb-, got "xoxp-123"/);
});

it('reads HTTP mode without an app token, Socket Mode with one, and the upload cap', () => {
  const base = { SLACK_BOT_TOKEN: 'xoxb-1', SLACK_SIGNING_SECRET: 'a'.repeat(32) };
  const http = readSlackSettings({ ...base, SLACK_PORT: '3100' });
  expect(http).toMatchObject({ appToken: undefined, port: 3100, maxUploadBytes: 20 * 1024 * 1024 });
  const socket = readSlackSettings({
    ...base,
    SLACK_APP_TOKEN: 'xapp-1',
    SLACK_MAX_UPLOAD_BYTES: '1048576',
  });
  expect(socket).toMatchObject({ appToken: 'xapp-1', maxUploadBytes: 1048576 });
});

it('reads the operator policy: channels, operators and limits', () => {
  const policy = readChatPolicy({
    NADABOT_ALLOWED_CHANNELS: 'C1, C2',
    NADABOT_OPERATORS: 'U9',
    NADABOT_DAILY_STEPS: '300',
  });
  expect(policy.access.allowedChannels).toEqual(['C1', 'C2']);
  expect(policy.access.operators).toEqual(['U9']);
  expect(policy.quotas).toEqual({
    maxRunsPerUser: 1,
    maxRunsPerChannel: 3,
    dailyStepsPerUser: 300,
  });
  expect(() => readChatPolicy({ NADABOT_MAX_RUNS_PER_USER: 'many' })).toThrow(
    /NADABOT_MAX_RUNS_PER_USER/,
  );
});

it('the manifest subscribes to what the bot listens to', () => {
  const manifest = readFileSync(new URL('../deploy/slack-manifest.yaml', import.meta.url), 'utf8');
  for (const needed of [
    'command: /nada',
    'reaction_added',
    'reaction_removed',
    'message.channels',
    'files:write',
    'reactions:read',
    'is_enabled: true',
  ])
    expect(manifest).toContain(needed);
});
