"""The server in this process: `create_app(Settings(…))` called through `httpx.ASGITransport`.

Tests are synchronous, the application is ASGI: one event loop runs in a thread (an anyio
blocking portal) with the application's lifespan (audit pruner, blob sweeper, htpasswd watcher),
and every request any client sends is run there, as Starlette's TestClient does. Clients are
plain `httpx.Client`s with a transport of their own, so `with app.client("alice") as alice:` only
closes that client, and clients on several threads can call at once.

The database is the test backend's (`TEAMGATE_TEST_BACKEND`): a SQLite file in the test's
directory, or a fresh PostgreSQL database standing in for it (dropped after the test).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import urllib3
from anyio.from_thread import BlockingPortal, start_blocking_portal
from fastapi import FastAPI

from teamgate.settings import Settings
from teamgate.web.app import create_app

BASE_URL = "http://teamgate.test"
CLIENT_ADDRESS = ("127.0.0.1", 50000)  # the peer the application sees (throttling, logs)


class _AsyncBody(httpx.AsyncByteStream):
    """A synchronous request body (an iterator: sent chunked) read from the event loop."""

    def __init__(self, stream: httpx.SyncByteStream) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._stream:
            yield chunk


class PortalTransport(httpx.BaseTransport):
    """A synchronous transport: each request goes through httpx.ASGITransport on the portal's
    event loop, and its whole response body is read there."""

    def __init__(self, portal: BlockingPortal, app: FastAPI) -> None:
        self._portal = portal
        self._asgi = httpx.ASGITransport(app=app, client=CLIENT_ADDRESS)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(request.stream, httpx.AsyncByteStream):
            assert isinstance(request.stream, httpx.SyncByteStream)
            request.stream = _AsyncBody(request.stream)
        return self._portal.call(self._send, request)

    async def _send(self, request: httpx.Request) -> httpx.Response:
        response = await self._asgi.handle_async_request(request)
        body = b"".join([chunk async for chunk in response.stream])  # type: ignore[union-attr]
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=httpx.ByteStream(body),
            extensions=response.extensions,
            request=request,
        )


@dataclass
class App:
    """One running application and what it was built from; `client()` makes callers."""

    app: FastAPI
    settings: Settings
    portal: BlockingPortal
    clients: list[httpx.Client] = field(default_factory=list)
    base_url: str = BASE_URL

    @property
    def torc_url(self) -> str:
        return f"{self.base_url}/torc-service/v1"

    @property
    def database(self) -> str:
        return self.settings.database_location

    def client(
        self, user: str | None = None, password: str | None = None, **kwargs: Any
    ) -> httpx.Client:
        """A client signed in as `user` (password: the test one) with Basic auth, or anonymous."""
        from tests.conftest import password_of  # conftest imports this module

        if user is not None and "auth" not in kwargs:
            kwargs["auth"] = (user, password if password is not None else password_of(user))
        kwargs.setdefault("base_url", self.base_url)
        client = httpx.Client(transport=PortalTransport(self.portal, self.app), **kwargs)
        self.clients.append(client)
        return client


@contextlib.contextmanager
def running(settings: Settings) -> Iterator[App]:
    """Build the application for `settings` and run its lifespan until the block ends."""
    app = create_app(settings)
    lifespan = app.router.lifespan_context(app)
    with start_blocking_portal() as portal, portal.wrap_async_context_manager(lifespan):
        made = App(app, settings, portal)
        try:
            yield made
        finally:
            for client in made.clients:
                client.close()


def settings_for(root: Path, database: str, auth_file: Path | None, **values: Any) -> Settings:
    """Settings for an application kept under `root`: its blobs there, whatever the database."""
    return Settings(
        database=database,
        blob_store=str(root / "blobs"),
        auth_file=str(auth_file) if auth_file is not None else None,
        **values,
    ).validate()


class PoolManager:
    """What torc-client's REST layer calls on `urllib3.PoolManager`, answered by `app`: the
    client's own request building (paths, query strings, JSON bodies, headers) and response
    handling (status, headers, exceptions) run unchanged; only the socket is left out."""

    def __init__(self, app: App) -> None:
        self._client = app.client()

    def request(
        self,
        method: str,
        url: str,
        *,
        body: str | bytes | None = None,
        fields: Any = None,
        headers: dict[str, str] | None = None,
        preload_content: bool = True,
        **_: Any,
    ) -> urllib3.HTTPResponse:
        if method in ("GET", "HEAD", "DELETE") and fields:
            url = f"{url}{'&' if '?' in url else '?'}{urlencode(fields)}"
        response = self._client.request(method, url, content=body, headers=headers)
        return urllib3.HTTPResponse(
            body=io.BytesIO(response.content),
            headers=urllib3.HTTPHeaderDict(response.headers.multi_items()),
            status=response.status_code,
            reason=response.reason_phrase,
            preload_content=preload_content,
        )
