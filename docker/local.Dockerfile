# The embedded runtime in a container: API + workers on SQLite, data in a volume.
#   docker build -f docker/local.Dockerfile -t concertbook-local .
#   docker run -p 8000:8000 -v concertbook-data:/data concertbook-local
FROM python:3.11.14-slim-bookworm AS build
COPY --from=ghcr.io/astral-sh/uv:0.13.8 /uv /usr/local/bin/uv
WORKDIR /app
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY booking ./booking
COPY api ./api
COPY workers ./workers
COPY indexer ./indexer
RUN uv sync --frozen --no-dev

# What the image installs, as in base.Dockerfile (tools/sbom.sh; an unknown or denied licence
# fails the build), shipped in /usr/share/doc/concertbook/ and taken out beside it with
#   docker build -f docker/local.Dockerfile --target sbom --output type=local,dest=reports/sbom/images .
FROM build AS sbom-scan
COPY tools/sbom.sh ./tools/
COPY tools/sbom ./tools/sbom
RUN tools/sbom.sh --venv .venv --os / --out sbom local

FROM scratch AS sbom
COPY --from=sbom-scan /app/sbom /

FROM python:3.11.14-slim-bookworm
RUN groupadd --system --gid 10001 concertbook \
    && useradd --system --uid 10001 --gid 10001 --no-log-init concertbook \
    && mkdir /data && chown 10001:10001 /data
COPY --from=build /app /app
COPY --from=sbom /local.cdx.json /local-licences.md /usr/share/doc/concertbook/
ENV PATH="/app/.venv/bin:$PATH" CONCERTBOOK_DATA_DIR=/data
USER 10001:10001
EXPOSE 8000
VOLUME ["/data"]
CMD ["concertbook", "serve", "--host", "0.0.0.0", "--port", "8000"]
LABEL example.concertbook.sbom="/usr/share/doc/concertbook/local.cdx.json"
