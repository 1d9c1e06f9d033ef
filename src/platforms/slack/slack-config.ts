import { z } from 'zod';
import { readEnv } from '../../chat/chat-config.ts';

/** Slack's variables, each with where its value comes from. */
export const slackVariables = {
  SLACK_BOT_TOKEN: {
    schema: z.string().regex(/^xoxb-/, 'must start with xoxb-'),
    where: 'api.slack.com/apps → your app → OAuth & Permissions → Bot User OAuth Token',
  },
  SLACK_SIGNING_SECRET: {
    schema: z.string().min(16, 'is too short for a signing secret'),
    where: 'api.slack.com/apps → your app → Basic Information → App Credentials → Signing Secret',
  },
  SLACK_APP_TOKEN: {
    schema: z
      .string()
      .regex(/^xapp-/, 'must start with xapp-')
      .optional(),
    where:
      'for Socket Mode: Basic Information → App-Level Tokens → Generate (scope connections:write); unset serves HTTP on SLACK_PORT',
  },
  SLACK_PORT: {
    schema: z.coerce.number().int().min(0).max(65535).default(3000),
    where: 'the port Slack’s requests reach in HTTP mode (Request URL …/slack/events)',
  },
  SLACK_MAX_UPLOAD_BYTES: {
    schema: z.coerce
      .number()
      .int()
      .min(64 * 1024)
      .default(20 * 1024 * 1024),
    where: 'the largest image the bot uploads, bytes (Slack takes up to 1 GB; default 20 MiB)',
  },
  SLACK_API_URL: {
    schema: z.url().optional(),
    where: 'only for a proxy or a test server: the Web API base, e.g. http://127.0.0.1:8080/api/',
  },
};

/** Slack's settings, checked at start-up. */
export interface SlackSettings {
  botToken: string;
  signingSecret: string;
  /** set: Socket Mode; unset: HTTP mode on `port` */
  appToken?: string;
  port: number;
  maxUploadBytes: number;
  apiUrl?: string;
}

/**
 * Reads Slack's settings from the environment; a missing or bad variable stops start-up
 * with its name and where to find the value.
 */
export function readSlackSettings(env: NodeJS.ProcessEnv = process.env): SlackSettings {
  const e = readEnv(slackVariables, env);
  return {
    botToken: e.SLACK_BOT_TOKEN,
    signingSecret: e.SLACK_SIGNING_SECRET,
    appToken: e.SLACK_APP_TOKEN,
    port: e.SLACK_PORT,
    maxUploadBytes: e.SLACK_MAX_UPLOAD_BYTES,
    apiUrl: e.SLACK_API_URL,
  };
}
