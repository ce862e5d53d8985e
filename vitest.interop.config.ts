import { defineConfig } from "vitest/config";

/**
 * `npm run test:interop`: real Python clients (the official `openai` SDK, DSPy, LiteLLM from PyPI)
 * calling agentgate. The virtualenv is `.venv-interop/`, made by `scripts/python-venv.sh` from
 * tests/interop/requirements.txt (the npm script does it first). Kept out of `npm test`.
 */
export default defineConfig({
  test: {
    include: ["tests/interop/**/*.test.ts"],
    globalSetup: ["tests/setup/postgres.ts"],
    testTimeout: 180_000,
    hookTimeout: 300_000,
    pool: "forks",
    fileParallelism: false,
    reporters: ["default"],
  },
});
