"""Reject request bodies over the size limit with 413, before they are read into memory."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
