# syntax=docker/dockerfile:1
# Shared base of the function images (api, workers, indexer): Python 3.11, the locked
# dependencies with the `aws` extra (no dev tools), the project's packages, and an entrypoint
# that serves a Lambda handler or runs any other command.
#   docker build -f docker/base.Dockerfile -t concertbook-base .
#
# Base image: the pinned python:3.11 slim (Debian) image rather than
# public.ecr.aws/lambda/python:3.11, because
# - it is the interpreter local.Dockerfile, development and CI use (3.11.14 on glibc), so
#   the manylinux wheels in uv.lock are the ones tested;
# - the runtime interface client is awslambdaric pinned in uv.lock (the `aws` extra), not
#   whichever version the AWS image ships in /var/runtime;
# - the same image also runs `concertbook serve` and `concertbook work` (docker/compose.yaml)
#   and stays small.
# Lambda accepts any Linux image that implements the Runtime API, which awslambdaric does.
# The AWS image's one extra, a built-in emulator, is not needed: the emulator is built by
# tools/build-rie.sh and mounted for local runs (docker/README.md).
#
# tests/infra/test_images_build.py installs what the build stage installs (its COPY and `uv sync`
# lines, read from this file) into a clean virtualenv and imports every function's handler.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
COPY --from=ghcr.io/astral-sh/uv:0.13.8 /uv /usr/local/bin/uv
WORKDIR /app
# Bytecode compiled at build time: Lambda's file system is read-only and cold starts count.
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11
# Dependencies first (their own layer, reused while only the code changes) ...
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --extra aws --no-install-project
# ... then the project, installed as a wheel (not editable): the runtime stage needs only .venv.
COPY booking ./booking
COPY api ./api
COPY workers ./workers
COPY indexer ./indexer
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --extra aws --no-editable

# What the images install (tools/sbom.sh): the Python packages of /app/.venv, CPython and the
# base image's Debian packages (this stage starts from the same image and adds none), as a
# CycloneDX SBOM and a licence listing for this base and each function image built on it
# (they add only a CMD). An unknown or denied licence fails the build. The base's files ship
# in every image (/usr/share/doc/concertbook/); all of them come out beside the images with
#   docker build -f docker/base.Dockerfile --target sbom --output type=local,dest=reports/sbom/images .
FROM build AS sbom-scan
COPY tools/sbom.sh ./tools/
COPY tools/sbom ./tools/sbom
RUN --mount=type=cache,target=/root/.cache/uv \
    tools/sbom.sh --venv .venv --os / --out sbom base api workers indexer

FROM scratch AS sbom
COPY --from=sbom-scan /app/sbom /

FROM ${PYTHON_IMAGE}
# Lambda runs an image as a least-privileged user of its own, on a read-only file system
# with a writable /tmp: everything below is world-readable and, by default, data goes to
# /tmp. `docker run` uses the non-root user 10001 (`concertbook`); /data is for a volume.
RUN groupadd --system --gid 10001 concertbook \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --no-log-init concertbook \
    && mkdir /data && chown 10001:10001 /data
COPY --from=build /app/.venv /app/.venv
COPY --chmod=0755 docker/lambda-entrypoint.sh /usr/local/bin/lambda-entrypoint
COPY --from=sbom /base.cdx.json /base-licences.md /usr/share/doc/concertbook/
WORKDIR /app
ENV PATH="/app/.venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    CONCERTBOOK_DATA_DIR=/tmp/concertbook
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/lambda-entrypoint"]
# The revision the image was built from (docker/build.sh passes the commit).
ARG REVISION=unknown
LABEL org.opencontainers.image.title="concertbook-base" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.revision="${REVISION}" \
      example.concertbook.sbom="/usr/share/doc/concertbook/base.cdx.json"
