import { configDefaults, defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    // A real Prometheus server: `npm run test:prometheus` (vitest.prometheus.config.ts).
    // A real MLflow server: `npm run test:mlflow` (vitest.mlflow.config.ts).
    // Real Python clients (openai, DSPy, LiteLLM, LangGraph): `npm run test:interop`.
    exclude: [...configDefaults.exclude, "tests/prometheus/**", "tests/mlflow/**", "tests/interop/**"],
    globalSetup: ["tests/setup/postgres.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    reporters: ["default"],
  },
});
