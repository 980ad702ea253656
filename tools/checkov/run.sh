#!/usr/bin/env bash
# checkov over terraform/, in a virtualenv of its own: checkov pins its own boto3 and
# installs a module named `hcl2` (bc-python-hcl2) that would shadow the project's
# python-hcl2, so it never goes into .venv.
#
#   tools/checkov/run.sh                 # build .cache/checkov-venv if needed, then scan
#   tools/checkov/run.sh --install-only  # only build the virtualenv (CI's install step)
#
# The versions are locked with hashes in requirements.txt (from requirements.in:
#   uv pip compile --generate-hashes --universal --python-version 3.11 requirements.in -o requirements.txt).
# Skipped checks and why: skips.yaml. Exit status: checkov's (1 on any failed check).
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=.cache/checkov-venv
requirements=tools/checkov/requirements.txt
stamp="$venv/.requirements.sha256"
wanted=$(sha256sum "$requirements" | cut -d' ' -f1)

if [ ! -x "$venv/bin/checkov" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    --require-hashes --no-deps -r "$requirements"
  echo "$wanted" > "$stamp"
fi

if [ "${1:-}" = "--install-only" ]; then
  exit 0
fi

# skips.yaml maps each skipped check id to its reason; checkov gets the ids.
skips=$("$venv/bin/python" - <<'PY'
import yaml

with open("tools/checkov/skips.yaml", encoding="utf-8") as f:
    skips = yaml.safe_load(f) or {}
print(",".join(sorted(skips)))
PY
)

exec "$venv/bin/checkov" -d terraform --framework terraform --quiet --compact \
  --skip-download --skip-check "$skips"
