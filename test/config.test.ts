import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { isNadaError } from '../src/errors.ts';

function configError(env: Record<string, string>): Error {
  try {
    loadConfig(env);
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected loadConfig to refuse ' + JSON.stringify(env));
}

describe('configuration', () => {
  it('GIVEN no variables THEN the documented defaults apply', () => {
    const config = loadConfig({});
    expect(config.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(config.local).toEqual({ host: '127.0.0.1', port: 8787 });
    expect(config.modelId).toBe('demo');
    expect(config.artifactsDir).toBe(`${process.cwd()}/artifacts`);
    expect(config.discord).toBeUndefined();
    expect(config.slack).toBeUndefined();
  });

  it('GIVEN values THEN they are parsed and an empty variable counts as unset', () => {
    const config = loadConfig({ NADABOT_PORT: '9000', NADABOT_STEPS: '8', NADABOT_MODEL: '' });
    expect(config.local.port).toBe(9000);
    expect(config.training.defaultSteps).toBe(8);
    expect(config.modelId).toBe('demo');
  });

  it.each([
    [{ NADABOT_PORT: 'abc' }, 'NADABOT_PORT', '"abc"'],
    [{ NADABOT_PORT: '70000' }, 'NADABOT_PORT', 'at most 65535'],
    [{ NADABOT_LOG_LEVEL: 'loud' }, 'NADABOT_LOG_LEVEL', 'one of trace'],
    [{ REDIS_URL: 'localhost:6379' }, 'REDIS_URL', 'redis://'],
    [{ NADABOT_BACKEND: 'gpu' }, 'NADABOT_BACKEND', 'tensorflow, wasm, cpu'],
    [{ NADABOT_STEPS: '5000' }, 'NADABOT_STEPS', 'NADABOT_MAX_STEPS'],
  ])('GIVEN %j THEN the error names %s', (env, variable, detail) => {
    const err = configError(env);
    expect(isNadaError(err, 'config.invalid')).toBe(true);
    expect(err.message.startsWith(variable)).toBe(true);
    expect(err.message).toContain(detail);
  });
});
