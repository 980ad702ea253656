#!/usr/bin/env bash
# Builds vegeta, the open-loop HTTP load generator the rehearsal measures latency at a fixed
# request rate with (wrk keeps a fixed number of connections busy instead, which hides
# queueing from its latencies), through the Go module proxy into .cache/bin/vegeta
# (gitignored). Idempotent: a binary of this version is kept.
set -euo pipefail
cd "$(dirname "$0")/.."

VEGETA_MODULE=github.com/tsenart/vegeta/v12
VEGETA_VERSION=v12.13.0
BIN_DIR="$PWD/.cache/bin"
BIN="$BIN_DIR/vegeta"

if ! command -v go >/dev/null; then
  echo "tools/build-vegeta.sh needs Go (1.26 or newer) on PATH" >&2
  exit 1
fi

if [[ -x "$BIN" ]] && go version -m "$BIN" | grep -q "^[[:space:]]*path[[:space:]]*$VEGETA_MODULE\b" \
  && go version -m "$BIN" | grep -q "[[:space:]]$VEGETA_VERSION[[:space:]]"; then
  echo "vegeta $VEGETA_VERSION is already built: $BIN"
  exit 0
fi

mkdir -p "$BIN_DIR"
GOBIN="$BIN_DIR" CGO_ENABLED=0 go install "$VEGETA_MODULE@$VEGETA_VERSION"
echo "built vegeta $VEGETA_VERSION: $BIN"
