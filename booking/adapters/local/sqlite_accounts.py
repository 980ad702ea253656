"""Accounts and sessions in SQLite."""

from __future__ import annotations

import sqlite3

import msgspec

from booking.adapters.local.sqlite_db import SqliteDatabase, Tx
from booking.adapters.timestamps import from_ms, to_ms
from booking.domain.accounts import Account, Session, StoredAccount
from booking.domain.errors import EmailTaken

_encode = msgspec.json.Encoder().encode
_decode_account = msgspec.json.Decoder(Account).decode


class SqliteAccountStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def add_account(self, account: Account, password_hash: str) -> None:
        await self._db.write(_add_account, account, password_hash)

    async def account_by_email(self, email: str) -> StoredAccount | None:
        def find(conn: sqlite3.Connection) -> StoredAccount | None:
            row = conn.execute(
                "SELECT doc, password_hash FROM accounts WHERE email=?", (email,)
            ).fetchone()
            return None if row is None else StoredAccount(_decode_account(row[0]), row[1])

        return await self._db.read(find)

    async def get_account(self, account_id: str) -> Account | None:
        def find(conn: sqlite3.Connection) -> Account | None:
            row = conn.execute("SELECT doc FROM accounts WHERE id=?", (account_id,)).fetchone()
            return None if row is None else _decode_account(row[0])

        return self._db.point_read(find)

    async def add_session(self, session: Session) -> None:
        await self._db.write(_add_session, session)

    async def session_with_account(self, token_hash: str) -> tuple[Session, Account] | None:
        def find(conn: sqlite3.Connection) -> tuple[Session, Account] | None:
            row = conn.execute(
                "SELECT s.account_id, s.expires_at_ms, a.doc FROM sessions s"
                " JOIN accounts a ON a.id = s.account_id WHERE s.token_hash=?",
                (token_hash,),
            ).fetchone()
            if row is None:
                return None
            return Session(token_hash, row[0], from_ms(row[1])), _decode_account(row[2])

        return self._db.point_read(find)

    async def delete_session(self, token_hash: str) -> None:
        await self._db.write(_delete_session, token_hash)


def _add_account(tx: Tx, account: Account, password_hash: str) -> None:
    try:
        tx.execute(
            "INSERT INTO accounts(id, email, password_hash, doc) VALUES (?,?,?,?)",
            (account.id, account.email, password_hash, _encode(account)),
        )
    except sqlite3.IntegrityError as exc:
        raise EmailTaken(f"{account.email} already has an account") from exc


def _add_session(tx: Tx, session: Session) -> None:
    tx.execute(
        "INSERT INTO sessions(token_hash, account_id, expires_at_ms) VALUES (?,?,?)",
        (session.token_hash, session.account_id, to_ms(session.expires_at)),
    )


def _delete_session(tx: Tx, token_hash: str) -> None:
    tx.execute("DELETE FROM sessions WHERE token_hash=?", (token_hash,))
