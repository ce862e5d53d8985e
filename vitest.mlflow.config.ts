import { defineConfig } from "vitest/config";

/**
 * `npm run test:mlflow`: the MLflow client and `agentgate mlflow sync` against a real MLflow
 * tracking server (PyPI `mlflow`, SQLite backend, loopback port). The virtualenv is
 * `.venv-mlflow/`, made by `scripts/python-venv.sh` from tests/mlflow/requirements.txt (the npm
 * script does it first). Kept out of `npm test`.
 */
export default defineConfig({
  test: {
    include: ["tests/mlflow/**/*.test.ts"],
    globalSetup: ["tests/setup/postgres.ts"],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: "forks",
    fileParallelism: false,
    reporters: ["default"],
  },
});
