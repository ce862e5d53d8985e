#!/usr/bin/env bash
# Proves that tests/golden/stats-reference.json really comes from make_stats_reference.py:
# regenerates it into a temporary file with the repo's virtualenv and compares the two
# numerically (compare_stats_reference.py). Exit status non-zero on any mismatch.
#
# The virtualenv is `<repo>/.venv` (git-ignored; override with STATS_VENV). When it is missing or
# lacks the libraries, it is created from tests/golden/requirements.txt (needs PyPI access).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${STATS_VENV:-$root/.venv}"
py="$venv/bin/python"

if ! "$py" -c 'import numpy, scipy, statsmodels' >/dev/null 2>&1; then
  echo "creating $venv from tests/golden/requirements.txt"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
fi

tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
"$py" "$here/make_stats_reference.py" --out "$tmp"
"$py" "$here/compare_stats_reference.py" "$here/stats-reference.json" "$tmp"
