"""Accounts: fans buy tickets, organizers run venues and events."""

from __future__ import annotations

import enum
from datetime import datetime

import msgspec


class Role(enum.StrEnum):
    FAN = "fan"
    ORGANIZER = "organizer"


class Account(msgspec.Struct, frozen=True, gc=False):
    id: str
    email: str
    display_name: str
    role: Role
    created_at: datetime


class StoredAccount(msgspec.Struct, frozen=True):
    account: Account
    password_hash: str


class Session(msgspec.Struct, frozen=True, gc=False):
    token_hash: str
    account_id: str
    expires_at: datetime
