"""A small httpx wrapper shared by the CLIs: JSON in, JSON out, errors as ApiError."""

from __future__ import annotations

import os
import random
import stat
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
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


# Told how a transfer goes: (bytes so far, total bytes when known), after every chunk.
Progress = Callable[[int, int | None], None]

RETRY_STATUSES = frozenset({502, 503, 504})  # a proxy or a server restarting: worth waiting for
RETRY_ENV = "TORC_RETRY_SECONDS"
DEFAULT_RETRY_SECS = 300.0


def retry_seconds(environ: Mapping[str, str] = os.environ) -> float:
    """How long a runner keeps retrying a call the server did not answer ($TORC_RETRY_SECONDS,
    default 300; 0: never retry)."""
    text = environ.get(RETRY_ENV, "").strip()
    try:
        value = float(text) if text else DEFAULT_RETRY_SECS
    except ValueError:
        raise TeamgateError(f"{RETRY_ENV}={text!r}: give a number of seconds") from None
    if not value >= 0:
        raise TeamgateError(f"{RETRY_ENV}={text!r}: give a number of seconds, 0 or more")
    return value


@dataclass
class Retry:
    """Repeat a call that got no answer, or 502/503/504, with exponential backoff (capped,
    with jitter) for at most `total_secs`; `log` hears of each retry. Only for calls the
    server makes safe to repeat (the runner's: see services/lost_jobs.py)."""

    total_secs: float
    log: Callable[[str], None] | None = None
    first_delay: float = 0.2
    max_delay: float = 5.0

    def call(self, send: Callable[[], Any], what: str) -> Any:
        deadline = time.monotonic() + self.total_secs
        attempt = 0
        while True:
            try:
                return send()
            except (ConnectionFailed, ApiError) as exc:
                if isinstance(exc, ApiError) and exc.status not in RETRY_STATUSES:
                    raise
                left = deadline - time.monotonic()
                if left <= 0:
                    raise
                backoff = min(self.max_delay, self.first_delay * 2**attempt)
                delay = min(backoff * random.uniform(0.5, 1.0), left)  # jitter: runners spread
                attempt += 1
                if self.log is not None:
                    self.log(f"{what}: {exc}; retry {attempt} in {delay:.2f} s")
                time.sleep(delay)


class JsonClient:
    def __init__(
        self,
        base_url: str,
        *,
        auth: httpx.Auth | tuple[str, str] | None = None,
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
        self._retry: Retry | None = None

    def close(self) -> None:
        self._http.close()

    def retry_on_failure(self, total_secs: float, *, log: Callable[[str], None] | None) -> None:
        """From now on, repeat calls that get no answer or 502/503/504 (see `Retry`)."""
        self._retry = Retry(total_secs, log) if total_secs > 0 else None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        retry = self._retry
        if retry is None or "content" in kwargs:  # a streamed body cannot be sent twice
            return self.request_once(method, path, **kwargs)
        return retry.call(lambda: self.request_once(method, path, **kwargs), f"{method} {path}")

    def request_once(self, method: str, path: str, **kwargs: Any) -> Any:
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
        self,
        path: str,
        file: BinaryIO,
        *,
        params: Mapping[str, Any] | None = None,
        progress: Progress | None = None,
    ) -> int:
        """GET `path` and copy the body to `file` chunk by chunk; the number of bytes written.

        The body is never held in memory whole. An error response raises ApiError before
        anything is written. `progress` hears of every chunk (with Content-Length, if sent).
        """
        try:
            with self._http.stream("GET", path, params=_clean(params)) as response:
                if not response.is_success:
                    response.read()
                    raise ApiError(response.status_code, _error_body(response))
                total = _content_length(response)
                written = 0
                for chunk in response.iter_bytes():
                    file.write(chunk)
                    written += len(chunk)
                    if progress is not None:
                        progress(written, total)
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
        progress: Progress | None = None,
    ) -> Any:
        """Send `file` as the raw request body, streamed in chunks; the JSON answer.

        A regular file goes with its Content-Length; anything else (a pipe) is sent chunked.
        `progress` hears of every chunk handed to the connection.
        """
        headers = {"Content-Type": content_type}
        size = _regular_size(file)
        body: BinaryIO | Iterator[bytes]
        if size is not None and progress is None:
            body = file  # httpx takes the length from fstat and reads the file in chunks
        else:
            # A pipe's fstat size is 0: a generator is sent chunked, unless the length is known.
            body = _chunks(file, size, progress)
            if size is not None:
                headers["Content-Length"] = str(size)
        return self.request(method, path, params=_clean(params), content=body, headers=headers)


CHUNK = 64 * 1024


def _clean(params: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (params or {}).items() if v is not None}


def _regular_size(file: BinaryIO) -> int | None:
    """The size of `file` when it is a regular file read from its start; None for a pipe."""
    try:
        info = os.fstat(file.fileno())
        if stat.S_ISREG(info.st_mode) and file.tell() == 0:
            return info.st_size
    except (AttributeError, OSError, ValueError):
        pass
    return None


def _chunks(file: BinaryIO, size: int | None, progress: Progress | None) -> Iterator[bytes]:
    sent = 0
    for chunk in iter(lambda: file.read(CHUNK), b""):
        yield chunk
        sent += len(chunk)
        if progress is not None:
            progress(sent, size)


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("Content-Length", "")
    return int(value) if value.isdigit() else None


def _error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not (isinstance(body, dict) and "message" in body):
        text = response.text.strip() or response.reason_phrase
        body = {"error": response.reason_phrase.replace(" ", ""), "message": text}
    return _with_retry_after(body, response)


def _with_retry_after(body: dict[str, Any], response: httpx.Response) -> dict[str, Any]:
    """A refusal for now (429) says when to try again, also when only Retry-After does."""
    wait = response.headers.get("Retry-After", "").strip()
    message = str(body["message"])
    if response.status_code != 429 or not wait.isdigit() or "try again" in message.lower():
        return body
    return {**body, "message": f"{message.rstrip('. ')}: try again in {wait} seconds"}
