"""Reject request bodies over the size limit with 413, before they are read into memory."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from teamgate.errors import TooLarge
from teamgate.web.errors import error_response


class BodySizeLimit:
    """ASGI middleware: a declared or streamed body over `max_bytes` gets 413."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        large_prefixes: tuple[str, ...] = (),
        large_max_bytes: int = 0,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.large_prefixes = large_prefixes
        self.large_max_bytes = large_max_bytes

    @staticmethod
    def _message(limit: int) -> str:
        return f"Request body is larger than the limit of {limit} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        if self.large_prefixes and scope["path"].startswith(self.large_prefixes):
            limit = self.large_max_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await error_response(413, "PayloadTooLarge", self._message(limit))(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, detail=self._message(limit))
            return message

        await self.app(scope, limited_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def read_body(request: Request, limit: int, *, what: str) -> bytes:
    """A body read by hand, refused (TooLarge: 413) as soon as it passes `limit` bytes: by its
    declared length before a byte is read, and while a chunked body arrives. Call it only
    once the caller is allowed to send the body (the rest is left unread)."""
    message = f"{what} is larger than the limit of {limit} bytes"
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(message)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge(message)
    return bytes(body)
