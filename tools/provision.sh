#!/usr/bin/env bash
# Installs and builds everything the test suite starts, so that `make test` on a fresh
# machine runs every test: the Debian packages (curl, redis-server, wrk, haproxy, gcc), the
# Lambda Runtime Interface Emulator and vegeta (built from Go source), the single-node
# OpenSearch with Korean analysis (built with Maven), checkov's own virtualenv and the
# terraform provider from the mirror. Every step is idempotent (cached in .cache/) and
# says what it does and how long it took. A step that cannot run here (no root for apt, no
# Go, no Java) is reported and the rest go on: the tests that need it then skip with that
# reason, except under CONCERTBOOK_REQUIRE_SERVICES=1 (CI), where they fail.
#
#   tools/provision.sh           # everything
#   tools/provision.sh --strict  # stop at the first step that fails (CI)
set -uo pipefail
cd "$(dirname "$0")/.."

strict=0
[ "${1:-}" = "--strict" ] && strict=1
failed=()

step() {
  local name=$1
  shift
  local started=$SECONDS
  printf 'provision: %s ...\n' "$name"
  if "$@"; then
    printf 'provision: %s done in %ds\n' "$name" $((SECONDS - started))
  else
    printf 'provision: %s FAILED after %ds (the tests that need it will skip)\n' \
      "$name" $((SECONDS - started)) >&2
    failed+=("$name")
    if [ "$strict" = 1 ]; then
      exit 1
    fi
  fi
}

have() {
  command -v "$1" >/dev/null || [[ -x "/usr/sbin/$1" ]]
}

# One `apt-get update` for every package that is missing, then one install.
debian_packages() {
  local missing=()
  have curl || missing+=(curl)
  have redis-server || missing+=(redis-server)
  have wrk || missing+=(wrk)
  have haproxy || missing+=(haproxy)
  have gcc || missing+=(gcc)
  if [ ${#missing[@]} -eq 0 ]; then
    echo "  curl, redis-server, wrk, haproxy and gcc are installed"
    return 0
  fi
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    if ! sudo -n true 2>/dev/null; then
      echo "  missing ${missing[*]}: install them as root (apt-get install ${missing[*]})" >&2
      return 1
    fi
    sudo=(sudo -n)
  fi
  echo "  installing ${missing[*]}"
  "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
}

step "Debian packages" debian_packages
step "Lambda Runtime Interface Emulator" tools/build-rie.sh
step "vegeta" tools/build-vegeta.sh
step "OpenSearch with Korean analysis" tools/build-opensearch.sh
step "checkov" tools/checkov/run.sh --install-only
step "terraform and its aws provider" tools/terraform-check.sh --preflight

if [ ${#failed[@]} -gt 0 ]; then
  printf 'provision: not available here: %s\n' "${failed[*]}" >&2
fi
exit 0
