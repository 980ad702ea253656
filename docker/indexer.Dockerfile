# syntax=docker/dockerfile:1
# The search indexer as a container-image Lambda on the table's stream: awslambdaric serves
# `indexer.lambda_handler.handler` (outbox entries → one OpenSearch bulk write per batch).
#   docker build -f docker/base.Dockerfile -t concertbook-base .
#   docker build -f docker/indexer.Dockerfile -t concertbook-indexer .

ARG BASE_IMAGE=concertbook-base
FROM ${BASE_IMAGE}

ENTRYPOINT ["/usr/local/bin/lambda-entrypoint"]
CMD ["indexer.lambda_handler.handler"]
