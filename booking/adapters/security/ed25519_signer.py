"""Ticket codes signed with Ed25519: `<base64url claims>.<base64url signature>`.

A gate needs only the public key to check a code offline. A code has one spelling: only the
unpadded base64url the signer writes is read back (no padding, no characters outside the
alphabet, no other unused trailing bits), so a gate that remembers codes it has let in
cannot be passed twice by the same ticket written another way.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import msgspec
from cryptography.exceptions import InvalidSignature as _BadSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from booking.adapters.files import create_once
from booking.domain.errors import InvalidRequest
from booking.domain.tickets import TicketClaims

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(TicketClaims).decode


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


def _unb64(text: str) -> bytes:
    """The bytes whose `_b64` is exactly `text`, or ValueError: Python's decoder alone skips
    characters outside the alphabet and data after padding, and ignores unused bits."""
    if not _BASE64URL.fullmatch(text):
        raise ValueError("not unpadded base64url")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(raw) != text:
        raise ValueError("not the canonical base64url of its bytes")
    return raw


class Ed25519TicketSigner:
    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private = private_key
        self._public = private_key.public_key()

    @classmethod
    def from_pem(cls, pem: bytes) -> Ed25519TicketSigner:
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise TypeError("the ticket signing key is not an Ed25519 private key")
        return cls(key)

    @classmethod
    def from_file(cls, path: Path) -> Ed25519TicketSigner:
        """Load the key, creating it (owner-readable only) on first start.

        Several processes may start on one data folder at once: each writes a
        candidate and links it into place; the first link wins and all read it.
        """
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            create_once(path, pem)
        return cls.from_pem(path.read_bytes())

    def sign(self, claims: TicketClaims) -> str:
        payload = _encode(claims)
        return f"{_b64(payload)}.{_b64(self._private.sign(payload))}"

    def verify(self, code: str) -> TicketClaims:
        return verify_ticket_code(self._public, code)

    def public_key_pem(self) -> str:
        return self._public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()


def verify_ticket_code(public_key: Ed25519PublicKey, code: str) -> TicketClaims:
    """Check a code with only the public key, as an offline gate scanner does."""
    try:
        payload_text, signature_text = code.split(".")
        payload = _unb64(payload_text)
        public_key.verify(_unb64(signature_text), payload)
        return _decode(payload)
    except (ValueError, _BadSignature, msgspec.DecodeError) as exc:
        raise InvalidRequest("the ticket code is not one this system signed") from exc
