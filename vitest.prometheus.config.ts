import { defineConfig } from "vitest/config";

/**
 * `npm run test:prometheus`: the dashboards and alert rules against a real Prometheus server
 * (Debian's `prometheus` package, installed by .ci/run). Kept out of `npm test`, which needs no
 * Prometheus. The gateway runs on the embedded database, so no PostgreSQL setup is needed.
 */
export default defineConfig({
  test: {
    include: ["tests/prometheus/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 300_000,
    pool: "forks",
    reporters: ["default"],
  },
});
