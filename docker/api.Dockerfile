# syntax=docker/dockerfile:1
# The API as a container-image Lambda behind API Gateway (HTTP API, payload format 2.0):
# awslambdaric serves `api.lambda_handler.handler` (Mangum around the Litestar app).
#   docker build -f docker/base.Dockerfile -t concertbook-base .
#   docker build -f docker/api.Dockerfile -t concertbook-api .
# The same image serves plain HTTP when given a command instead of a handler:
#   docker run -p 8000:8000 concertbook-api concertbook serve --host 0.0.0.0
# (docker/README.md has the emulator and volume variants.)

ARG BASE_IMAGE=concertbook-base
FROM ${BASE_IMAGE}

# The Lambda function's configuration (CONCERTBOOK_RUNTIME=aws, CONCERTBOOK_TABLE_NAME, ...)
# comes from its environment; this image only names the handler. `lambda-entrypoint` (from
# the base) runs `python -m awslambdaric <handler>` for a handler and any other command as is.
ENTRYPOINT ["/usr/local/bin/lambda-entrypoint"]
CMD ["api.lambda_handler.handler"]

# Only used by `concertbook serve` (Lambda ignores it).
EXPOSE 8000
