#!/bin/sh
# The entrypoint of every function image (copied into the base as /usr/local/bin/lambda-entrypoint).
# A single argument that is not a command is a Lambda handler (`module.function`), served by
# awslambdaric; with no Lambda Runtime API around (a plain `docker run`) and the emulator
# mounted at /aws-lambda, it runs under the emulator. Any other command
# (`concertbook serve ...`, `concertbook work`) runs as given.
set -eu
if [ "$#" -eq 1 ] && ! command -v "$1" >/dev/null 2>&1; then
  if [ -z "${AWS_LAMBDA_RUNTIME_API:-}" ] && [ -x /aws-lambda/aws-lambda-rie ]; then
    exec /aws-lambda/aws-lambda-rie python -m awslambdaric "$1"
  fi
  exec python -m awslambdaric "$1"
fi
exec "$@"
