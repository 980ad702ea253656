#!/usr/bin/env bash
# terraform/envs/dev applied to moto's server, then a booking through what it made
# (docs/DEPLOY.md, "Applying against an emulator"). Prints what was planned, applied and
# left out by resource type, the time of each step, and the booking.
#
#   tools/emulator-apply.sh                    # in a temporary folder, removed afterwards
#   tools/emulator-apply.sh --keep DIR         # keep the Terraform copy, its state and logs
#   tools/emulator-apply.sh --no-booking       # stop after the apply
#   tools/emulator-apply.sh --parallelism 20   # terraform apply -parallelism
#
# Needs terraform and the hashicorp/aws provider in $TF_PLUGIN_DIR (default /opt/tf-plugins).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m tests.emulator_stack "$@"
