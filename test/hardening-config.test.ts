import { describe, expect, it } from 'vitest';

import { loadConfig } from '../src/config.ts';
import { isNadaError } from '../src/errors.ts';

// Pinned by settings that passed the check and failed later without naming the variable:
// REDIS_URL=redis://[::1 stopped `nadabot bot` with "Invalid URL", NADABOT_HOST="bad host"
// with "getaddrinfo ENOTFOUND bad host", and NADABOT_PORT=0x50 quietly meant port 80.

function refusal(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    if (isNadaError(err, 'config.invalid')) return err.message;
    throw err;
  }
  throw new Error(`${JSON.stringify(env)} was accepted`);
}

describe('GIVEN a setting that only looks right WHEN the configuration loads', () => {
  it.each([
    [
      { REDIS_URL: 'redis://[::1' },
      'REDIS_URL must look like redis://host:port (it is not a valid URL), got "redis://[::1"',
    ],
    [
      { NADABOT_HOST: 'bad host' },
      'NADABOT_HOST must be a host name or an IP address, e.g. 127.0.0.1, got "bad host"',
    ],
    [{ NADABOT_PORT: '0x50' }, 'NADABOT_PORT must be a whole number from 0 to 65535, got "0x50"'],
    [
      { NADABOT_PORT: 'eighty' },
      'NADABOT_PORT must be a whole number from 0 to 65535, got "eighty"',
    ],
    [{ NADABOT_PORT: '1e3' }, 'NADABOT_PORT must be a whole number from 0 to 65535, got "1e3"'],
  ])('%j THEN one line names the variable and what arrived', (env, line) => {
    expect(refusal(env)).toBe(`${line}: fix or unset it and start again`);
  });

  it('THEN the forms people use still load', () => {
    const config = loadConfig({
      REDIS_URL: 'redis://[::1]:6380/2',
      NADABOT_HOST: '::1',
      NADABOT_PORT: '0',
    });
    expect(config.redisUrl).toBe('redis://[::1]:6380/2');
    expect(config.local).toEqual({ host: '::1', port: 0 });
    expect(loadConfig({ NADABOT_HOST: 'nadabot.local' }).local.port).toBe(8787);
  });
});
