"""The local mailer: each message an `.eml` file in a folder, written once per key.

A file is created whole or not at all (written aside, then hard-linked into
place), and its name follows from the key, so a duplicate delivery of the same
notification finds the file and changes nothing. Open the files with any mail
client; tests parse them with the `email` package.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from email.message import EmailMessage
from pathlib import Path

from booking.adapters.files import create_once

_SAFE = re.compile(r"[A-Za-z0-9_.-]{1,150}")


def mail_file_name(key: str) -> str:
    """The key itself where it is a safe file name, else its hash."""
    if _SAFE.fullmatch(key) and not key.startswith("."):
        return f"{key}.eml"
    return f"{hashlib.sha256(key.encode()).hexdigest()}.eml"


class MailFolder:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path_for(self, key: str) -> Path:
        return self.folder / mail_file_name(key)

    async def send(self, key: str, message: EmailMessage) -> bool:
        path = self.path_for(key)
        if path.exists():
            return False
        data = message.as_bytes()

        def write() -> bool:
            self.folder.mkdir(parents=True, exist_ok=True)
            return create_once(path, data, mode=0o644)

        return await asyncio.to_thread(write)
