"""A deadline for request headers on every connection (uvicorn has none).

uvicorn closes a connection left idle between requests (`timeout_keep_alive`), but once a
client has sent the first byte of a request it waits for the rest of the headers forever:
200 connections that each sent half a request line all stayed open. Here each connection
must deliver its complete request headers within `header_timeout_secs` of opening, and of
the first byte of each later request; otherwise it gets a 408 and is closed. A request
body is not under this deadline (large states take as long as they take).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any, ClassVar, cast

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("teamgate.server")

_BODY = json.dumps(
    {
        "error": "RequestTimeout",
        "message": "The request headers did not arrive in time; the connection is closed. "
        "Send the whole request at once, or raise the server's --header-timeout-secs.",
    }
).encode()
TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: application/json\r\n"
    b"connection: close\r\n"
    b"content-length: " + str(len(_BODY)).encode() + b"\r\n\r\n" + _BODY
)


class HeaderDeadline:
    """One connection's timer: armed while request headers are awaited, closes it on expiry."""

    __slots__ = ("_busy", "_loop", "_seconds", "_timer", "_transport")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        seconds: float,
        transport: asyncio.Transport,
        busy: Callable[[], bool],
    ) -> None:
        self._loop = loop
        self._seconds = seconds
        self._transport = transport
        self._busy = busy  # a response is being sent: a 408 must not be written into it
        self._timer: asyncio.TimerHandle | None = None

    def arm(self) -> None:
        """Start the countdown, unless it runs already."""
        if self._timer is None and not self._transport.is_closing():
            self._timer = self._loop.call_later(self._seconds, self._expire)

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        transport = self._transport
        if transport.is_closing():
            return
        if not self._busy():
            transport.write(TIMEOUT_RESPONSE)
        peer = transport.get_extra_info("peername")
        log.debug("Closing a connection from %s: no complete request headers in time", peer)
        transport.close()


class _Deadline(asyncio.Protocol):
    """What both parsers' protocols share: the deadline's life with the connection's. Listed
    before the uvicorn protocol, so `super()` is that protocol."""

    header_timeout_secs: ClassVar[float]
    loop: asyncio.AbstractEventLoop  # set by the uvicorn protocol
    cycle: Any  # the request cycle under way, set by the uvicorn protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        stream = cast(asyncio.Transport, transport)  # uvicorn serves TCP streams
        self.header_deadline = HeaderDeadline(
            self.loop, self.header_timeout_secs, stream, self._responding
        )
        self.header_deadline.arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self.header_deadline.disarm()
        super().connection_lost(exc)

    def _responding(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete


class _H11HeaderDeadline(_Deadline, H11Protocol):
    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:  # part of a request line or headers so far
            self.header_deadline.arm()
        else:
            self.header_deadline.disarm()


def _httptools_header_deadline() -> type[asyncio.Protocol]:
    """The httptools protocol with the deadline; ImportError without httptools."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class _HttpToolsHeaderDeadline(_Deadline, HttpToolsProtocol):
        def on_message_begin(self) -> None:
            super().on_message_begin()
            self.header_deadline.arm()

        def on_headers_complete(self) -> None:
            self.header_deadline.disarm()
            super().on_headers_complete()

    return _HttpToolsHeaderDeadline


def header_deadline_protocol(seconds: float, *, parser: str = "auto") -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol class (`parser`: auto, httptools or h11) with the deadline.

    auto picks httptools when it is installed, as uvicorn does.
    """
    base: type[asyncio.Protocol]
    if parser == "h11":
        base = _H11HeaderDeadline
    else:
        try:
            base = _httptools_header_deadline()
        except ImportError:
            if parser == "httptools":
                raise
            base = _H11HeaderDeadline
    attributes: dict[str, Any] = {"header_timeout_secs": seconds}
    return type(f"HeaderDeadline{base.__name__}", (base,), attributes)
