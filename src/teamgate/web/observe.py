"""ASGI middleware that watches every request: metrics, one access-log line, service hooks.

The access line carries method, path (never the query string), status, duration, the
authenticated user and the client address; never headers, so never credentials.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from teamgate.services import observers, request_info
from teamgate.web.metrics import Metrics

access_log = logging.getLogger("teamgate.access")


class RequestObserver:
    def __init__(self, app: ASGIApp, *, metrics: Metrics | None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state: dict[str, Any] = scope.setdefault("state", {})
        status = 500  # what the client gets if the application fails before answering

        async def watched_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            with observers.observing(self.metrics), request_info.bound(_request_info(scope)):
                await self.app(scope, receive, watched_send)
        finally:
            seconds = time.perf_counter() - started
            if self.metrics is not None:
                self.metrics.request(scope["method"], _route_template(scope), status, seconds)
            if access_log.isEnabledFor(logging.INFO):
                _log_access(scope, state, status, seconds)


def _request_info(scope: Scope) -> request_info.RequestInfo:
    client = scope.get("client")
    return request_info.RequestInfo(id=secrets.token_hex(8), client=client[0] if client else None)


def _route_template(scope: Scope) -> str | None:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else None


def _log_access(scope: Scope, state: dict[str, Any], status: int, seconds: float) -> None:
    principal = state.get("principal")
    user = getattr(principal, "name", None)
    client = scope.get("client")
    address = f"{client[0]}:{client[1]}" if client else None
    fields = {
        "method": scope["method"],
        "path": scope["path"],
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
        "user": user,
        "client": address,
    }
    access_log.info(
        '%s %s "%s %s" %d %.1fms',
        address or "-",
        _escaped(user or "-"),
        _escaped(scope["method"]),
        _escaped(scope["path"]),
        status,
        seconds * 1000,
        extra={"fields": fields},
    )


def _escaped(text: str) -> str:
    """Control characters and quotes escaped, so a crafted path cannot forge a log line."""
    return json.dumps(text, ensure_ascii=False)[1:-1]
