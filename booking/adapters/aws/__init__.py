"""Adapters of the aws runtime: DynamoDB, Redis."""
