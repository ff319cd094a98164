"""The request-header deadline (both of uvicorn's HTTP parsers) and the stop watchdog.

The deadline is checked on a real uvicorn server in a thread, over real sockets; the
watchdog in a fresh interpreter whose main thread then holds the GIL. Waits are socket
timeouts and deadlines, never sleeps.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn

from teamgate.web.connections import header_deadline_protocol
from teamgate.web.serving import FORCED_STOP_EXIT

DEADLINE_SECS = 30.0
PARSERS = ["httptools", "h11"]


async def echo_length(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A tiny ASGI app: answers 200 with the length of the request body."""
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = str(size).encode()
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@contextmanager
def serving(parser: str, timeout_secs: float = 0.5) -> Iterator[tuple[str, int]]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        echo_length,
        http=header_deadline_protocol(timeout_secs, parser=parser),
        lifespan="off",
        log_config=None,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    end = time.monotonic() + DEADLINE_SECS
    while not server.started:
        assert time.monotonic() < end, "the server did not start"
        time.sleep(0.01)  # polling for readiness, not a race
    try:
        yield sock.getsockname()
    finally:
        server.should_exit = True
        thread.join(DEADLINE_SECS)


def read_to_end(sock: socket.socket) -> bytes:
    sock.settimeout(DEADLINE_SECS)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def is_timeout(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    return head.startswith(b"HTTP/1.1 408 ") and b'"error": "RequestTimeout"' in body


@pytest.mark.parametrize("parser", PARSERS)
def test_unfinished_headers_get_a_408_and_the_connection_is_closed(parser: str) -> None:
    with serving(parser) as address:
        slow_body = socket.create_connection(address)
        slow_body.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n12345")
        partial = socket.create_connection(address)
        partial.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nX-Half: ")
        silent = socket.create_connection(address)
        with slow_body, partial, silent:
            assert is_timeout(read_to_end(partial))
            assert is_timeout(read_to_end(silent))
            # its headers were complete before the others began: the body is not timed
            slow_body.sendall(b"67890")
            slow_body.settimeout(DEADLINE_SECS)
            answer = slow_body.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"\r\n\r\n10")


@pytest.mark.parametrize("parser", PARSERS)
def test_each_request_on_a_kept_alive_connection_has_the_deadline(parser: str) -> None:
    with serving(parser) as address, socket.create_connection(address) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        conn.settimeout(DEADLINE_SECS)
        assert conn.recv(65536).startswith(b"HTTP/1.1 200 ")
        conn.sendall(b"GET / HTTP/1.1\r\nHo")
        assert is_timeout(read_to_end(conn))


def test_a_complete_request_is_answered_whatever_the_deadline() -> None:
    with serving("auto", timeout_secs=0.1) as address, socket.create_connection(address) as conn:
        conn.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc")
        conn.settimeout(DEADLINE_SECS)
        assert conn.recv(65536).startswith(b"HTTP/1.1 200 ")


# A stop signal arrives, then the main thread holds the GIL in a backtracking regex (as the
# old pattern matcher did) and never gives it back.
STUCK = """
import os, re, signal
from teamgate.web.serving import StopWatchdog

watchdog = StopWatchdog(timeout_secs=1)
signal.signal(signal.SIGTERM, lambda _sig, _frame: watchdog.signalled())
os.kill(os.getpid(), signal.SIGTERM)
re.fullmatch("(a*)*b", "a" * 64)
print("finished")
"""


def test_the_watchdog_ends_a_process_whose_gil_is_held_after_the_signal() -> None:
    done = subprocess.run(
        [sys.executable, "-c", STUCK], capture_output=True, text=True, timeout=DEADLINE_SECS
    )
    assert done.returncode == FORCED_STOP_EXIT, done.stderr
    assert "finished" not in done.stdout
    assert "Timeout (0:00:01)!" in done.stderr  # faulthandler's dump: where it was stuck
    assert "fullmatch" in done.stderr or "<string>" in done.stderr
