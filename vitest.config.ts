import { configDefaults, defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    // A real Prometheus server: `npm run test:prometheus` (vitest.prometheus.config.ts).
    // A real MLflow server: `npm run test:mlflow` (vitest.mlflow.config.ts).
    exclude: [...configDefaults.exclude, "tests/prometheus/**", "tests/mlflow/**"],
    globalSetup: ["tests/setup/postgres.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    reporters: ["default"],
  },
});
