"""Bad input to the Torc REST API, the server in process.

Every refusal must be a JSON `{"error", "message"}` body with the right 4xx status — never a 500 —
and must leave no partial data behind. One server (auth required, access control on, alice is a
system administrator) is shared by the tests of one test process; a second, unauthenticated
one has a small `max_body_bytes`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import start_app
from tests.inprocess import App

HUGE = str(2**63)  # one past SQLite's largest INTEGER
DEFAULT_LIMIT = 10 * 1024 * 1024
SMALL_LIMIT = 4096
REALM = 'Basic realm="Torc"'
JSON_HEADERS = {"content-type": "application/json"}


@dataclass
class Api:
    server: App
    clients: dict[str, httpx.Client]
    group_id: int  # "ml-team", alice and bob are members
    workflow_id: int  # "alice-private", owned by alice, shared with nobody

    def __call__(self, user: str) -> httpx.Client:
        return self.clients[user]

    def anonymous(self) -> httpx.Client:
        return self.clients[""]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with ExitStack() as stack:
        server = start_app(
            stack,
            tmp_path_factory.mktemp("bad-input"),
            require_auth=True,
            enforce_access_control=True,
            admin_users=("alice",),
        )
        clients = {
            user: server.client(user or None, base_url=server.torc_url)
            for user in ("alice", "bob", "carol", "")
        }
        alice = clients["alice"]
        group = ok(alice.post("/access_groups", json={"name": "ml-team"}))
        for user in ("alice", "bob"):
            ok(alice.post(f"/access_groups/{group['id']}/members", json={"user_name": user}))
        workflow = ok(alice.post("/workflows", json={"name": "alice-private"}))
        yield Api(server, clients, group["id"], workflow["id"])


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    with ExitStack() as stack:
        root = tmp_path_factory.mktemp("small-bodies")
        yield start_app(stack, root, users=(), max_body_bytes=SMALL_LIMIT)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """A server of its own for requests that may leave it unusable (no auth, no access control)."""
    with ExitStack() as stack:
        server = start_app(stack, tmp_path_factory.mktemp("scratch"), users=())
        yield server.client(base_url=server.torc_url)


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def assert_error(response: httpx.Response, status: int, *fragments: str) -> str:
    """The response is a JSON error with `status` whose message contains every fragment."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "message"}, body
    assert isinstance(body["error"], str) and body["error"]
    message: str = body["message"]
    for fragment in fragments:
        assert fragment in message, (fragment, body)
    if status == 401:
        assert response.headers.get("www-authenticate") == REALM
    return message


def workflow_names(client: httpx.Client) -> list[str]:
    return [w["name"] for w in ok(client.get("/workflows"))["items"]]


# -- ids in the path -------------------------------------------------------------------------------


def id_paths(wf: str, group: str) -> list[tuple[str, str]]:
    return [
        ("GET", f"/workflows/{wf}"),
        ("DELETE", f"/workflows/{wf}"),
        ("GET", f"/workflows/{wf}/access_groups"),
        ("POST", f"/workflows/{wf}/access_groups/1"),
        ("DELETE", f"/workflows/1/access_groups/{group}"),
        ("GET", f"/access_groups/{group}"),
        ("DELETE", f"/access_groups/{group}"),
        ("GET", f"/access_groups/{group}/members"),
        ("POST", f"/access_groups/{group}/members"),
        ("DELETE", f"/access_groups/{group}/members/bob"),
        ("GET", f"/access_check/{wf}/alice"),
    ]


@pytest.mark.parametrize("bad", ["abc", "1.5", "1e3", "0x10", "%20"])
def test_non_integer_path_ids_are_400(api: Api, bad: str) -> None:
    for method, path in id_paths(bad, bad):
        body = {"user_name": "carol"} if path.endswith("/members") and method == "POST" else None
        response = api("alice").request(method, path, json=body)
        assert_error(response, 400, "must be an integer")
    assert "alice-private" in workflow_names(api("alice"))


@pytest.mark.parametrize("method_path", id_paths(HUGE, HUGE), ids=lambda mp: " ".join(mp))
def test_ids_beyond_64_bits_are_a_clean_error(api: Api, method_path: tuple[str, str]) -> None:
    method, path = method_path
    body = {"user_name": "carol"} if path.endswith("/members") and method == "POST" else None
    response = api("alice").request(method, path, json=body)
    assert response.status_code in (400, 404), (response.status_code, response.text)
    assert_error(response, response.status_code)


# -- paging ----------------------------------------------------------------------------------------


def list_paths(api: Api) -> list[str]:
    return [
        "/workflows",
        "/access_groups",
        f"/access_groups/{api.group_id}/members",
        "/users/alice/groups",
        f"/workflows/{api.workflow_id}/access_groups",
    ]


def test_offset_beyond_64_bits_is_400(api: Api) -> None:
    for path in list_paths(api):
        assert_error(api("alice").get(path, params={"offset": HUGE}), 400, "offset")


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"offset": "-1"}, "offset"),
        ({"offset": "abc"}, "offset"),
        ({"limit": "10001"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "-5"}, "limit"),
        ({"limit": "many"}, "limit"),
    ],
)
def test_bad_paging_is_400(api: Api, params: dict[str, str], name: str) -> None:
    for path in list_paths(api):
        assert_error(api("alice").get(path, params=params), 400, name)


def test_limit_of_10000_is_accepted(api: Api) -> None:
    for path in list_paths(api):
        assert ok(api("alice").get(path, params={"limit": "10000", "offset": "0"}))


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"sort_by": "password"}, "sort"),
        ({"reverse_sort": "maybe"}, "reverse_sort"),
        ({"is_archived": "perhaps"}, "is_archived"),
    ],
)
def test_bad_list_filters_are_400(api: Api, params: dict[str, str], name: str) -> None:
    assert_error(api("alice").get("/workflows", params=params), 400, name)


# -- bodies that are not what the endpoint takes ---------------------------------------------------


def post_paths(api: Api) -> list[str]:
    return [
        "/workflows",
        "/workflow_specs",
        "/access_groups",
        f"/access_groups/{api.group_id}/members",
        f"/workflows/{api.workflow_id}/access_groups",
    ]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b'{"name": "half', "not valid JSON"),
        (b"{bad}", "not valid JSON"),
        (b"", ""),
        (b"\xff\xfe\x00", ""),
        (b"[1, 2]", "JSON object"),
        (b'"a string"', "JSON object"),
        (b"42", "JSON object"),
        (b"null", ""),
    ],
    ids=["truncated", "not-json", "empty", "binary", "array", "string", "number", "null"],
)
def test_invalid_json_bodies_are_400(api: Api, content: bytes, fragment: str) -> None:
    before = workflow_names(api("alice"))
    for path in post_paths(api):
        response = api("alice").post(path, content=content, headers=JSON_HEADERS)
        assert_error(response, 400, fragment)
    assert workflow_names(api("alice")) == before


def test_form_encoded_body_is_400(api: Api) -> None:
    response = api("alice").post("/access_groups", data={"name": "form-team"})
    assert_error(response, 400, "JSON")
    assert "form-team" not in [g["name"] for g in ok(api("alice").get("/access_groups"))["items"]]


def test_deeply_nested_json_is_400(api: Api) -> None:
    body = '{"name": "deep", "metadata": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}"
    for path in ("/workflows", "/workflow_specs"):
        response = api("alice").post(path, content=body, headers=JSON_HEADERS)
        assert_error(response, 400)
    assert "deep" not in workflow_names(api("alice"))


@pytest.mark.parametrize(
    ("path", "body", "fragments"),
    [
        ("/workflows", {"name": "w-extra", "colour": "red"}, ("unknown field", "colour")),
        ("/workflows", {"name": 5}, ("name",)),
        ("/workflows", {"name": ""}, ("name",)),
        ("/workflows", {"description": "no name"}, ("name", "required")),
        ("/workflows", {"name": "w-meta", "metadata": [1]}, ("metadata",)),
        ("/access_groups", {"name": "g-extra", "colour": "red"}, ("colour",)),
        ("/access_groups", {"name": ["list"]}, ("name",)),
        ("/access_groups", {"name": "   "}, ("name",)),
        ("/access_groups", {"name": "x" * 300}, ("name",)),
        ("/access_groups", {"name": "tab\tname"}, ("name",)),
        ("{members}", {"user_name": 7}, ("user_name",)),
        ("{members}", {"user_name": "erin", "role": 1}, ("role",)),
        ("{members}", {"user_name": "a:b"}, ("user",)),
        ("{members}", {"user_name": "erin", "group_id": 999}, ("group_id",)),
        ("{share}", {"group_id": "1"}, ("group_id",)),
        ("{share}", {}, ("group_id", "required")),
    ],
)
def test_wrong_fields_are_400_and_change_nothing(
    api: Api, path: str, body: dict[str, Any], fragments: tuple[str, ...]
) -> None:
    path = path.format(
        members=f"/access_groups/{api.group_id}/members",
        share=f"/workflows/{api.workflow_id}/access_groups",
    )
    alice = api("alice")
    workflows, groups = workflow_names(alice), ok(alice.get("/access_groups"))
    members = ok(alice.get(f"/access_groups/{api.group_id}/members"))
    assert_error(alice.post(path, json=body), 400, *fragments)
    assert workflow_names(alice) == workflows
    assert ok(alice.get("/access_groups")) == groups
    assert ok(alice.get(f"/access_groups/{api.group_id}/members")) == members


# -- workflow specs --------------------------------------------------------------------------------

SMALL = {"name": "small", "num_cpus": 1, "memory": "1g", "runtime": "PT10M"}


def spec(name: str, *, job: dict[str, Any] | None = None, rr: dict[str, Any] | None = None) -> Any:
    return {
        "name": name,
        "jobs": [
            {"name": "a", "command": "echo a", "resource_requirements": "small", **(job or {})}
        ],
        "resource_requirements": [{**SMALL, **(rr or {})}],
    }


def cycle(name: str) -> Any:
    return {
        "name": name,
        "jobs": [
            {"name": "a", "command": "echo", "depends_on": ["c"]},
            {"name": "b", "command": "echo", "depends_on": ["a"]},
            {"name": "c", "command": "echo", "depends_on": ["b"]},
        ],
    }


BAD_SPECS: list[Any] = [
    pytest.param({**spec("s-top"), "colour": "red"}, ("colour", "unknown field"), id="top-field"),
    pytest.param(spec("s-job", job={"bogus": 1}), ("jobs[0].bogus",), id="job-field"),
    pytest.param(spec("s-rr", rr={"gpus": 1}), ("resource_requirements[0].gpus",), id="rr-field"),
    pytest.param(spec("s-cpu", rr={"num_cpus": "two"}), ("num_cpus",), id="num_cpus-string"),
    pytest.param(spec("s-cpu0", rr={"num_cpus": 0}), ("num_cpus",), id="num_cpus-zero"),
    pytest.param(spec("s-cpuf", rr={"num_cpus": 1.5}), ("num_cpus",), id="num_cpus-float"),
    pytest.param(spec("s-cpub", rr={"num_cpus": True}), ("num_cpus",), id="num_cpus-bool"),
    pytest.param(spec("s-mem", rr={"memory": "lots"}), ("memory", "lots"), id="memory-lots"),
    pytest.param(spec("s-run", rr={"runtime": "10 minutes"}), ("runtime",), id="runtime-words"),
    pytest.param(spec("s-gpu", rr={"num_gpus": -1}), ("num_gpus",), id="num_gpus-negative"),
    pytest.param(
        spec("s-ref", job={"resource_requirements": "huge"}),
        ("jobs[0].resource_requirements", "huge"),
        id="unknown-rr-reference",
    ),
    pytest.param(cycle("s-cycle"), ("cycle",), id="dependency-cycle"),
    pytest.param(
        spec("s-self", job={"depends_on": ["a"]}), ("jobs[0].depends_on", "itself"), id="self-dep"
    ),
    pytest.param(
        spec("s-dep", job={"depends_on": ["ghost"]}), ("depends_on", "ghost"), id="unknown-dep"
    ),
    pytest.param({"description": "nameless"}, ("name", "required"), id="missing-name"),
    pytest.param({"name": "s-jobs", "jobs": {"a": 1}}, ("jobs", "list"), id="jobs-not-list"),
    pytest.param(
        {"name": "s-dup", "jobs": [{"name": "a", "command": "x"}, {"name": "a", "command": "y"}]},
        ("jobs[1].name", "duplicate"),
        id="duplicate-job",
    ),
    pytest.param(
        {"name": "s-ag", "access_groups": "ml-team"}, ("access_groups",), id="groups-not-list"
    ),
]


@pytest.mark.parametrize(("body", "fragments"), BAD_SPECS)
def test_bad_workflow_specs_are_400_and_create_nothing(
    api: Api, body: Any, fragments: tuple[str, ...]
) -> None:
    before = workflow_names(api("alice"))
    assert_error(api("alice").post("/workflow_specs", json=body), 400, *fragments)
    assert workflow_names(api("alice")) == before


def test_huge_integer_in_spec_is_400(api: Api) -> None:
    before = workflow_names(api("alice"))
    body = spec("s-huge", rr={"num_cpus": 10**30})
    assert_error(api("alice").post("/workflow_specs", json=body), 400, "num_cpus")
    assert workflow_names(api("alice")) == before


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/workflow_specs", '{"name": "\\ud800"}'),
        ("/workflow_specs", '{"name": "s-sur", "description": "\\udc80"}'),
        ("/workflow_specs", '{"name": "s-sur2", "access_groups": ["\\ud800"]}'),
        ("/workflows", '{"name": "w-sur", "metadata": {"a": "\\ud800"}}'),  # poisons: keep last
    ],
    ids=["spec-name", "spec-description", "spec-access-group", "workflow-metadata"],
)
def test_lone_surrogates_are_400(scratch: httpx.Client, path: str, raw: str) -> None:
    before = workflow_names(scratch)
    assert_error(scratch.post(path, content=raw, headers=JSON_HEADERS), 400)
    assert workflow_names(scratch) == before


# -- access groups in a create: all or nothing -----------------------------------------------------


@pytest.mark.parametrize("path", ["/workflows", "/workflow_specs"])
@pytest.mark.parametrize(
    "groups", [["no-such-team"], ["ml-team", "no-such-team"]], ids=["unknown", "known+unknown"]
)
def test_create_with_unknown_access_group_creates_no_workflow(
    api: Api, path: str, groups: list[str]
) -> None:
    name = f"shared-{path.strip('/')}-{len(groups)}"
    response = api("alice").post(path, json={"name": name, "access_groups": groups})
    assert response.status_code in (400, 404), response.text
    assert_error(response, response.status_code, "no-such-team")
    assert name not in workflow_names(api("alice"))
    shared = ok(api("bob").get("/workflows"))["items"]  # bob sees what ml-team can see
    assert name not in [w["name"] for w in shared]


# -- roles, conflicts, other users' data -----------------------------------------------------------


@pytest.mark.parametrize("role", ["boss", "ADMIN", "", "owner"])
def test_unknown_role_is_400_and_adds_no_member(api: Api, role: str) -> None:
    path = f"/access_groups/{api.group_id}/members"
    response = api("alice").post(path, json={"user_name": "dave", "role": role})
    assert_error(response, 400, "role")
    members = ok(api("alice").get(path))["items"]
    assert "dave" not in [m["user_name"] for m in members]


def test_duplicate_group_name_is_409(api: Api) -> None:
    alice = api("alice")
    first = ok(alice.post("/access_groups", json={"name": "dup-team", "description": "one"}))
    response = alice.post("/access_groups", json={"name": "dup-team", "description": "two"})
    assert_error(response, 409, "dup-team")
    padded = alice.post("/access_groups", json={"name": " dup-team ", "description": "three"})
    assert padded.status_code in (400, 409), padded.text  # refused as invalid or as a duplicate
    assert_error(padded, padded.status_code, "dup-team")
    found = [g for g in ok(alice.get("/access_groups"))["items"] if g["name"] == "dup-team"]
    assert found == [first]


def test_duplicate_membership_and_share_are_409(api: Api) -> None:
    alice = api("alice")
    path = f"/access_groups/{api.group_id}/members"
    assert_error(alice.post(path, json={"user_name": "bob"}), 409, "bob")
    workflow = ok(alice.post("/workflows", json={"name": "shared-twice"}))
    share = f"/workflows/{workflow['id']}/access_groups/{api.group_id}"
    ok(alice.post(share))
    assert_error(alice.post(share), 409)
    groups = ok(alice.get(f"/workflows/{workflow['id']}/access_groups"))["items"]
    assert [g["id"] for g in groups] == [api.group_id]


def test_carol_cannot_read_change_or_delete_alices_workflow(api: Api) -> None:
    wf = api.workflow_id
    denied = f"User 'carol' does not have access to workflow {wf}"
    carol = api("carol")
    assert_error(carol.get(f"/workflows/{wf}"), 403, denied)
    assert_error(carol.delete(f"/workflows/{wf}"), 403, denied)
    assert_error(carol.get(f"/workflows/{wf}/access_groups"), 403)
    assert_error(carol.post(f"/workflows/{wf}/access_groups/{api.group_id}"), 403)
    assert "alice-private" not in workflow_names(carol)
    still = ok(api("alice").get(f"/workflows/{wf}"))
    assert (still["name"], still["user"]) == ("alice-private", "alice")
    assert ok(api("alice").get(f"/workflows/{wf}/access_groups"))["items"] == []


def test_non_admin_cannot_manage_groups(api: Api) -> None:
    carol = api("carol")
    assert_error(carol.post("/access_groups", json={"name": "carols"}), 403, "carol")
    assert_error(carol.delete(f"/access_groups/{api.group_id}"), 403)
    path = f"/access_groups/{api.group_id}/members"
    assert_error(carol.post(path, json={"user_name": "carol"}), 403)
    assert ok(api("alice").get(f"/access_groups/{api.group_id}"))["name"] == "ml-team"
    assert "carols" not in [g["name"] for g in ok(api("alice").get("/access_groups"))["items"]]


def test_missing_things_are_404(api: Api) -> None:
    alice = api("alice")
    assert_error(alice.get("/workflows/987654"), 404, "987654")
    assert_error(alice.get("/access_groups/987654"), 404, "987654")
    assert_error(alice.post("/access_groups/987654/members", json={"user_name": "bob"}), 404)
    assert_error(alice.post(f"/workflows/{api.workflow_id}/access_groups/987654"), 404)
    assert_error(alice.delete(f"/access_groups/{api.group_id}/members/nobody"), 404)
    assert_error(alice.get("/no/such/endpoint"), 404)
    assert_error(alice.put("/workflows"), 405)


# -- body size -------------------------------------------------------------------------------------


def padded(name: str, size: int) -> bytes:
    """A valid JSON workflow of exactly `size` bytes (whitespace padding)."""
    head, tail = json.dumps({"name": name})[:-1].encode(), b"}"
    return head + b" " * (size - len(head) - len(tail)) + tail


def chunks(data: bytes, size: int = 256 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_body_over_default_limit_is_413(api: Api) -> None:
    body = padded("too-big", DEFAULT_LIMIT + 1)
    alice, anonymous = api("alice"), api.anonymous()
    # A declared length is refused before anything else; a streamed body is refused as it
    # passes the limit, once the caller is authenticated (an anonymous one gets 401 first).
    expected = [
        (alice, body, 413, str(DEFAULT_LIMIT)),
        (alice, chunks(body), 413, str(DEFAULT_LIMIT)),
        (anonymous, body, 413, str(DEFAULT_LIMIT)),
        (anonymous, chunks(body), 401, "Anonymous access not allowed"),
    ]
    for client, content, status, message in expected:
        response = client.post("/workflows", content=content, headers=JSON_HEADERS)
        assert_error(response, status, message)
    assert "too-big" not in workflow_names(api("alice"))
    near = padded("nearly-too-big", DEFAULT_LIMIT - 1024)
    ok(api("alice").post("/workflows", content=near, headers=JSON_HEADERS))


@pytest.mark.parametrize("path", ["/workflows", "/workflow_specs", "/access_groups"])
def test_body_over_configured_limit_is_413(small_server: App, path: str) -> None:
    with small_server.client(base_url=small_server.torc_url) as client:
        body = padded("over", SMALL_LIMIT + 1)
        for content in (body, chunks(body, 1000)):
            response = client.post(path, content=content, headers=JSON_HEADERS)
            assert_error(response, 413, str(SMALL_LIMIT))
        assert "over" not in workflow_names(client)
        ok(client.post(path, content=padded(f"under{path}", SMALL_LIMIT), headers=JSON_HEADERS))


# -- authentication --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("auth", "message"),
    [
        (("alice", "wrong"), "Invalid user name or password"),
        (("alice", ""), "Invalid user name or password"),
        (("alice", "bob_password"), "Invalid user name or password"),
        (("mallory", "mallory_password"), "Invalid user name or password"),
        (None, "Anonymous access not allowed"),
    ],
    ids=["wrong-password", "empty-password", "other-users-password", "unknown-user", "none"],
)
def test_bad_credentials_are_401_with_realm(
    api: Api, auth: tuple[str, str] | None, message: str
) -> None:
    with api.server.client(auth=auth, base_url=api.server.torc_url) as client:
        assert_error(client.get("/ping"), 401, message)
        assert_error(client.post("/access_groups", json={"name": "intruders"}), 401)
    assert "intruders" not in [g["name"] for g in ok(api("alice").get("/access_groups"))["items"]]


@pytest.mark.parametrize(
    "header",
    [
        "Basic !!!not-base64!!!",
        "Basic Zm9v",  # "foo": no colon
        "Basic ",
        "Basic",
        "Basic Og==",  # ":": empty user name
        "Basic //79:w==",  # base64 with a stray character
        "Basic /w==",  # one byte that is not UTF-8
        "Basic \xe9t\xe9",  # not ASCII at all
        "Basic " + "A" * 8192,
        "Bearer not-a-token",
        "Digest username=alice",
        "basic",
        "   ",
    ],
)
def test_malformed_authorization_header_is_401(api: Api, header: str) -> None:
    # Sent as bytes, as a socket would carry them (httpx refuses some of these values as text).
    raw = [(b"Authorization", header.encode("latin-1"))]
    with api.server.client() as client:
        response = client.get("/torc-service/v1/workflows", headers=raw)
    status, content_type = response.status_code, response.headers.get("content-type", "")
    realm, body = response.headers.get("www-authenticate"), response.content
    assert (status, realm) == (401, REALM), body
    assert content_type.startswith("application/json")
    assert set(json.loads(body)) == {"error", "message"}


# -- forged cursors and other text that reaches SQL ------------------------------------------------


def forged(raw: str) -> str:
    """A cursor in the server's encoding (URL-safe base64 of JSON) around `raw` JSON text."""
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


UNIT_CURSORS = {
    "lone-surrogate": forged('{"p":"a\\ud800"}'),
    "nul": forged('{"p":"a\\u0000b"}'),
    "control": forged('{"p":"a\\u0007b"}'),
    "too-long": forged(json.dumps({"p": "x" * 2000})),
    "not-text": forged('{"p":12}'),
    "extra-field": forged('{"p":"a","q":1}'),
}
WORKFLOW_CURSORS = {
    "id-2^31": forged(f'{{"s":"id","r":false,"i":{2**31}}}'),  # past PostgreSQL's INTEGER
    "id-2^63": forged(f'{{"s":"id","r":false,"i":{2**63}}}'),
    "deep": forged("[" * 5000 + "]" * 5000),
    "id-below-minus-2^63": forged(f'{{"s":"id","r":false,"i":{-(2**63) - 1}}}'),
    "huge-id": forged('{"s":"id","r":false,"i":1' + "0" * 400 + "}"),
    "float-id": forged('{"s":"id","r":false,"i":1.5}'),
    "key-2^63": forged(f'{{"s":"name","r":false,"i":{2**63},"k":"a"}}'),
    "key-lone-surrogate": forged('{"s":"name","r":false,"i":1,"k":"\\udc80"}'),
    "key-nul": forged('{"s":"name","r":false,"i":1,"k":"a\\u0000"}'),
    "key-too-long": forged(json.dumps({"s": "name", "r": False, "i": 1, "k": "x" * 5000})),
    "reverse-not-bool": forged('{"s":"id","r":0,"i":1}'),
}


@pytest.mark.parametrize("cursor", UNIT_CURSORS.values(), ids=UNIT_CURSORS.keys())
def test_forged_unit_cursors_are_400(api: Api, cursor: str) -> None:
    units = f"{api.server.base_url}/v1/units"
    response = api("alice").get(units, params={"after": cursor})
    assert_error(response, 400, "invalid cursor", "next_cursor of a previous page")
    assert ok(api("alice").get(units))["units"] is not None  # the server still answers


@pytest.mark.parametrize("cursor", WORKFLOW_CURSORS.values(), ids=WORKFLOW_CURSORS.keys())
def test_forged_workflow_cursors_are_400(api: Api, cursor: str) -> None:
    for sort in ({}, {"sort_by": "name"}):
        response = api("alice").get("/workflows", params={"after": cursor, **sort})
        assert_error(response, 400, "invalid cursor", "next_cursor of a previous page")
    assert "alice-private" in workflow_names(api("alice"))


def test_a_cursor_on_the_longest_sort_key_is_accepted_back(api: Api) -> None:
    """A description of 4096 characters that JSON must escape, as the key of a cursor."""
    alice = api("alice")
    for name in ("long-a", "long-b"):
        ok(alice.post("/workflows", json={"name": name, "description": "\u2028\x07é" * 1365}))
    params = {"sort_by": "description", "reverse_sort": "true", "limit": "1"}
    first = ok(alice.get("/workflows", params=params))
    assert first["next_cursor"]
    second = ok(alice.get("/workflows", params={**params, "after": first["next_cursor"]}))
    assert second["items"][0]["id"] != first["items"][0]["id"]


@pytest.mark.parametrize("path", ["/torc-service/v1/audit", "/v1/audit"])
@pytest.mark.parametrize("after", [HUGE, str(-(2**63) - 1), "-1", "abc", "1" + "0" * 40])
def test_forged_audit_cursors_are_400(api: Api, path: str, after: str) -> None:
    response = api("alice").get(f"{api.server.base_url}{path}", params={"after": after})
    assert_error(response, 400, "invalid cursor", "next_cursor of a previous page")


@pytest.mark.parametrize(
    ("method", "path", "params"),
    [
        ("GET", "/v1/units/a%00b", None),
        ("GET", "/v1/units/a%E2%80%8Bb", None),
        ("GET", "/v1/units", {"prefix": "a\x00"}),
        ("GET", "/v1/units", {"prefix": "a\u202eb"}),
        ("GET", "/v1/audit", {"user": "a\x00"}),
        ("GET", "/v1/audit", {"resource": "unit/a\x00"}),
        ("GET", "/torc-service/v1/workflows", {"name": "a\x00"}),
        ("GET", "/torc-service/v1/workflows/99999999999999999999", None),
        ("GET", "/torc-service/v1/workflows/3000000000", None),
        ("GET", "/torc-service/v1/access_groups/3000000000/members", None),
        ("GET", "/torc-service/v1/workflows/-99999999999999999999", None),
        ("GET", "/torc-service/v1/users/a%00/groups", None),
        ("GET", "/v1/backend/a%00b", None),
    ],
)
def test_text_and_numbers_sql_cannot_hold_are_4xx(
    api: Api, method: str, path: str, params: dict[str, str] | None
) -> None:
    response = api("alice").request(method, f"{api.server.base_url}{path}", params=params)
    assert response.status_code in (400, 404), (response.status_code, response.text)
    assert_error(response, response.status_code)


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/torc-service/v1/access_groups", '{"name": "g\\ud800"}'),
        ("/torc-service/v1/access_groups", '{"name": "g\\u0000"}'),
        ("/v1/units", '{"path": "u\\udfff"}'),
        ("/v1/units", '{"path": "u\\u0000"}'),
    ],
)
def test_unstorable_names_in_bodies_are_400(api: Api, path: str, raw: str) -> None:
    url = f"{api.server.base_url}{path}"
    assert_error(api("alice").post(url, content=raw, headers=JSON_HEADERS), 400)


# -- unit state and lock bodies (/v1) --------------------------------------------------------------

DEEP = b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}"  # json.loads raised RecursionError: a 500


@pytest.fixture(scope="module")
def units(api: Api) -> Iterator[httpx.Client]:
    """alice on the module server's /v1 (units and the Terraform backend)."""
    with api.server.client("alice", base_url=f"{api.server.base_url}/v1") as client:
        yield client


def unit_with_state(units: httpx.Client, name: str) -> tuple[str, dict[str, Any]]:
    """A unit holding a small state; its record as GET /v1/units/<path> answers."""
    path = f"bad-input/{name}"
    ok(units.put(f"/state/{path}", content=b'{"version": 4, "serial": 1}'))
    return path, ok(units.get(f"/units/{path}"))


def short_name(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:12]


def assert_state_kept(units: httpx.Client, path: str, before: dict[str, Any]) -> None:
    assert ok(units.get(f"/units/{path}")) == before
    assert units.get(f"/state/{path}").content == b'{"version": 4, "serial": 1}'
    assert ok(units.get(f"/versions/{path}"))["versions"] == []


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (DEEP, "nested more than 512"),
        (b'{"serial": NaN}', "NaN"),
        (b'{"values": [1, Infinity]}', "NaN and Infinity"),
        (b'{"value": -Infinity}', "NaN and Infinity"),
        (b'\xef\xbb\xbf{"version": 4}', "byte order mark"),
        (b'{"name": "caf\xe9"}', "UTF-8"),  # Latin-1, not UTF-8
        (b'{"a": 1} trailing', "extra data"),
    ],
    ids=["deep", "nan", "infinity", "minus-infinity", "bom", "latin-1", "trailing"],
)
@pytest.mark.parametrize("via", ["state-put", "backend-post"])
def test_states_json_would_misread_are_400_and_keep_the_previous_state(
    units: httpx.Client, body: bytes, fragment: str, via: str
) -> None:
    path, before = unit_with_state(units, f"{via}-{short_name(body)}")
    if via == "state-put":
        response = units.put(f"/state/{path}", content=body)
    else:
        response = units.post(f"/backend/{path}", content=body)
    assert_error(response, 400, "not a valid JSON object", fragment)
    assert_state_kept(units, path, before)


def test_a_state_over_32_mib_is_checked_whole(units: httpx.Client) -> None:
    """Above 32 MiB only the first byte was checked; a NaN near the end now refuses it."""
    path, before = unit_with_state(units, "large")
    body = b'{"resources": [' + b"{}," * (11 << 20) + b"NaN]}"
    assert len(body) > 32 << 20
    assert_error(units.put(f"/state/{path}", content=body), 400, "NaN")
    assert_state_kept(units, path, before)
    fine = body[: -len(b"NaN]}")] + b"{}]}"
    assert units.put(f"/state/{path}", content=fine).status_code == 200


@pytest.mark.parametrize("method", ["LOCK", "UNLOCK"])
def test_deeply_nested_lock_bodies_are_400(units: httpx.Client, method: str) -> None:
    path, before = unit_with_state(units, f"deep-{method.lower()}")
    response = units.request(method, f"/backend/{path}", content=DEEP)
    assert_error(response, 400, "nested more than")
    assert ok(units.get(f"/units/{path}")) == before  # not locked, not unlocked


@pytest.mark.parametrize(
    ("method", "route"),
    [("POST", "/units"), ("POST", "/locks/bad-input/deep"), ("POST", "/restore/bad-input/deep")],
)
def test_deeply_nested_bodies_to_model_routes_are_400(
    units: httpx.Client, method: str, route: str
) -> None:
    deep = b'{"path": "bad-input/deep", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    response = units.request(method, route, content=deep, headers=JSON_HEADERS)
    assert_error(response, 400)
    assert units.get("/units/bad-input/deep").status_code == 404
