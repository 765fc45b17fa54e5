import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Chooses Chromium and PostgreSQL once per run: the system's, else npm-shipped ones.
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: PostgreSQL-backed files each create their own database, so they may run in
    // parallel, but more workers than cores only adds contention.
    maxWorkers: 2,
  },
});
