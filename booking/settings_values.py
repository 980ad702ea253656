"""The types of this project's own setting values, each read from its text by `parse`
(booking/settings.py has msgspec call it): secrets that never show in a repr, base URLs,
exact origins, networks."""

from __future__ import annotations

import ipaddress


class Secret(bytes):
    """Bytes that never show in a repr or a log line (keys, HMAC secrets)."""

    def __repr__(self) -> str:
        return "Secret(***)" if self else "Secret()"

    @classmethod
    def parse(cls, text: str) -> Secret:
        return cls(text.encode())


class SecretText(str):
    """Text that never shows in a repr or a log line (API keys, tokens)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "SecretText(***)" if self else "SecretText()"

    @classmethod
    def parse(cls, text: str) -> SecretText:
        return cls(text)


class BaseUrl(str):
    """A base URL, kept without its trailing slash (paths are appended to it)."""

    __slots__ = ()

    @classmethod
    def parse(cls, text: str) -> BaseUrl:
        return cls(text.rstrip("/"))


class Origins(tuple[str, ...]):
    """`https://a.example, http://localhost:5173` → exact origins: scheme, host and port."""

    @classmethod
    def parse(cls, text: str) -> Origins:
        origins = tuple(o.strip().rstrip("/").lower() for o in text.split(",") if o.strip())
        for origin in origins:
            scheme, _, host = origin.partition("://")
            if scheme not in {"http", "https"} or not host or any(c in host for c in "/*?#@ "):
                raise ValueError(f"{origin!r} is not an origin like https://tickets.example")
        return cls(origins)


class Networks(tuple[str, ...]):
    """`10.0.0.0/8, 192.0.2.7` → the networks, each checked and written out in full."""

    @classmethod
    def parse(cls, text: str) -> Networks:
        return cls(
            str(ipaddress.ip_network(part.strip(), strict=False))
            for part in text.split(",")
            if part.strip()
        )
