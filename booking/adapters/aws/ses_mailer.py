"""The aws mailer: SES `SendRawEmail`, at most one message per key thanks to a marker item.

A notification can be delivered more than once (SQS is at-least-once), so each
send first claims `MAIL#<key>` in the table with a conditional put:

1. claim: `state = sending` with a random claim id, if no marker exists, or if
   an earlier claim is `sending` and older than the lease (its sender died);
2. send the raw message through SES;
3. mark: `state = sent`, only while the claim is still ours.

A duplicate that finds `sent` sends nothing; one that finds a fresh `sending`
raises `MailInProgress`, so its queue message is retried after the first has
finished. The trade-off is at-least-once, deliberately: if a worker dies between
SES accepting the message and step 3, a redelivery after the lease sends the mail
again. Marking `sent` before sending would make that crash lose the mail instead
(at-most-once); a fan missing the confirmation is worse than a fan getting two.
SES failures release the claim, so the retry does not wait for the lease.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from typing import Any

from booking.adapters.aws.dynamodb_table import Dynamo, TransactionCancelled
from booking.adapters.aws.messaging import AwsClients
from booking.adapters.timestamps import to_ms
from booking.domain.ports import Clock

log = logging.getLogger(__name__)


class MailInProgress(RuntimeError):
    """Another worker holds a fresh claim on this mail; try again after it finished."""


class SesMailer:
    def __init__(
        self,
        clients: AwsClients,
        dynamo: Dynamo,
        clock: Clock,
        lease: timedelta = timedelta(minutes=5),
        keep: timedelta = timedelta(days=30),
    ) -> None:
        self._clients = clients
        self._db = dynamo
        self._clock = clock
        self._lease_ms = int(lease.total_seconds() * 1000)
        self._keep = keep

    async def send(self, key: str, message: EmailMessage) -> bool:
        self._db.operation = "send_mail"
        pk, sk = f"MAIL#{key}", "MAIL"
        claim = uuid.uuid4().hex
        now = self._clock.now()
        now_ms = to_ms(now)
        try:
            await self._db.transact(
                [
                    self._db.put(
                        {
                            "pk": pk,
                            "sk": sk,
                            "mail_state": "sending",
                            "claim": claim,
                            "claimed_at_ms": now_ms,
                            "ttl": int((now + self._keep).timestamp()),
                        },
                        "attribute_not_exists(pk)"
                        " OR (mail_state = :sending AND claimed_at_ms < :stale)",
                        {":sending": "sending", ":stale": now_ms - self._lease_ms},
                    )
                ]
            )
        except TransactionCancelled as exc:
            earlier = exc.old_items[0] or {}
            if earlier.get("mail_state") == "sent":
                return False
            raise MailInProgress(f"mail {key} is being sent by another worker") from exc
        try:
            response = await self._clients.ses.send_raw_email(
                RawMessage={"Data": message.as_bytes(policy=policy.SMTP)}
            )
        except BaseException:
            with contextlib.suppress(Exception):
                await self._db.transact([self._release(pk, sk, claim)])
            raise
        try:
            await self._db.transact(
                [
                    self._db.update(
                        pk,
                        sk,
                        "SET mail_state = :sent, ses_message_id = :m, sent_at_ms = :t",
                        {
                            ":sent": "sent",
                            ":m": str(response.get("MessageId", "")),
                            ":t": to_ms(self._clock.now()),
                            ":claim": claim,
                        },
                        "claim = :claim",
                    )
                ]
            )
        except Exception:
            # Sent, but not marked: a redelivery after the lease may send it again.
            log.exception("mail sent but not marked sent", extra={"mail_key": key})
        return True

    def _release(self, pk: str, sk: str, claim: str) -> dict[str, Any]:
        delete = self._db.delete(pk, sk)["Delete"]
        delete["ConditionExpression"] = "claim = :claim"
        delete["ExpressionAttributeValues"] = {":claim": {"S": claim}}
        return {"Delete": delete}
