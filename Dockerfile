# syntax=docker/dockerfile:1
# agentgate: model registry and A/B gateway. Two stages: compile TypeScript with dev dependencies,
# then a slim runtime with production dependencies only, running as the unprivileged `node` user.
# HOST=0.0.0.0 so the server is reachable from outside the container; `serve` migrates at start.

FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are copied; we build explicitly below.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
RUN npm run build

FROM node:24-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    AGENTGATE_DATA_DIR=/var/lib/agentgate
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY dashboards ./dashboards
RUN mkdir -p /var/lib/agentgate && chown node:node /var/lib/agentgate
# The image's unprivileged `node` user, by number so that runtimes can verify it is not root
# (Kubernetes runAsNonRoot checks a numeric uid).
USER 1000:1000
VOLUME ["/var/lib/agentgate"]
EXPOSE 8080
# Liveness only; /readyz (database + routing table) is for load balancers.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Exec form so SIGTERM reaches Node and the server drains; `serve` runs migrations at start.
# The flag is the server's (src/node-flags.ts: a larger young generation, less GC per call).
CMD ["node", "--max-semi-space-size=32", "dist/src/cli/index.js", "serve"]
