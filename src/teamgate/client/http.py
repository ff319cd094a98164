"""A small httpx wrapper shared by the CLIs: JSON in, JSON out, errors as ApiError."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO, Self

import httpx

from teamgate.errors import TeamgateError


class ApiError(TeamgateError):
    """The server refused a request. `body` is its JSON error (`error`, `message`)."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.body = body
        self.kind = str(body.get("error", "Error"))
        super().__init__(str(body.get("message", f"HTTP {status}")))


class ConnectionFailed(TeamgateError):
    kind = "ConnectionError"


class JsonClient:
    def __init__(
        self,
        base_url: str,
        *,
        auth: tuple[str, str] | None = None,
        headers: dict[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        verify: bool | str = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            auth=auth,
            headers=headers,
            transport=transport,
            timeout=timeout,
            verify=verify,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ConnectionFailed(f"cannot reach {self.base_url}: {exc}") from None
        if response.is_success:
            return response.json() if response.content else None
        raise ApiError(response.status_code, _error_body(response))

    def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return self.request("GET", path, params=clean)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json=body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def stream_download(
        self, path: str, file: BinaryIO, *, params: Mapping[str, Any] | None = None
    ) -> int:
        """GET `path` and copy the body to `file` chunk by chunk; the number of bytes written.

        The body is never held in memory whole. An error response raises ApiError before
        anything is written.
        """
        try:
            with self._http.stream("GET", path, params=_clean(params)) as response:
                if not response.is_success:
                    response.read()
                    raise ApiError(response.status_code, _error_body(response))
                written = 0
                for chunk in response.iter_bytes():
                    file.write(chunk)
                    written += len(chunk)
                return written
        except httpx.HTTPError as exc:
            raise ConnectionFailed(f"cannot reach {self.base_url}: {exc}") from None

    def upload_file(
        self,
        method: str,
        path: str,
        file: BinaryIO,
        *,
        params: Mapping[str, Any] | None = None,
        content_type: str = "application/octet-stream",
    ) -> Any:
        """Send `file` as the raw request body, streamed in chunks; the JSON answer.

        A regular file goes with its Content-Length; anything else (a pipe) is sent chunked.
        """
        return self.request(
            method,
            path,
            params=_clean(params),
            content=_body_of(file),
            headers={"Content-Type": content_type},
        )


CHUNK = 64 * 1024


def _clean(params: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (params or {}).items() if v is not None}


def _body_of(file: BinaryIO) -> BinaryIO | Iterator[bytes]:
    # httpx takes a regular file's length from fstat (and reads it in chunks); a pipe's
    # fstat size is 0, so a pipe is handed over as a generator, which httpx sends chunked.
    try:
        if stat.S_ISREG(os.fstat(file.fileno()).st_mode) and file.tell() == 0:
            return file
    except (AttributeError, OSError, ValueError):
        pass
    return iter(lambda: file.read(CHUNK), b"")


def _error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "message" in body:
        return body
    text = response.text.strip() or response.reason_phrase
    return {"error": response.reason_phrase.replace(" ", ""), "message": text}
