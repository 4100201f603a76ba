import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/postgres-server.ts'],
    // A hang detector, not a speed target: long end-to-end tests take 30–45 s on a loaded machine.
    testTimeout: 180_000,
    hookTimeout: 120_000,
    // Two cores: PGlite instances are heavy, so keep file-level parallelism modest.
    maxWorkers: 2,
  },
});
