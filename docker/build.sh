#!/usr/bin/env bash
# Builds the shared base and every function image (docker/*.Dockerfile but base and local),
# for Lambda: one platform, no provenance attestation (Lambda wants a single-platform
# manifest, not an index). With --push, pushes the function images (the base is only a
# build stage of theirs and stays local).
#
#   docker/build.sh                        # concertbook-{api,workers,indexer}:<commit>
#   REGISTRY=123456789012.dkr.ecr.ap-northeast-2.amazonaws.com TAG=$GITHUB_SHA docker/build.sh --push
#
# Environment: REGISTRY (prefix of the repositories; unset: local names), TAG (default: the
# commit, with -dirty for a changed work tree), PLATFORM (default linux/amd64, the
# functions' x86_64 architecture; linux/arm64 for Graviton).
set -euo pipefail
cd "$(dirname "$0")/.."

push=false
case "${1:-}" in
  --push) push=true ;;
  "") ;;
  *) echo "usage: docker/build.sh [--push]" >&2; exit 2 ;;
esac

revision=$(git rev-parse HEAD)
tag=${TAG:-$(git describe --always --dirty --abbrev=40 --match=none)}
platform=${PLATFORM:-linux/amd64}
prefix=${REGISTRY:+$REGISTRY/}
base="concertbook-base:$tag"

build() {
  docker build --platform "$platform" --provenance=false "$@" .
}

build -f docker/base.Dockerfile --build-arg "REVISION=$revision" -t "$base"
for dockerfile in docker/*.Dockerfile; do
  image=$(basename "$dockerfile" .Dockerfile)
  case "$image" in base | local) continue ;; esac
  name="${prefix}concertbook-$image:$tag"
  build -f "$dockerfile" --build-arg "BASE_IMAGE=$base" -t "$name"
  if $push; then
    docker push "$name"
  fi
  echo "built $name"
done
