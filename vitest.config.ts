import { defineConfig } from 'vitest/config';
import { scaled } from './test/helpers/slowdown.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/postgres-server.ts'],
    // A hang detector, not a speed target: long end-to-end tests take 30–45 s on a loaded machine.
    // REEMBED_TEST_SLOWDOWN (test/helpers/slowdown.ts) scales it for slower machines.
    testTimeout: scaled(180_000),
    hookTimeout: scaled(120_000),
    // Two cores: PGlite instances are heavy, so keep file-level parallelism modest.
    maxWorkers: 2,
  },
});
