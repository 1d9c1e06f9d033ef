import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // tfjs backends hold global state; run each file in its own process.
    pool: 'forks',
    // two cores: more workers only slow each other down.
    maxWorkers: 2,
  },
});
