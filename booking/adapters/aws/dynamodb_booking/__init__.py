"""Holds, orders, payments and tickets in DynamoDB: every claim a conditional transaction.

Each place is its own item (seats and standing places alike), spread over
INVENTORY_SHARDS partitions per performance. A hold is one TransactWriteItems:
a conditional update per place (available, or its hold/order expired at `now`),
the per-account limit counter, the hold, the idempotency record and an outbox
item; any refused condition cancels all of it. The condition is the fence:
nothing here trusts an earlier read, a cache or a lock.
"""

from booking.adapters.aws.dynamodb_booking.store import DynamoBookingStore

__all__ = ["DynamoBookingStore"]
