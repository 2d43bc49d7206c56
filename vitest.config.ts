import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', 'data/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Child processes started by tests (`bin/careflow.js`) run the TypeScript sources, never a stale dist/.
    // Every JSON answer of the API is checked against its documented response schema (api/define-route.ts).
    env: { CAREFLOW_FROM_SOURCE: '1', CAREFLOW_CHECK_RESPONSES: '1' },
  },
});
