#!/usr/bin/env bash
# Makes (or refreshes) a Python virtualenv from a requirements file, for the suites that run real
# Python clients and servers (PyPI packages: openai, dspy, litellm, mlflow).
#   scripts/python-venv.sh <venv dir> <requirements.txt>
# The venv is rebuilt only when the requirements file changed since it was last installed (a hash
# stamp inside the venv), so repeated runs are cheap. Needs PyPI access the first time.
set -euo pipefail
venv="$1"
req="$2"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
echo "creating $venv from $req"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
echo "$want" > "$stamp"
