"""Uvicorn's httptools protocol with each turn's writes to a connection sent together.

Uvicorn writes a response's status line and headers when the app starts the answer and
its body when the app sends it, and the transport makes a `send` of each at once. On
loopback and in most VMs a `send` is the costliest thing a small answer does (it runs the
peer's TCP receive path too): on the hold route the two of them were a fifth of the
event loop's time. Here the writes a connection makes within one turn of the loop leave
as one `send` at the end of that turn, so an answer is one segment instead of two.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

FLUSH_AT_BYTES = 64 * 1024
"""A streamed answer's chunks do not wait for the end of the turn past this much."""


class CoalescingTransport:
    """A transport whose writes of one loop turn go out in one write of the real one."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))
        self._size += len(data)
        if self._size >= FLUSH_AT_BYTES:
            self.flush()

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)  # one piece comes back as it is, uncopied
        self._pending.clear()
        self._size = 0
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()  # what was written before the close still leaves, as it would have
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def get_write_buffer_size(self) -> int:
        return self._size + self._transport.get_write_buffer_size()

    def __getattr__(self, name: str) -> Any:
        # Everything else (extra info, flow control, abort, is_closing) is the real one's.
        return getattr(self._transport, name)


class CoalescingHttpProtocol(HttpToolsProtocol):
    """`uvicorn.Config(http=CoalescingHttpProtocol)`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        coalescing: Any = CoalescingTransport(transport, self.loop)
        super().connection_made(coalescing)
