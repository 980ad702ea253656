"""Configuration from `CONCERTBOOK_*` environment variables, read once into a frozen object."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    """Folder of the SQLite databases, the ticket signing key and media (local runtime)."""
    host: str = "127.0.0.1"
    """Address the HTTP server binds."""
    port: int = 8000
    """Port the HTTP server binds."""
    public_url: str | None = None
    """Base URL the payment gateway posts webhooks to; unset: delivered in-process to the app."""
    webhook_secret: bytes = field(default=b"", repr=False)
    """HMAC secret shared with the payment gateway; unset: generated once into the data folder."""
    sweep_interval_seconds: float = 1.0
    """How often lapsed holds and unpaid orders are marked expired (claims never wait on it)."""
    gateway_duplicate_rate: float = 0.0
    """Chance that the simulated gateway sends a webhook twice."""
    gateway_late_rate: float = 0.0
    """Chance that the simulated gateway sends a webhook seconds late (reordering it)."""
    max_body_bytes: int = 65_536
    """Largest accepted request body (venue seat maps have their own, larger cap)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            return env.get(f"CONCERTBOOK_{name}")

        values: dict[str, object] = {}
        try:
            if (v := get("DATA_DIR")) is not None:
                values["data_dir"] = Path(v)
            if (v := get("HOST")) is not None:
                values["host"] = v
            if (v := get("PORT")) is not None:
                values["port"] = int(v)
            if (v := get("PUBLIC_URL")) is not None:
                values["public_url"] = v.rstrip("/")
            if (v := get("WEBHOOK_SECRET")) is not None:
                values["webhook_secret"] = v.encode()
            if (v := get("SWEEP_INTERVAL_SECONDS")) is not None:
                values["sweep_interval_seconds"] = float(v)
            if (v := get("GATEWAY_DUPLICATE_RATE")) is not None:
                values["gateway_duplicate_rate"] = float(v)
            if (v := get("GATEWAY_LATE_RATE")) is not None:
                values["gateway_late_rate"] = float(v)
            if (v := get("MAX_BODY_BYTES")) is not None:
                values["max_body_bytes"] = int(v)
        except ValueError as exc:
            raise ConfigError(f"bad CONCERTBOOK_* value: {exc}") from exc
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    def resolved_webhook_secret(self) -> bytes:
        """The configured secret, or one generated on first start and kept in the data folder."""
        if self.webhook_secret:
            return self.webhook_secret
        path = self.data_dir / "webhook-secret"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_hex(32))
        return path.read_text().strip().encode()
