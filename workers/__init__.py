"""Background work: handlers of outbox/SQS messages, expiry sweeping, webhook delivery."""
