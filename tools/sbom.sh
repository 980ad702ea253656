#!/usr/bin/env bash
# What each container image installs: a CycloneDX SBOM (<image>.cdx.json) and a licence
# listing (<image>-licences.md) per image, by cyclonedx-py (tools/sbom/). Exits 1 when a
# licence is unknown or on the deny list (tools/sbom/licences.py), after writing the files.
#
#   tools/sbom.sh                       # every docker/*.Dockerfile, its install reproduced here: reports/sbom/
#   tools/sbom.sh --out DIR api local   # some images, elsewhere
#   tools/sbom.sh --venv .venv --os / --out sbom base api workers indexer
#                                       # an installed environment and its file system (the
#                                       # Dockerfiles' sbom stage: the image's Debian packages too)
#
# Here (a checkout with `make`'s .venv) it runs with the dev dependencies of uv.lock. In an
# image build there is no such .venv: cyclonedx-bom is installed at uv.lock's version, with
# its locked dependencies and their hashes, into a throwaway virtualenv of its own, never
# into the image's environment.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -x .venv/bin/cyclonedx-py ]]; then
  exec .venv/bin/python -m tools.sbom "$@"
fi

uv=$(command -v uv || true)
if [[ -z "$uv" ]]; then
  echo "tools/sbom.sh needs uv (the Makefile's .venv has it; the image build copies it)" >&2
  exit 2
fi
tool=$(mktemp -d "${TMPDIR:-/tmp}/concertbook-sbom-tool.XXXXXX")
trap 'rm -rf "$tool"' EXIT
version=$(python3 -c '
import tomllib
lock = tomllib.load(open("uv.lock", "rb"))
print(next(p["version"] for p in lock["package"] if p["name"] == "cyclonedx-bom"))')
"$uv" export --frozen --only-group dev --no-emit-project --quiet -o "$tool/pins.txt"
"$uv" venv --quiet --python "$(command -v python3)" "$tool/venv"
"$uv" pip install --quiet --python "$tool/venv/bin/python" --require-hashes \
  -c "$tool/pins.txt" "cyclonedx-bom==$version"
"$tool/venv/bin/python" -m tools.sbom "$@"
