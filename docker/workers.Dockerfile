# syntax=docker/dockerfile:1
# The background workers as container-image Lambdas: one image, one function per handler.
# Terraform gives each function its handler in `image_config.command` (docker/functions.json
# lists them); without one, the function runs the CMD below.
#   workers.forwarder.handler            table stream → SQS (the outbox forwarder)
#   workers.queues.payments_handler      SQS payments: capture + tickets / void or refund
#   workers.queues.notifications_handler SQS notifications: confirmation mail
#   workers.queues.images_handler        SQS images: poster variants
#   workers.queues.webhooks_handler      SQS webhooks: verified gateway webhooks
#   workers.images.handler               S3 ObjectCreated under uploads/: poster uploads
#   workers.expiry.handler               EventBridge schedule: the expiry sweep
#   docker build -f docker/base.Dockerfile -t concertbook-base .
#   docker build -f docker/workers.Dockerfile -t concertbook-workers .

ARG BASE_IMAGE=concertbook-base
FROM ${BASE_IMAGE}

# `lambda-entrypoint` (from the base) runs `python -m awslambdaric <handler>` for a handler
# and any other command (`concertbook work`) as is.
ENTRYPOINT ["/usr/local/bin/lambda-entrypoint"]
CMD ["workers.queues.payments_handler"]
