"""Schemathesis against the server in process: whatever it sends, no answer is a 5xx, and every
answer is what the server's own /openapi.json promises (documented status code, content type and
body schema).

One application (auth file, access control on, `root` is a system administrator) holds a little data
(a group, shared and private workflows, a unit with state) so that generated ids and paths
sometimes hit something. Every operation in the document gets a few valid (positive) and invalid
(negative) requests, once as the administrator and once as an ordinary user; Hypothesis runs
with a seed per operation and without its example database, so a run is repeatable.

The Terraform backend's custom methods (LOCK, UNLOCK) are not OpenAPI methods and the state
upload reads a raw body the document cannot describe; a plain Hypothesis test sends those random
paths and bodies and checks that no answer is a 5xx and every refusal is a JSON error.

To look harder than the test run does: FUZZ_EXAMPLES=60 FUZZ_BACKEND_EXAMPLES=1000 (cases per
operation; pass --timeout 3000 too) and FUZZ_SEED=<any text> for other cases than the default.
"""

from __future__ import annotations

import base64
import json
import os
import time
import zlib
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.python.asgi import ASGIClient
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import USERS, password_of, start_app
from tests.inprocess import App

ADMIN = "root"
CALLERS = {"admin": ADMIN, "user": "dave"}
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))  # per operation, mode and caller
BACKEND_EXAMPLES = int(os.environ.get("FUZZ_BACKEND_EXAMPLES", "60"))
SEED = os.environ.get("FUZZ_SEED", "")  # another value explores other cases
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def hypothesis_settings(examples: int) -> hypothesis.settings:
    return hypothesis.settings(
        max_examples=examples,
        deadline=None,  # requests vary in time on a busy machine
        database=None,  # no examples carried over between runs: the same run every time
        phases=[Phase.explicit, Phase.generate],  # report the failing request, do not shrink it
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )


@dataclass
class Fuzzed:
    app: App
    document: dict[str, Any]
    # Schemathesis sends its cases through a requests session; this one calls the application
    # in process. It is never entered, so it does not start the lifespan a second time: the
    # application's own runs in its portal (tests/inprocess.py).
    session: ASGIClient


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    with ExitStack() as stack:
        app = start_app(
            stack,
            tmp_path_factory.mktemp("fuzz"),
            users=(*USERS, ADMIN),
            enforce_access_control=True,
            admin_users=(ADMIN,),
        )
        seed_data(app)
        with app.client() as anonymous:
            document = anonymous.get("/openapi.json").json()
        yield Fuzzed(app, document, ASGIClient(app.app))


def seed_data(app: App) -> None:
    """A group (alice, bob), workflows of alice (one shared) and dave, a unit with state."""
    with app.client(ADMIN) as root, app.client("alice") as alice, app.client("dave") as dave:
        torc = "/torc-service/v1"
        group = ok(root.post(f"{torc}/access_groups", json={"name": "team"}))
        for user, role in (("alice", "admin"), ("bob", "member")):
            body = {"user_name": user, "role": role}
            ok(root.post(f"{torc}/access_groups/{group['id']}/members", json=body))
        ok(alice.post(f"{torc}/workflows", json={"name": "shared", "access_groups": ["team"]}))
        ok(alice.post(f"{torc}/workflows", json={"name": "private"}))
        ok(dave.post(f"{torc}/workflows", json={"name": "daves"}))
        ok(alice.post("/v1/units", json={"path": "0"}))
        ok(alice.put("/v1/state/0", content=json.dumps({"version": 4, "serial": 1})))
        ok(alice.post("/v1/shares/0", json={"group": "team"}))


def ok(response: httpx.Response) -> Any:
    assert response.is_success, (response.request.url, response.status_code, response.text)
    return response.json()


# -- every OpenAPI operation -----------------------------------------------------------------------


def can_be_negated(spec: dict[str, Any]) -> bool:
    """Whether an operation has anything a request can get wrong: a body, a query parameter, or
    a path parameter narrower than 'any string' (Hypothesis finds no invalid case otherwise)."""
    if "requestBody" in spec:
        return True
    for parameter in spec.get("parameters", []):
        schema = parameter.get("schema", {})
        if (
            parameter["in"] != "path"
            or schema.get("type") != "string"
            or set(schema)
            - {
                "type",
                "title",
            }
        ):
            return True
    return False


def basic(user: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password_of(user)}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def fuzz_operation(
    operation: Any, mode: GenerationMode, headers: dict[str, str], session: ASGIClient
) -> tuple[str | None, int]:
    """Run the operation's cases; the first failure (or None) and how many requests were sent."""
    sent = 0

    @hypothesis_settings(EXAMPLES)
    @hypothesis.seed(zlib.crc32(f"{SEED}{operation.label} {mode.value}".encode()))
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        nonlocal sent
        sent += 1
        case.call_and_validate(session=session, headers=headers, checks=CHECKS)

    try:
        run()
    except (Exception, BaseExceptionGroup) as exc:  # every failure is reported, not just one
        return f"{operation.label} ({mode.value} data):\n{exc}", sent
    return None, sent


@pytest.mark.parametrize("kind", sorted(CALLERS))
def test_no_server_errors_and_answers_match_the_document(fuzzed: Fuzzed, kind: str) -> None:
    user = CALLERS[kind]
    schema = schemathesis.openapi.from_dict(fuzzed.document)
    failures: list[str] = []
    started, sent, operations = time.monotonic(), 0, 0
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the server's OpenAPI document: {result.err()}"
        operation = result.ok()
        operation.base_url = fuzzed.session.base_url
        operations += 1
        spec = fuzzed.document["paths"][operation.path][operation.method.lower()]
        modes = [GenerationMode.POSITIVE]
        if can_be_negated(spec):
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:
            failure, count = fuzz_operation(operation, mode, basic(user), fuzzed.session)
            sent += count
            if failure is not None:
                failures.append(failure)
    took = time.monotonic() - started
    print(f"fuzzed {operations} operations as {user}: {sent} requests in {took:.1f} s")
    assert not failures, f"{len(failures)} operation(s) failed:\n\n" + "\n\n".join(failures)


# -- what OpenAPI cannot describe: LOCK/UNLOCK and raw state bodies --------------------------------

unit_paths = st.one_of(
    st.sampled_from(["0", "team/app", "x/../y", "a//b", "/", "%00", "a%2Fb"]),
    st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=40),
).filter(lambda p: p.strip("/ "))
bodies = st.one_of(
    st.binary(max_size=200),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=10,
    ).map(lambda value: json.dumps(value).encode()),
    st.fixed_dictionaries(
        {},
        optional={
            "ID": st.text(max_size=20) | st.integers() | st.none(),
            "Who": st.text(max_size=20),
            "Operation": st.text(max_size=20),
        },
    ).map(lambda value: json.dumps(value).encode()),
    st.integers(500, 5000).map(lambda n: b'{"a": ' + b"[" * n + b"]" * n + b"}"),  # deep nesting
)
requests_outside_the_document = st.tuples(
    st.sampled_from(
        [
            ("LOCK", "/v1/backend/{}"),
            ("UNLOCK", "/v1/backend/{}"),
            ("POST", "/v1/backend/{}"),
            ("PUT", "/v1/state/{}"),
            ("POST", "/v1/locks/{}"),
        ]
    ),
    unit_paths,
    bodies,
    st.sampled_from([{}, {"ID": "x"}, {"force": "true"}, {"lock_id": "x"}]),
)


RawRequest = tuple[tuple[str, str], str, bytes, dict[str, str]]


@pytest.mark.parametrize("kind", sorted(CALLERS))
def test_terraform_backend_methods_and_raw_state_bodies(fuzzed: Fuzzed, kind: str) -> None:
    user = CALLERS[kind]
    with fuzzed.app.client(user) as client:

        @hypothesis_settings(BACKEND_EXAMPLES)
        @hypothesis.seed(zlib.crc32(f"{SEED}backend {kind}".encode()))
        @hypothesis.given(request=requests_outside_the_document)
        def run(request: RawRequest) -> None:
            (method, template), path, body, params = request
            url = template.format(quote(path, safe="/"))
            response = client.request(method, url, content=body, params=params)
            where = f"{method} {response.request.url} {body!r}"
            assert response.status_code < 500, (where, response.status_code, response.text)
            if response.is_success:
                return
            answer = response.json()
            if response.status_code in (409, 423) and "error" not in answer:
                assert {"ID", "Who"} <= set(answer), (where, answer)  # the holder's lock
            else:
                assert set(answer) >= {"error", "message"}, (where, answer)

        run()
