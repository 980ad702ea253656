#!/usr/bin/env bash
# The Terraform under terraform/, checked with the terraform binary:
#   fmt       terraform fmt -check -recursive (the tree itself, read only)
#   init      terraform init -backend=false in every root and module
#   validate  terraform validate in every root and module
#   test      terraform test where a tests/ folder holds *.tftest.hcl (mock providers)
# Everything but fmt runs in a temporary copy of terraform/, so no .terraform folder or
# module lock file is left in the tree; the roots' committed .terraform.lock.hcl files are
# honoured (init fails if the provider does not match them).
#
#   tools/terraform-check.sh                    # every step, every directory
#   tools/terraform-check.sh modules/iam ...    # init, validate, test of these only
#   tools/terraform-check.sh --preflight        # terraform is there and the provider installs
#
# Providers come from the mirror in $TF_PLUGIN_DIR (`terraform init -plugin-dir`), which
# defaults to /opt/tf-plugins when that exists; with no mirror, from the registry (GitHub
# Actions). Directories run $TERRAFORM_CHECK_JOBS at a time (the number of CPUs); each
# step is bounded by $TERRAFORM_CHECK_STEP_TIMEOUT seconds (300).
# Exit status: 0 when every step passed, 1 naming the steps that failed, 2 when terraform
# is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

step_timeout=${TERRAFORM_CHECK_STEP_TIMEOUT:-300}
jobs=${TERRAFORM_CHECK_JOBS:-$(nproc)}
# The oldest terraform that runs the tests: override_during (mock providers) is 1.11.
minimum_version=1.11.0

if ! command -v terraform >/dev/null; then
  echo "terraform-check: no terraform binary on PATH" >&2
  exit 2
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/concertbook-terraform-check.XXXXXX")
# On the way out, this script's own unfinished jobs stop before their folder goes.
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

# No ~/.terraformrc here: an empty CLI configuration rather than a warning on every command.
if [ -z "${TF_CLI_CONFIG_FILE:-}" ] || [ ! -f "$TF_CLI_CONFIG_FILE" ]; then
  export TF_CLI_CONFIG_FILE="$work/terraformrc"
  : >"$TF_CLI_CONFIG_FILE"
fi

version=$(terraform version -json | python3 -c 'import json, sys; print(json.load(sys.stdin)["terraform_version"])')
if [ "$(printf '%s\n%s\n' "$minimum_version" "$version" | sort -V | head -n1)" != "$minimum_version" ]; then
  echo "terraform-check: terraform $version is older than $minimum_version" >&2
  exit 2
fi
export TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1

plugin_dir=${TF_PLUGIN_DIR-}
if [ -z "${TF_PLUGIN_DIR+set}" ] && [ -d /opt/tf-plugins ]; then
  plugin_dir=/opt/tf-plugins
fi
init_args=(-backend=false -input=false -no-color)
if [ -n "$plugin_dir" ]; then
  init_args+=("-plugin-dir=$plugin_dir")
else
  # From the registry: download the provider once for every directory of the copy.
  export TF_PLUGIN_CACHE_DIR="$work/plugin-cache" TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE=true
  mkdir -p "$TF_PLUGIN_CACHE_DIR"
fi

tar -C . --exclude=.terraform --exclude='*.tfstate' --exclude='*.tfstate.*' -cf - terraform |
  tar -C "$work" -xf -

logs="$work/logs"
mkdir -p "$logs"
failures="$logs/failed"
: >"$failures"

# run <step> <dir relative to terraform/> <command...>: one bounded step; its output is
# shown only when it fails.
run() {
  local step=$1 dir=$2
  shift 2
  local log started status took
  log="$logs/$(echo "$step-$dir" | tr '/' '_').log"
  started=$(date +%s)
  status=0
  (cd "$work/terraform/$dir" && timeout --kill-after=10 "$step_timeout" "$@") >"$log" 2>&1 || status=$?
  took=$(($(date +%s) - started))
  if [ "$status" -eq 0 ]; then
    printf 'ok      %-8s %-22s %3ss\n' "$step" "$dir" "$took"
    return 0
  fi
  [ "$status" -eq 124 ] && echo "(timed out after ${step_timeout}s)" >>"$log"
  printf 'FAILED  %-8s %-22s %3ss\n' "$step" "$dir" "$took"
  sed 's/^/    /' "$log"
  echo "$step $dir" >>"$failures"
  return 1
}

# check <dir>: init, validate and (if it has tests) test one root or module.
check() {
  local dir=$1
  if [ ! -d "$work/terraform/$dir" ]; then
    echo "FAILED  no directory terraform/$dir"
    echo "find $dir" >>"$failures"
    return
  fi
  run init "$dir" terraform init "${init_args[@]}" || return 0
  run validate "$dir" terraform validate -no-color || true
  if compgen -G "$work/terraform/$dir/tests/*.tftest.hcl" >/dev/null; then
    run test "$dir" terraform test -no-color || true
  fi
}

if [ "${1:-}" = "--preflight" ]; then
  if run init bootstrap terraform init "${init_args[@]}"; then
    echo "terraform $version, provider source: ${plugin_dir:-the registry}"
    exit 0
  fi
  exit 1
fi

roots=(bootstrap envs/dev envs/prod)
modules=()
for dir in terraform/modules/*/; do
  modules+=("modules/$(basename "$dir")")
done
dirs=("${roots[@]}" "${modules[@]}")
fmt=1
if [ "$#" -gt 0 ]; then
  dirs=("$@")
  fmt=0
fi

echo "terraform $version, provider source: ${plugin_dir:-the registry}, $jobs at a time"
if [ "$fmt" -eq 1 ]; then
  run fmt . terraform fmt -check -recursive -diff -no-color || true
fi
# Directories in parallel, each one's lines together once it is done. From the registry the
# first directory runs alone, so the others find the provider in the cache.
first=0
if [ -z "$plugin_dir" ]; then
  check "${dirs[0]}"
  first=1
fi
running=0
for dir in "${dirs[@]:$first}"; do
  check "$dir" >"$logs/$(echo "$dir" | tr '/' '_').out" 2>&1 &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait || true
for dir in "${dirs[@]:$first}"; do
  cat "$logs/$(echo "$dir" | tr '/' '_').out"
done

if [ -s "$failures" ]; then
  echo "terraform-check: $(wc -l <"$failures") step(s) failed:"
  sed 's/^/  /' "$failures"
  exit 1
fi
echo "terraform-check: every step passed"
