"""LOCK and UNLOCK bodies of the Terraform backend: decided before they are read, bounded, and
what the server keeps and echoes as a lock is bounded (issue 10, finding 3).

One real server (auth required, access control on); alice owns the units, carol has no access.
"""

from __future__ import annotations

import http.client
import json
from base64 import b64encode
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from teamgate.services.unit_locks import LOCK_FIELD_BYTES, LOCK_INFO_BYTES
from teamgate.web.units_api import LOCK_BODY_BYTES
from tests.conftest import Server, password_of, start_server, write_htpasswd


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root: Path = tmp_path_factory.mktemp("lock-bodies")
    started = start_server(
        root / "server",
        "--database", str(root / "torc.db"),
        "--blob-store", str(root / "blobs"),
        "--auth-file", str(write_htpasswd(root / "htpasswd")),
        "--require-auth",
        "--enforce-access-control",
    )  # fmt: skip
    yield started
    started.stop()


def client(server: Server, user: str) -> httpx.Client:
    auth = (user, password_of(user))
    return httpx.Client(base_url=f"{server.base_url}/v1", auth=auth, timeout=60)


@pytest.fixture
def alice(server: Server) -> Iterator[httpx.Client]:
    with client(server, "alice") as c:
        yield c


@pytest.fixture
def carol(server: Server) -> Iterator[httpx.Client]:
    with client(server, "carol") as c:
        yield c


def alices_unit(alice: httpx.Client, name: str) -> str:
    path = f"locks/{name}"
    response = alice.put(f"/state/{path}", content=b'{"version": 4}')
    assert response.status_code == 200, response.text
    return path


def unit(alice: httpx.Client, path: str) -> dict[str, Any]:
    response = alice.get(f"/units/{path}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def send_head_only(server: Server, user: str, method: str, path: str, declared: int) -> Any:
    """Send a request declaring a `declared`-byte body but only its first 16 bytes.

    A server that read the body before deciding would wait for the rest and never answer
    (the socket's timeout would fail the test); one that decides first answers at once.
    """
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        token = b64encode(f"{user}:{password_of(user)}".encode()).decode()
        connection.putrequest(method, f"/v1/backend/{path}")
        connection.putheader("Authorization", f"Basic {token}")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(declared))
        connection.endheaders(b'{"ID": "x",     ')
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.parametrize("method", ["LOCK", "UNLOCK"])
@pytest.mark.parametrize("declared", [LOCK_BODY_BYTES, 200_000_000], ids=["small", "200MB"])
def test_a_caller_without_access_is_refused_before_the_body_is_read(
    server: Server, alice: httpx.Client, method: str, declared: int
) -> None:
    path = alices_unit(alice, f"unread-{method.lower()}-{declared}")
    status, body = send_head_only(server, "carol", method, path, declared)
    assert (status, body["error"]) == (403, "Forbidden"), body
    assert unit(alice, path)["locked"] is False


def test_an_allowed_caller_is_refused_by_declared_length_before_reading(
    server: Server, alice: httpx.Client
) -> None:
    path = alices_unit(alice, "declared")
    status, body = send_head_only(server, "alice", "LOCK", path, LOCK_BODY_BYTES + 1)
    assert (status, body["error"]) == (413, "PayloadTooLarge"), body
    assert str(LOCK_BODY_BYTES) in body["message"]
    assert unit(alice, path)["locked"] is False


def big_lock_body(size: int) -> bytes:
    head = b'{"ID": "big", "Info": "'
    return head + b"x" * (size - len(head) - 2) + b'"}'


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("method", ["LOCK", "UNLOCK"])
def test_lock_bodies_over_the_limit_are_413_for_allowed_callers_and_403_for_others(
    alice: httpx.Client, carol: httpx.Client, method: str, streamed: bool
) -> None:
    path = alices_unit(alice, f"big-{method.lower()}-{streamed}")
    if method == "UNLOCK":
        assert alice.request("LOCK", f"/backend/{path}", json={"ID": "big"}).status_code == 200
    before = unit(alice, path)
    body = big_lock_body(1 << 20)

    def content() -> Any:
        return iter([body[i : i + 8192] for i in range(0, len(body), 8192)]) if streamed else body

    refused = carol.request(method, f"/backend/{path}", content=content())
    assert (refused.status_code, refused.json()["error"]) == (403, "Forbidden"), refused.text
    too_large = alice.request(method, f"/backend/{path}", content=content())
    assert too_large.status_code == 413, too_large.text
    assert too_large.json() == {
        "error": "PayloadTooLarge",
        "message": f"The lock body is larger than the limit of {LOCK_BODY_BYTES} bytes",
    }
    assert unit(alice, path) == before
    fits = big_lock_body(LOCK_BODY_BYTES)  # at the limit: read and taken
    assert alice.request(method, f"/backend/{path}", content=fits).status_code == 200


def test_what_is_kept_and_echoed_as_a_lock_is_bounded(alice: httpx.Client) -> None:
    path = alices_unit(alice, "bounded")
    info = {
        "ID": "bounded-lock",
        "Info": "é" * 8000,  # 16 KB of UTF-8: cut to the bound, never inside a character
        "Who": "w" * 1000,
        "Operation": "o" * 1000,
        "Version": "v" * 1000,
        "Created": "c" * 1000,
        "Path": "p" * 5000,
        "Extra": "x" * 10_000,
    }
    raw = json.dumps(info, ensure_ascii=False).encode()
    assert len(raw) < LOCK_BODY_BYTES
    taken = alice.request("LOCK", f"/backend/{path}", content=raw)
    assert taken.status_code == 200, taken.text
    lock = taken.json()
    assert set(lock) == {"ID", "Info", "Who", "Operation", "Version", "Created", "Path"}
    assert lock["ID"] == "bounded-lock" and lock["Path"] == path
    assert lock["Info"] == "é" * (LOCK_INFO_BYTES // 2)
    for field in ("Who", "Operation", "Version", "Created"):
        assert len(lock[field].encode()) == LOCK_FIELD_BYTES
    assert unit(alice, path)["lock"] == lock
    listed = alice.get("/units", params={"prefix": path}).json()["units"]
    assert [u["lock"] for u in listed] == [lock]
    again = alice.request("LOCK", f"/backend/{path}", json={"ID": "another"})
    assert again.status_code == 423, again.text
    assert {k: again.json()[k] for k in lock} == lock and len(again.content) < 8192
    wrong = alice.post(f"/backend/{path}", params={"ID": "another"}, content=b"{}")
    assert wrong.status_code == 409 and {k: wrong.json()[k] for k in lock} == lock


def test_a_lock_id_over_the_bound_is_400(alice: httpx.Client) -> None:
    path = alices_unit(alice, "long-id")
    response = alice.request("LOCK", f"/backend/{path}", json={"ID": "i" * 256})
    assert response.status_code == 400, response.text
    assert str(LOCK_FIELD_BYTES) in response.json()["message"]
    assert unit(alice, path)["locked"] is False


def test_unlock_of_a_missing_unit_is_404_before_its_body(server: Server) -> None:
    status, body = send_head_only(server, "alice", "UNLOCK", "locks/no-such-unit", 50_000)
    assert (status, body["error"]) == (404, "NotFound"), body


def send_model_head(server: Server, authorization: str | None, path: str) -> Any:
    """POST a JSON model route declaring a 5 MB body and sending only 16 bytes of it."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        connection.putrequest("POST", path)
        if authorization is not None:
            connection.putheader("Authorization", authorization)
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(5_000_000))
        connection.endheaders(b'{"name": "x",   ')
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Basic " + b64encode(b"alice:not-her-password").decode(),
        "Bearer tg_1_forged",
        "Digest username=alice",
    ],
    ids=["anonymous", "wrong-password", "forged-token", "digest"],
)
@pytest.mark.parametrize("path", ["/torc-service/v1/workflows", "/v1/units", "/v1/rbac/init"])
def test_model_bodies_are_not_read_before_the_caller_is_authenticated(
    server: Server, authorization: str | None, path: str
) -> None:
    """FastAPI parses a model's body before its dependencies run: routes authenticate first,
    so an unauthenticated caller gets 401 without the server reading (and building) it."""
    status, body = send_model_head(server, authorization, path)
    assert (status, body["error"]) == (401, "Unauthorized"), body
