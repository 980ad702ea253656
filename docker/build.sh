#!/usr/bin/env bash
# Builds the shared base and every function image (docker/*.Dockerfile but base and local),
# for Lambda: one platform, no provenance attestation (Lambda wants a single-platform
# manifest, not an index). With --push, builds nothing and pushes the function images built
# before (here or loaded with `docker load`) to $REGISTRY; the base is only a build stage of
# theirs and stays local.
#
#   docker/build.sh                     # concertbook-base and concertbook-{api,workers,indexer}:<tag>
#   REGISTRY=123456789012.dkr.ecr.ap-northeast-2.amazonaws.com docker/build.sh --push
#   docker/build.sh --list              # the function images' local names
#   docker/build.sh --sbom reports/sbom/images
#                                       # base.Dockerfile's `sbom` stage written out: a CycloneDX
#                                       # SBOM and a licence listing per image (tools/sbom.sh)
#
# Environment: TAG (default: the commit, with -dirty for a changed work tree), REGISTRY
# (for --push: the repositories are <registry>/concertbook-<image>, terraform/modules/ecr),
# PLATFORM (default linux/amd64 for x86_64 functions; linux/arm64 for Graviton).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-build}
case "$mode" in
  build | --push | --list) ;;
  --sbom) sbom_dir=${2:?usage: docker/build.sh --sbom DIR} ;;
  *) echo "usage: docker/build.sh [--push | --list | --sbom DIR]" >&2; exit 2 ;;
esac

tag=${TAG:-$(git describe --always --dirty --abbrev=40 --match=none)}
platform=${PLATFORM:-linux/amd64}
base="concertbook-base:$tag"

images=()
for dockerfile in docker/*.Dockerfile; do
  image=$(basename "$dockerfile" .Dockerfile)
  case "$image" in base | local) continue ;; esac
  images+=("$image")
done

case "$mode" in
  --list)
    for image in "${images[@]}"; do echo "concertbook-$image:$tag"; done
    ;;
  --push)
    : "${REGISTRY:?docker/build.sh --push needs REGISTRY (<account>.dkr.ecr.<region>.amazonaws.com)}"
    for image in "${images[@]}"; do
      docker tag "concertbook-$image:$tag" "$REGISTRY/concertbook-$image:$tag"
      docker push "$REGISTRY/concertbook-$image:$tag"
    done
    ;;
  --sbom)
    # The stage the base's build already ran (from the build cache after `docker/build.sh`):
    # <image>.cdx.json and <image>-licences.md of the base and of every function image.
    docker build --platform "$platform" -f docker/base.Dockerfile --target sbom \
      --output "type=local,dest=$sbom_dir" .
    ;;
  build)
    docker build --platform "$platform" --provenance=false -f docker/base.Dockerfile \
      --build-arg "REVISION=$(git rev-parse HEAD)" -t "$base" .
    for image in "${images[@]}"; do
      docker build --platform "$platform" --provenance=false -f "docker/$image.Dockerfile" \
        --build-arg "BASE_IMAGE=$base" -t "concertbook-$image:$tag" .
      echo "built concertbook-$image:$tag"
    done
    ;;
esac
