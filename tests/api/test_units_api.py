"""Units under /v1 and the Terraform HTTP backend, in process (tests/inprocess.py).

Concurrency (one lock winner, no lost write), bad input (paths, state bodies, sizes, lock IDs,
tokens), segment-aware and RBAC-filtered listing, sharing, versions and restore. The same races
across two server processes on one PostgreSQL database are in tests/e2e/test_units_two_servers.py.

Most tests share one module application (auth on, access control off, `max_state_bytes` 2048,
`max_versions` 3) and use their own unit paths, so that none depends on another; tests that need
other settings start their own.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import AppFactory, execute_sql, start_app
from tests.inprocess import App
from tests.units_race import (
    check_one_winner,
    check_pushes_with_the_lock_lose_no_write,
    lock_request,
    run_together,
    sha,
    state,
)

MAX_STATE = 2048
MAX_VERSIONS = 3


def client(
    server: App, user: str | None = "alice", password: str | None = None, **kwargs: Any
) -> httpx.Client:
    """A units API client: `user` with the test password (or `password`, e.g. a token)."""
    return server.client(user, password, base_url=f"{server.base_url}/v1", **kwargs)


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """Auth on, access control off, small state limit, three versions kept."""
    with ExitStack() as stack:
        yield start_app(
            stack,
            tmp_path_factory.mktemp("units"),
            max_state_bytes=MAX_STATE,
            max_versions=MAX_VERSIONS,
        )


@pytest.fixture
def alice(plain: App) -> Iterator[httpx.Client]:
    with client(plain) as c:
        yield c


def unique(prefix: str = "t") -> str:
    return f"{prefix}/{uuid.uuid4().hex[:10]}"


def assert_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= {"error", "message"}, body
    assert "Traceback" not in response.text
    return body  # type: ignore[no-any-return]


def info(c: httpx.Client, path: str) -> dict[str, Any]:
    response = c.get(f"/units/{path}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def paths(c: httpx.Client, prefix: str | None = None) -> set[str]:
    response = c.get("/units", params={"prefix": prefix} if prefix is not None else None)
    assert response.status_code == 200, response.text
    return {u["path"] for u in response.json()["units"]}


def put_state(c: httpx.Client, path: str, data: bytes, lock_id: str | None = None) -> None:
    params = {"lock_id": lock_id} if lock_id else None
    response = c.put(f"/state/{path}", content=data, params=params)
    assert response.status_code == 200, response.text


# -- concurrency ------------------------------------------------------------------------


@pytest.mark.parametrize("existing", [True, False], ids=["existing-unit", "new-unit"])
@pytest.mark.parametrize("kind", ["backend", "rest"])
def test_fifty_simultaneous_locks_have_one_winner(
    plain: App, alice: httpx.Client, kind: str, existing: bool
) -> None:
    path = unique("locks")
    if existing:
        assert alice.post("/units", json={"path": path}).status_code == 201
    winner = check_one_winner(
        kind, run_together(50, lock_request(kind, path), lambda _: client(plain))
    )
    assert winner["ID"].startswith("lock-")
    found = info(alice, path)
    assert found["locked"] is True
    assert found["lock"]["ID"] == winner["ID"]
    assert paths(alice, path) == {path}  # one unit, whatever the race


@pytest.mark.parametrize("max_versions", [MAX_VERSIONS, 50], ids=["pruned", "all-kept"])
def test_concurrent_pushes_with_the_lock_lose_no_write(
    app_factory: AppFactory, plain: App, max_versions: int
) -> None:
    server = plain if max_versions == MAX_VERSIONS else app_factory(max_versions=max_versions)
    with client(server) as alice:
        check_pushes_with_the_lock_lose_no_write(
            alice, lambda _: client(server), unique("push"), max_versions
        )


def test_concurrent_pushes_without_the_lock_are_all_refused(
    plain: App, alice: httpx.Client
) -> None:
    path = unique("push")
    put_state(alice, path, state(0))
    lock = alice.post(f"/locks/{path}", json={}).json()
    responses = run_together(
        10,
        lambda i, c: c.put(
            f"/state/{path}", params={"lock_id": "wrong"} if i % 2 else None, content=state(i + 1)
        ),
        lambda _: client(plain),
    )
    for r in responses:
        body = assert_error(r, 423)
        assert body["lock"]["ID"] == lock["ID"]
    assert info(alice, path)["version"] == 1
    assert alice.get(f"/state/{path}").content == state(0)


# -- bad input --------------------------------------------------------------------------

BAD_URL_PATHS = {
    "dotdot": "..%2Fx",
    "dotdot-inside": "a%2F..%2Fb",
    "dot": "a%2F.%2Fb",
    "slashes-only": "//",
    "control-char": "a%01b",
    "tab": "a%09b",
    "carriage-return": "a%0Db",
    "delete-char": "a%7Fb",
    "too-long": "a" * 1025,
    "zero-width-space": "a%E2%80%8Bb",
    "bidi-override": "%E2%80%AE",
    "byte-order-mark": "%EF%BB%BFprod",
}


@pytest.mark.parametrize("raw", BAD_URL_PATHS.values(), ids=BAD_URL_PATHS.keys())
def test_bad_paths_in_urls_are_400_and_create_nothing(alice: httpx.Client, raw: str) -> None:
    before = paths(alice)
    for method, prefix, kwargs in (
        ("PUT", "state", {"content": state(1)}),
        ("POST", "backend", {"content": state(1)}),
        ("LOCK", "backend", {"json": {"ID": "x"}}),
        ("POST", "locks", {}),
        ("GET", "state", {}),
        ("GET", "units", {}),
        ("GET", "versions", {}),
    ):
        response = alice.request(method, f"/{prefix}/{raw}", **kwargs)
        assert_error(response, 400)
    assert paths(alice) == before


def test_a_newline_in_a_unit_url_is_400(alice: httpx.Client) -> None:
    for method, prefix in (("PUT", "state"), ("POST", "backend"), ("GET", "units")):
        assert_error(alice.request(method, f"/{prefix}/a%0Ab", content=state(1)), 400)


@pytest.mark.parametrize(
    "path", ["../x", "a/../b", "///", "", "a\x00b", "a\x1bb", "a\nb", " a/b", "a/ b /c"]
)
def test_bad_paths_in_bodies_are_400(alice: httpx.Client, path: str) -> None:
    before = paths(alice)
    assert_error(alice.post("/units", json={"path": path}), 400)
    assert paths(alice) == before


def test_nfd_and_nfc_spellings_name_one_unit(alice: httpx.Client) -> None:
    """`café` typed on macOS (NFD: e + combining acute) and on Linux (NFC: é) is one unit."""
    name = uuid.uuid4().hex[:8]
    nfd, nfc = f"cafe\u0301/{name}", f"caf\u00e9/{name}"
    created = alice.post("/units", json={"path": nfd})
    assert created.status_code == 201, created.text
    assert created.json()["path"] == nfc
    assert_error(alice.post("/units", json={"path": nfc}), 409)
    assert alice.put(f"/state/{nfc}", content=state(7)).status_code in (200, 204)
    pulled = alice.get(f"/state/{nfd}")
    assert pulled.status_code == 200 and json.loads(pulled.content)["serial"] == 7
    assert paths(alice, "cafe\u0301") >= {nfc}


@pytest.mark.parametrize(
    ("path", "named"),
    [("a\u200bb", "U+200B ZERO WIDTH SPACE"), ("\u202e", "U+202E RIGHT-TO-LEFT OVERRIDE")],
)
def test_invisible_characters_in_paths_are_400(alice: httpx.Client, path: str, named: str) -> None:
    before = paths(alice)
    for response in (
        alice.post("/units", json={"path": path}),
        alice.put(f"/state/{path}", content=state(1)),
    ):
        assert named in assert_error(response, 400)["message"]
    assert paths(alice) == before


def test_repeated_slashes_are_normalised(alice: httpx.Client) -> None:
    name = uuid.uuid4().hex[:8]
    created = alice.post("/units", json={"path": f"//norm//{name}/"})
    assert created.status_code == 201, created.text
    assert created.json()["path"] == f"norm/{name}"
    assert_error(alice.post("/units", json={"path": f"norm/{name}"}), 409)


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", b'"text"', b"", b"\xff\xfe{}", b'{"a": 1', b"null"],
    ids=["text", "array", "string", "empty", "bad-utf8", "truncated", "null"],
)
@pytest.mark.parametrize("via", ["rest", "backend"])
def test_a_state_that_is_not_a_json_object_is_400_and_changes_nothing(
    alice: httpx.Client, body: bytes, via: str
) -> None:
    path = unique("json")
    put_state(alice, path, state(1))
    before = info(alice, path)
    if via == "rest":
        response = alice.put(f"/state/{path}", content=body)
    else:
        response = alice.post(f"/backend/{path}", content=body)
    assert_error(response, 400)
    after = info(alice, path)
    assert (after["version"], after["sha256"]) == (before["version"], before["sha256"])
    assert alice.get(f"/state/{path}").content == state(1)
    assert alice.get(f"/versions/{path}").json()["versions"] == []
    # nothing was created for a new path either
    fresh = unique("json")
    response = alice.put(f"/state/{fresh}", content=body)
    assert_error(response, 400)
    assert fresh not in paths(alice)


def _chunks(data: bytes, size: int = 512) -> Iterator[bytes]:
    for start_at in range(0, len(data), size):
        yield data[start_at : start_at + size]


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("via", ["rest", "backend"])
def test_a_state_over_max_state_bytes_is_413_and_changes_nothing(
    plain: App, alice: httpx.Client, streamed: bool, via: str
) -> None:
    path = unique("big")
    put_state(alice, path, state(1))
    before = info(alice, path)
    big = state(2, pad=MAX_STATE)
    assert len(big) > MAX_STATE
    content: Any = _chunks(big) if streamed else big
    if via == "rest":
        response = alice.put(f"/state/{path}", content=content)
    else:
        response = alice.post(f"/backend/{path}", content=content)
    assert_error(response, 413)
    after = info(alice, path)
    assert (after["version"], after["sha256"]) == (before["version"], before["sha256"])
    assert alice.get(f"/state/{path}").content == state(1)
    # just under the limit is fine
    fits = state(3, pad=MAX_STATE - len(state(3, pad=1)) - 1)
    assert len(fits) <= MAX_STATE
    put_state(alice, path, fits)
    assert info(alice, path)["sha256"] == sha(fits)


def test_oversized_upload_leaves_no_blob_behind(plain: App, alice: httpx.Client) -> None:
    blob_dir = Path(str(plain.settings.blob_store))
    path = unique("big")
    put_state(alice, path, state(1))

    def files() -> set[Path]:
        return {p for p in blob_dir.rglob("*") if p.is_file()}

    before = files()
    for _ in range(3):
        assert_error(alice.put(f"/state/{path}", content=_chunks(state(2, pad=4 * MAX_STATE))), 413)
        assert_error(alice.put(f"/state/{path}", content=b"not json"), 400)
    assert files() == before


@pytest.mark.parametrize("via", ["rest", "backend"])
def test_unlock_with_an_unknown_lock_id_keeps_the_lock(alice: httpx.Client, via: str) -> None:
    path = unique("unlock")
    lock = alice.request("LOCK", f"/backend/{path}", json={"ID": "the-real-one"}).json()
    if via == "rest":
        response = alice.delete(f"/locks/{path}", params={"lock_id": "not-the-lock"})
    else:
        response = alice.request("UNLOCK", f"/backend/{path}", json={"ID": "not-the-lock"})
    assert_error(response, 423)
    assert info(alice, path)["lock"]["ID"] == lock["ID"] == "the-real-one"
    # a push with the wrong ID is refused, with the right one accepted
    wrong = alice.post(f"/backend/{path}", params={"ID": "nope"}, content=state(1))
    assert wrong.status_code == 409, wrong.text
    assert wrong.json()["ID"] == "the-real-one"  # the backend answers with the holder's lock
    ok = alice.post(f"/backend/{path}", params={"ID": "the-real-one"}, content=state(1))
    assert ok.status_code == 200, ok.text
    unlocked = alice.request("UNLOCK", f"/backend/{path}", json={"ID": "the-real-one"})
    assert unlocked.status_code == 200, unlocked.text
    assert info(alice, path)["locked"] is False
    assert_error(alice.delete(f"/locks/{path}", params={"lock_id": "the-real-one"}), 409)


def test_bad_lock_bodies_are_400(alice: httpx.Client) -> None:
    path = unique("lockbody")
    for body in (b"not json", b"[1]", b'"x"', b'{"ID": "a\\u0000b"}'):
        assert_error(alice.request("LOCK", f"/backend/{path}", content=body), 400)
    assert path not in paths(alice)
    assert_error(alice.post(f"/locks/{path}", json={"id": "x" * 300}), 400)
    assert_error(alice.post(f"/locks/{path}", json={"unknown": 1}), 400)
    assert path not in paths(alice)


def test_tokens_work_until_revoked(plain: App) -> None:
    with client(plain) as alice:
        issued = alice.post("/auth/token", json={"description": "ci"})
        assert issued.status_code == 201, issued.text
    token = issued.json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    path = unique("tok")
    for n, c in enumerate((client(plain, "alice", token), client(plain, None, headers=bearer))):
        with c:
            assert c.get("/auth/me").json() | {"expires_at": None} == {
                "user": "alice",
                "system_admin": False,
                "auth": "token",
                "issuer": None,  # a password-bound token: no identity provider
                "idp_groups": [],
                "expires_at": None,  # the token's (checked in test_tokens_managed)
            }
            put_state(c, path, state(n))
            # a token cannot mint another token
            assert_error(c.post("/auth/token"), 403)
    with client(plain) as alice:
        assert info(alice, path)["owner"] == "alice"
    # alice's token with another user's name is not a valid login
    with client(plain, "bob", token) as c:
        assert_error(c.get("/auth/me"), 401)
    # revoking needs the token itself as Bearer; without any credentials, sign in first
    with client(plain) as alice:
        assert_error(alice.delete("/auth/token"), 400)
    with client(plain, user=None) as anonymous:
        response = anonymous.delete("/auth/token")
        assert_error(response, 401)
        assert response.headers["WWW-Authenticate"] == 'Basic realm="Torc"'
    with client(plain, None, headers=bearer) as c:
        assert c.delete("/auth/token").status_code == 200
        assert_error(c.get("/auth/me"), 401)
        assert_error(c.get(f"/state/{path}"), 401)
    with client(plain, "alice", token) as c:
        assert_error(c.get(f"/state/{path}"), 401)
        assert_error(c.put(f"/state/{path}", content=state(9)), 401)
    with client(plain) as alice:
        assert alice.get(f"/state/{path}").content == state(1)


def test_an_expired_token_is_401(plain: App) -> None:
    with client(plain) as alice:
        issued = alice.post("/auth/token", json={"ttl_days": 1}).json()
    with client(plain, "alice", issued["token"]) as c:
        assert c.get("/auth/me").status_code == 200
        execute_sql(
            plain,
            "UPDATE api_token SET expires_at = '2001-01-01T00:00:00Z' WHERE id = :id",
            id=issued["id"],
        )
        assert_error(c.get("/auth/me"), 401)
        assert_error(c.put(f"/state/{unique('exp')}", content=state(1)), 401)
    bearer = {"Authorization": f"Bearer {issued['token']}"}
    with client(plain, None, headers=bearer) as c:
        body = assert_error(c.get("/auth/me"), 401)
        assert "expired" in body["message"]


@pytest.mark.parametrize(
    "token", ["tg_", "tg_x_y", "tg_" + "0" * 16 + "_" + "a" * 43, "Bearer", "\u00e9t\u00e9", "a:b"]
)
def test_malformed_tokens_are_401(plain: App, token: str) -> None:
    basic = base64.b64encode(f"alice:{token}".encode()).decode()
    with client(plain, None) as c:
        for header in (b"Bearer " + token.encode(), f"Basic {basic}".encode()):
            assert_error(c.get("/units", headers={"Authorization": header}), 401)


# -- listing ----------------------------------------------------------------------------


def test_prefix_is_segment_aware(alice: httpx.Client) -> None:
    root = f"seg{uuid.uuid4().hex[:6]}"
    names = [
        f"{root}/dev",
        f"{root}/dev/x",
        f"{root}/dev/y/z",
        f"{root}/devops/x",
        f"{root}/dev-x",
        f"{root}/dev_x/a",
        f"{root}/prod/dev",
        f"{root}/de%v/a",
    ]
    for name in names:
        assert alice.post("/units", json={"path": name}).status_code == 201
    expected = {f"{root}/dev", f"{root}/dev/x", f"{root}/dev/y/z"}
    assert paths(alice, f"{root}/dev") == expected
    assert paths(alice, f"{root}/dev/") == expected
    assert paths(alice, f"/{root}//dev") == expected
    assert paths(alice, f"{root}/dev/y") == {f"{root}/dev/y/z"}
    assert paths(alice, f"{root}/de") == set()
    # LIKE wildcards in the prefix are literal
    assert paths(alice, f"{root}/dev_x") == {f"{root}/dev_x/a"}
    assert paths(alice, f"{root}/de_") == set()
    assert paths(alice, f"{root}/de%") == set()
    assert paths(alice, f"{root}/de%v") == {f"{root}/de%v/a"}
    assert paths(alice, root) == set(names)
    assert_error(alice.get("/units", params={"prefix": "../x"}), 400)


@pytest.fixture
def rbac_server(secured_app: App) -> App:
    """Auth required, access control on, alice is a system administrator."""
    return secured_app


def grant(admin: httpx.Client, user: str, role: str, *rules: str) -> None:
    """Give `user` a role `role` with one permission holding `rules`."""
    created = admin.post("/rbac/permissions", json={"id": f"{role}-perm", "rules": list(rules)})
    assert created.status_code == 201, created.text
    assert admin.post("/rbac/roles", json={"id": role}).status_code == 201
    assigned = admin.post(f"/rbac/roles/{role}/permissions", json={"permission_id": f"{role}-perm"})
    assert assigned.status_code == 200, assigned.text
    assert admin.post("/rbac/users/assign", json={"email": user, "role_id": role}).is_success


def test_listing_is_filtered_by_rbac_and_deny_rules(rbac_server: App) -> None:
    alice, bob, carol = (client(rbac_server, u) for u in ("alice", "bob", "carol"))
    assert bob.post("/units", json={"path": "bob/own"}).status_code == 201  # before rbac init
    assert alice.post("/rbac/init").status_code == 200
    for name in ("dev/a", "dev/b/c", "dev/secret", "devops/y", "prod/x", "dev"):
        assert alice.post("/units", json={"path": name}).status_code == 201, name
    assert paths(bob) == {"bob/own"}
    grant(alice, "bob", "dev-reader", "allow:unit.read:dev/*")
    assert paths(bob) == {"dev/a", "dev/b/c", "dev/secret", "bob/own"}
    assert paths(bob, "dev") == {"dev/a", "dev/b/c", "dev/secret"}
    assert paths(bob, "prod") == set()
    # the list agrees with single reads
    assert bob.get("/units/dev/b/c").status_code == 200
    assert_error(bob.get("/units/devops/y"), 403)
    assert_error(bob.get("/units/dev"), 403)
    # a deny rule from another role wins over the allow, in the list too
    grant(alice, "bob", "no-secrets", "deny:unit.read:dev/secret*,bob/*")
    assert paths(bob) == {"dev/a", "dev/b/c"}
    assert_error(bob.get("/units/dev/secret"), 403)
    assert_error(bob.get("/state/bob/own"), 403)  # deny beats ownership
    # carol has no grant: nothing of theirs is visible
    assert paths(carol) == set()
    # read does not give write
    assert_error(bob.put("/state/dev/a", content=state(1)), 403)
    assert_error(bob.request("LOCK", "/backend/dev/a", json={"ID": "b"}), 403)
    assert info(alice, "dev/a")["version"] == 0
    # anonymous callers are refused outright
    with client(rbac_server, None) as anonymous:
        assert_error(anonymous.get("/units"), 401)
    for c in (alice, bob, carol):
        c.close()


def test_sharing_a_unit_with_a_group_gives_members_read_access(rbac_server: App) -> None:
    alice, carol, dave = (client(rbac_server, u) for u in ("alice", "carol", "dave"))
    put_state(alice, "team/net", state(7))
    assert_error(carol.get("/state/team/net"), 403)
    assert paths(carol) == set()
    torc = rbac_server.client("alice", base_url=rbac_server.torc_url)
    group = torc.post("/access_groups", json={"name": "net-team"}).json()
    added = torc.post(f"/access_groups/{group['id']}/members", json={"user_name": "carol"})
    assert added.status_code == 200, added.text
    shared = alice.post("/shares/team/net", json={"group": "net-team"})
    assert shared.status_code == 200, shared.text
    assert info(alice, "team/net")["groups"] == ["net-team"]
    assert carol.get("/state/team/net").content == state(7)
    assert paths(carol) == {"team/net"}
    assert carol.get("/versions/team/net").status_code == 200
    # not a member: still nothing
    assert_error(dave.get("/state/team/net"), 403)
    assert paths(dave) == set()
    # an unknown group is 404, a second share 409
    assert_error(alice.post("/shares/team/net", json={"group": "nope"}), 404)
    assert_error(alice.post("/shares/team/net", json={"group": "net-team"}), 409)
    # a member who is not the owner cannot share further
    assert torc.post("/access_groups", json={"name": "other"}).status_code == 200
    assert_error(carol.post("/shares/team/net", json={"group": "other"}), 403)
    # ... and is refused before the group is looked up: which groups exist is not hers to learn
    assert_error(carol.post("/shares/team/net", json={"group": "no-such-group"}), 403)
    assert_error(carol.delete("/shares/team/net", params={"group": "no-such-group"}), 403)
    # unsharing takes effect on the next request
    assert alice.delete("/shares/team/net", params={"group": "net-team"}).status_code == 200
    assert_error(carol.get("/state/team/net"), 403)
    assert paths(carol) == set()
    # removing the member also takes effect at once
    assert alice.post("/shares/team/net", json={"group": "net-team"}).status_code == 200
    assert carol.get("/state/team/net").status_code == 200
    assert torc.delete(f"/access_groups/{group['id']}/members/carol").status_code == 200
    assert_error(carol.get("/state/team/net"), 403)
    for c in (alice, carol, dave, torc):
        c.close()


def test_a_group_admin_cannot_take_over_a_unit(rbac_server: App) -> None:
    """Finding 1: carol administers `data` and has no rights on bob's unit. Sharing it with
    her group would give her everything bob has, so it is refused and changes nothing. The
    system administrator may share it (audited as such); carol may take her group's access
    away again."""
    alice, bob, carol = (client(rbac_server, u) for u in ("alice", "bob", "carol"))
    put_state(bob, "bobs/db", state(3))
    torc = rbac_server.client("alice", base_url=rbac_server.torc_url)
    data = torc.post("/access_groups", json={"name": "data"}).json()["id"]
    joined = torc.post(
        f"/access_groups/{data}/members", json={"user_name": "carol", "role": "admin"}
    )
    assert joined.status_code == 200, joined.text
    before = info(bob, "bobs/db")
    body = assert_error(carol.post("/shares/bobs/db", json={"group": "data"}), 403)
    assert body["message"] == (
        "User 'carol' may not share unit 'bobs/db': only its owner, a system administrator or "
        "a holder of unit.share on 'bobs/db' may share it"
    )
    assert info(bob, "bobs/db") == before
    for refused in (
        carol.get("/state/bobs/db"),
        carol.put("/state/bobs/db", content=state(4)),
        carol.request("LOCK", "/backend/bobs/db", json={"ID": "c", "Who": "carol"}),
        carol.delete("/units/bobs/db"),
    ):
        assert_error(refused, 403)
    assert info(bob, "bobs/db") == before
    # the administrator may, and the audit log says on what grounds
    assert alice.post("/shares/bobs/db", json={"group": "data"}).status_code == 200
    shared = alice.get("/audit", params={"action": "unit.share", "limit": "1"}).json()["items"]
    assert [(e["user"], e["resource"], e["reason"]) for e in shared] == [
        ("alice", "unit/bobs/db", "system administrator")
    ]
    assert carol.get("/state/bobs/db").content == state(3)
    # removing the group's access is safe: the group's admin may
    assert carol.delete("/shares/bobs/db", params={"group": "data"}).status_code == 200
    assert_error(carol.get("/state/bobs/db"), 403)
    # an RBAC allow for unit.share (or, as before, workflow.share) on the name lets one share
    grant(alice, "carol", "sharer", "allow:workflow.share:bobs/*")
    assert carol.post("/shares/bobs/db", json={"group": "data"}).status_code == 200
    for c in (alice, bob, carol, torc):
        c.close()


def test_creating_a_unit_needs_unit_write_once_rbac_is_initialised(
    app_factory: AppFactory,
) -> None:
    """Finding 5: after `rbac init`, nobody claims a path meant for another team; before it,
    anyone signed in creates units and owns them."""
    server = app_factory(
        users=("alice", "mallory", "frank"),
        require_auth=True,
        enforce_access_control=True,
        admin_users=("alice",),
    )
    alice, mallory, frank = (client(server, u) for u in ("alice", "mallory", "frank"))
    assert mallory.post("/units", json={"path": "early/m"}).status_code == 201
    assert info(mallory, "early/m")["owner"] == "mallory"
    assert alice.post("/rbac/init").status_code == 200
    grant(alice, "frank", "dev", "allow:unit.read,unit.write,unit.lock:dev/*")
    creations: dict[str, Callable[[httpx.Client, str], httpx.Response]] = {
        "POST /units": lambda c, p: c.post("/units", json={"path": p}),
        "PUT /state": lambda c, p: c.put(f"/state/{p}", content=state(1)),
        "POST /backend": lambda c, p: c.post(f"/backend/{p}", content=state(1)),
        "LOCK /backend": lambda c, p: c.request("LOCK", f"/backend/{p}", json={"ID": "x"}),
        "POST /locks": lambda c, p: c.post(f"/locks/{p}", json={"who": "x"}),
    }
    for how, create in creations.items():
        body = assert_error(create(mallory, "dev/payments"), 403)
        assert body["message"] == (
            "User 'mallory' may not create unit 'dev/payments': creating a unit needs "
            "unit.write on its path; ask an RBAC administrator for a permission"
        ), how
        assert_error(alice.get("/units/dev/payments"), 404)  # nothing was created
        assert_error(create(frank, f"prod/{how.split()[0].lower()}"), 403)  # not his path
    for number, (how, create) in enumerate(creations.items()):
        path = f"dev/app{number}"
        assert create(frank, path).is_success, how
        assert info(frank, path)["owner"] == "frank", how
    # what mallory created before init stays hers
    put_state(mallory, "early/m", state(2))
    for c in (alice, mallory, frank):
        c.close()


# -- versions and restore ---------------------------------------------------------------


def test_versions_keep_at_most_max_versions_and_restore_brings_old_content_back(
    alice: httpx.Client,
) -> None:
    path = unique("ver")
    contents = [state(i) for i in range(1, 7)]  # generations 1..6
    for content in contents:
        put_state(alice, path, content)
    versions = alice.get(f"/versions/{path}").json()["versions"]
    assert [v["version"] for v in versions] == [5, 4, 3]
    for v in versions:
        assert v["sha256"] == sha(contents[v["version"] - 1])
        assert v["size"] == len(contents[v["version"] - 1])
        old = alice.get(f"/state/{path}", params={"version": v["version"]})
        assert old.content == contents[v["version"] - 1]
    assert_error(alice.get(f"/state/{path}", params={"version": 1}), 404)  # pruned
    assert_error(alice.get(f"/state/{path}", params={"version": 6}), 404)  # current, no version
    # restore generation 3: it becomes generation 7, generation 6 becomes a version
    restored = alice.post(f"/restore/{path}", json={"version": 3})
    assert restored.status_code == 200, restored.text
    assert restored.json()["version"] == 7
    assert alice.get(f"/state/{path}").content == contents[2]
    assert info(alice, path)["sha256"] == sha(contents[2])
    versions = alice.get(f"/versions/{path}").json()["versions"]
    assert [v["version"] for v in versions] == [6, 5, 4]
    assert versions[0]["sha256"] == sha(contents[5])
    # restoring something not kept is 404 and changes nothing
    for missing in (1, 3, 99):
        assert_error(alice.post(f"/restore/{path}", json={"version": missing}), 404)
    assert info(alice, path)["version"] == 7
    assert_error(alice.post(f"/restore/{path}", json={"version": -1}), 400)
    # a locked unit restores only with its lock ID
    lock = alice.post(f"/locks/{path}", json={}).json()
    body = assert_error(alice.post(f"/restore/{path}", json={"version": 5}), 423)
    assert body["lock"]["ID"] == lock["ID"]
    ok = alice.post(f"/restore/{path}", json={"version": 5, "lock_id": lock["ID"]})
    assert ok.status_code == 200, ok.text
    assert alice.get(f"/state/{path}").content == contents[4]


def test_backend_get_of_a_unit_without_state_and_delete(alice: httpx.Client) -> None:
    path = unique("del")
    assert alice.get(f"/backend/{path}").status_code in (204, 404)
    assert alice.post("/units", json={"path": path}).status_code == 201
    assert alice.get(f"/backend/{path}").status_code in (204, 404)
    put_state(alice, path, state(1))
    put_state(alice, path, state(2))
    assert alice.get(f"/backend/{path}").content == state(2)
    assert alice.delete(f"/backend/{path}").status_code == 200
    assert path not in paths(alice)
    assert_error(alice.get(f"/versions/{path}"), 404)
    assert_error(alice.get(f"/state/{path}"), 404)
