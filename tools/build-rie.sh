#!/usr/bin/env bash
# Builds the AWS Lambda Runtime Interface Emulator (RIE) from source through the Go module
# proxy into .cache/bin/aws-lambda-rie (gitignored), for tests/integration/test_lambda_rie.py, which
# runs the API's Lambda handler under it. Idempotent: a binary of this version is kept.
set -euo pipefail
cd "$(dirname "$0")/.."

# The RIE's release tags (v1.x) are not served by the module proxy (403), so this pins the
# pseudo-version of the newest commit it does serve (`go list -m <module>@latest`).
RIE_MODULE=github.com/aws/aws-lambda-runtime-interface-emulator
RIE_VERSION=v0.0.0-20261030222936-bef5c4ba774d
BIN_DIR="$PWD/.cache/bin"
BIN="$BIN_DIR/aws-lambda-rie"

if ! command -v go >/dev/null; then
  echo "tools/build-rie.sh needs Go (1.26 or newer) on PATH" >&2
  exit 1
fi

# `go version -m` reads the module version embedded in the binary.
if [[ -x "$BIN" ]] && go version -m "$BIN" | grep -q "^[[:space:]]*mod[[:space:]]*$RIE_MODULE[[:space:]]*$RIE_VERSION\b"; then
  echo "aws-lambda-rie $RIE_VERSION is already built: $BIN"
  exit 0
fi

mkdir -p "$BIN_DIR"
GOBIN="$BIN_DIR" CGO_ENABLED=0 go install "$RIE_MODULE/cmd/aws-lambda-rie@$RIE_VERSION"
echo "built aws-lambda-rie $RIE_VERSION: $BIN"
