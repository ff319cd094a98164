"""What the serving process does with connections and signals, against real server processes.

- A stop signal ends the process within its stop timeout, even while a request waits in a
  worker thread (here: on a database lock someone else holds).
- A connection that does not finish its request headers in `--header-timeout-secs` gets a
  408 and is closed; a slow request body is not under that deadline.
- X-Forwarded-For is believed only from the proxies in `--forwarded-allow-ips` (none by
  default), so a local client cannot choose the address the sign-in throttle counts.

Waits have deadlines (socket timeouts, `process.wait(timeout=…)`), never sleeps.
"""

from __future__ import annotations

import http.client
import signal
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import psycopg
import pytest

from teamgate.web.serving import FORCED_STOP_EXIT, STOP_TIMEOUT_SECS
from tests.conftest import BACKEND, Server, password_of, start_server, write_htpasswd

DEADLINE_SECS = 30.0
MARGIN_SECS = 5.0  # for the process to start exiting and the OS to reap it
HEADER_TIMEOUT = "1"


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def factory(*args: str) -> Server:
        root = tmp_path / f"s{len(started)}"
        server = start_server(root, "--database", str(root / "torc.db"), *args)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


# -- stopping ------------------------------------------------------------------------------


@contextmanager
def database_write_lock(server: Server) -> Iterator[None]:
    """Hold the database's write lock from another client (as a long migration or a stuck
    maintenance job would), so that the server's next write waits for it."""
    assert server.database is not None
    if BACKEND == "postgresql":
        with psycopg.connect(server.database) as conn:  # a transaction until the block ends
            conn.execute("LOCK TABLE unit IN EXCLUSIVE MODE")  # reads pass, writes wait
            yield
            conn.rollback()
        return
    conn = sqlite3.connect(server.database, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")  # in WAL mode readers still read
        yield
        conn.rollback()
    finally:
        conn.close()


def eventually(condition: Callable[[], bool], what: str) -> None:
    end = time.monotonic() + DEADLINE_SECS
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"not within {DEADLINE_SECS:.0f} s: {what}")
        time.sleep(0.05)  # polling for a file the server writes, not a race


def test_sigterm_stops_the_server_while_a_request_waits_in_a_worker_thread(
    start: Callable[..., Server],
) -> None:
    server = start()
    assert server.database is not None
    blobs = Path(server.database).parent / "blobs" if BACKEND == "sqlite" else None
    if blobs is None:  # on PostgreSQL the fixtures put the blobs beside the stand-in file
        blobs = server.log_path.parent / "blobs"

    def upload() -> None:
        with suppress(httpx.TransportError):  # the server went away: what the test is about
            httpx.put(f"{server.base_url}/v1/state/stuck/unit", content=b"{}", timeout=60)

    uploader = threading.Thread(target=upload, daemon=True)
    with database_write_lock(server):
        uploader.start()
        # The state is durable in the blob store once it was read whole; recording it
        # (a database write, in a worker thread) is next and waits for the lock.
        eventually(lambda: any(blobs.rglob("*.tfstate")), "the uploaded state in the store")
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=STOP_TIMEOUT_SECS + MARGIN_SECS)
    uploader.join(timeout=DEADLINE_SECS)
    # uvicorn cancelled the waiting request and re-raised the signal, or the watchdog ended it
    assert server.process.returncode in (-signal.SIGTERM, FORCED_STOP_EXIT), server.log()


def test_ctrl_c_stops_the_server_with_a_line_saying_so(start: Callable[..., Server]) -> None:
    """Ctrl-C is how a server on a terminal stops: exit 0, no "Aborted!" and no traceback."""
    server = start()
    server.process.send_signal(signal.SIGINT)
    assert server.process.wait(timeout=STOP_TIMEOUT_SECS + MARGIN_SECS) == 0, server.log()
    log = server.log()
    assert log.rstrip().endswith("INFO Stopped (Ctrl-C)"), log
    assert "Aborted" not in log and "Traceback" not in log


# -- request header deadline ---------------------------------------------------------------


def read_to_end(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    sock.settimeout(DEADLINE_SECS)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def assert_timed_out(answer: bytes) -> None:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), answer
    assert b'"error": "RequestTimeout"' in body and b"--header-timeout-secs" in body, answer


def test_a_connection_that_does_not_finish_its_headers_is_closed(
    start: Callable[..., Server],
) -> None:
    server = start("--header-timeout-secs", HEADER_TIMEOUT)
    address = ("127.0.0.1", server.port)
    body = b'{"path": "slow/body"}'
    # Headers complete at once, the body comes slowly: not under the header deadline.
    slow_body = socket.create_connection(address)
    slow_body.sendall(
        b"POST /v1/units HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body[:5])
    )
    partial = socket.create_connection(address)
    partial.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ")
    silent = socket.create_connection(address)
    with slow_body, partial, silent:
        assert_timed_out(read_to_end(partial))
        assert_timed_out(read_to_end(silent))
        # slow_body's headers were sent before the others' first bytes: had the deadline
        # reached its body, it would have been closed first
        slow_body.sendall(body[5:])
        slow_body.settimeout(DEADLINE_SECS)
        assert slow_body.recv(65536).startswith(b"HTTP/1.1 201 ")


def test_a_later_request_on_a_kept_alive_connection_has_the_deadline_too(
    start: Callable[..., Server],
) -> None:
    server = start("--header-timeout-secs", HEADER_TIMEOUT)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=DEADLINE_SECS)
    try:
        conn.request("GET", "/healthz")
        response = conn.getresponse()
        assert response.status == 200 and response.read()
        assert conn.sock is not None
        conn.sock.sendall(b"GET /healthz HTTP/1.1\r\nHo")
        assert_timed_out(read_to_end(conn.sock))
    finally:
        conn.close()


# -- X-Forwarded-For -----------------------------------------------------------------------


def sign_in(server: Server, user: str, forwarded_for: str) -> httpx.Response:
    return httpx.get(
        f"{server.torc_url}/ping",
        auth=(user, "wrong-password"),
        headers={"X-Forwarded-For": forwarded_for},
        timeout=30,
    )


def address_lockouts(server: Server) -> list[str]:
    """The resources of the audit log's sign-in lockouts, such as client/127.0.0.1 (read by
    alice, a system administrator)."""
    response = httpx.get(
        f"{server.base_url}/v1/audit",
        params={"action": "login.throttled"},
        auth=("alice", password_of("alice")),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return [e["resource"] for e in response.json()["items"]]


@pytest.mark.parametrize(
    ("trusted", "locked_out"),
    [([], "127.0.0.1"), (["--forwarded-allow-ips", "127.0.0.1"], "10.9.0.1")],
    ids=["default: no proxy", "loopback listed"],
)
def test_forwarded_for_is_believed_only_from_listed_proxies(
    start: Callable[..., Server], tmp_path: Path, trusted: list[str], locked_out: str
) -> None:
    server = start(
        "--auth-file", str(write_htpasswd(tmp_path / "htpasswd")),
        "--require-auth",
        "--admin-user", "alice",
        "--login-throttle-address-failures", "3",
        "--login-throttle-delay-secs", "600",
        *trusted,
    )  # fmt: skip
    address_lockouts(server)  # alice signs in now: a known-good caller passes a locked address
    statuses = [sign_in(server, f"sprayed-{n}", "10.9.0.1").status_code for n in range(3)]
    assert statuses == [401] * 3
    refused = sign_in(server, "sprayed-3", "10.9.0.2")  # a forged, fresh address
    if locked_out == "127.0.0.1":  # the header was ignored: every attempt came from loopback
        assert refused.status_code == 429, refused.text
        assert "from this address" in refused.json()["message"]
    else:  # the proxy's word was taken: 10.9.0.1 is locked out, 10.9.0.2 is not
        assert refused.status_code == 401, refused.text
        assert sign_in(server, "sprayed-4", "10.9.0.1").status_code == 429
    assert address_lockouts(server) == [f"client/{locked_out}"]
