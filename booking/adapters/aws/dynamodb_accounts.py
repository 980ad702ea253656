"""Accounts and sessions in DynamoDB; an email item makes addresses unique."""

from __future__ import annotations

import msgspec

from booking.adapters.aws.dynamodb_table import Dynamo, TransactionCancelled
from booking.adapters.timestamps import from_ms, to_ms
from booking.domain.accounts import Account, Session, StoredAccount
from booking.domain.errors import EmailTaken

_encode = msgspec.json.Encoder().encode
_decode_account = msgspec.json.Decoder(Account).decode


class DynamoAccountStore:
    def __init__(self, dynamo: Dynamo) -> None:
        self._db = dynamo

    async def add_account(self, account: Account, password_hash: str) -> None:
        new = "attribute_not_exists(pk)"
        try:
            await self._db.transact(
                [
                    self._db.put(
                        {"pk": f"EMAIL#{account.email}", "sk": "EMAIL", "account_id": account.id},
                        new,
                    ),
                    self._db.put(
                        {
                            "pk": f"ACC#{account.id}",
                            "sk": "ACC",
                            "email": account.email,
                            "password_hash": password_hash,
                            "doc": _encode(account),
                        },
                        new,
                    ),
                ]
            )
        except TransactionCancelled as exc:
            raise EmailTaken(f"{account.email} already has an account") from exc

    async def account_by_email(self, email: str) -> StoredAccount | None:
        link = await self._db.get(f"EMAIL#{email}", "EMAIL")
        if link is None:
            return None
        item = await self._db.get(f"ACC#{link['account_id']}", "ACC")
        if item is None:
            return None
        return StoredAccount(_decode_account(item["doc"]), str(item["password_hash"]))

    async def get_account(self, account_id: str) -> Account | None:
        item = await self._db.get(f"ACC#{account_id}", "ACC")
        return None if item is None else _decode_account(item["doc"])

    async def add_session(self, session: Session) -> None:
        await self._db.transact(
            [
                self._db.put(
                    {
                        "pk": f"SES#{session.token_hash}",
                        "sk": "SES",
                        "account_id": session.account_id,
                        "expires_at_ms": to_ms(session.expires_at),
                        # TTL only tidies; expiry is checked on every use.
                        "ttl": to_ms(session.expires_at) // 1000,
                    }
                )
            ]
        )

    async def session_with_account(self, token_hash: str) -> tuple[Session, Account] | None:
        item = await self._db.get(f"SES#{token_hash}", "SES")
        if item is None:
            return None
        session = Session(token_hash, str(item["account_id"]), from_ms(int(item["expires_at_ms"])))
        account = await self.get_account(session.account_id)
        return None if account is None else (session, account)

    async def delete_session(self, token_hash: str) -> None:
        await self._db.transact([self._db.delete(f"SES#{token_hash}", "SES")])
