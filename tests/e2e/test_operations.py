"""Operating the server: /metrics (and who may read it), `--workers N`, `--log-format json`,
and refused bad values.

Every check runs a real `torc-server` process. Counters are read before and after the
requests that should move them, so each test only relies on its own requests; polls have
deadlines instead of sleeps.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import BIN, Server, password_of, start_server, write_htpasswd

DEADLINE_SECS = 60.0
BACKEND = "/v1/backend/{path:unitpath}"
Labels = dict[str, str]


def secured_args(root: Path) -> list[str]:
    return [
        "--database", str(root / "torc.db"),
        "--auth-file", str(write_htpasswd(root / "htpasswd")),
        "--require-auth",
        "--enforce-access-control",
        "--admin-user", "alice",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Auth required, access control on, JSON logs with access lines."""
    root = tmp_path_factory.mktemp("operations")
    started = start_server(
        root / "server", *secured_args(root), "--log-format", "json", "--log-level", "debug"
    )
    yield started
    started.stop()


def as_user(server: Server, user: str, password: str | None = None) -> httpx.Client:
    secret = password if password is not None else password_of(user)
    return httpx.Client(base_url=server.base_url, auth=(user, secret), timeout=30)


def scrape(server: Server) -> str:
    response = httpx.get(  # any signed-in user may read them
        f"{server.base_url}/metrics", auth=("dave", password_of("dave")), timeout=30
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return response.text


def value(text: str, name: str, **labels: str) -> float:
    """The sample `name` whose labels include `labels` (0 when there is none yet)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                return float(sample.value)
    return 0.0


def counter_delta(server: Server, name: str, action: Callable[[], None], **labels: str) -> float:
    before = value(scrape(server), name, **labels)
    action()
    return value(scrape(server), name, **labels) - before


def eventually(condition: Callable[[], bool], what: str) -> None:
    end = time.monotonic() + DEADLINE_SECS
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"not within {DEADLINE_SECS:.0f} s: {what}")
        time.sleep(0.05)


def scrape_when(server: Server, name: str, at_least: float, **labels: str) -> str:
    """Scrape until sample `name` reaches `at_least`: request counters move just after the
    response is sent, so a client can be faster than them."""
    text = ""

    def reached() -> bool:
        nonlocal text
        text = scrape(server)
        return value(text, name, **labels) >= at_least

    eventually(reached, f"{name}{labels} reaching {at_least}")
    return text


# -- /metrics --------------------------------------------------------------------------------------


def test_metrics_are_prometheus_text(server: Server) -> None:
    text = scrape(server)
    types = {family.name: family.type for family in text_string_to_metric_families(text)}
    assert types["teamgate_http_requests"] == "counter"
    assert types["teamgate_http_request_duration_seconds"] == "histogram"
    assert types["teamgate_credential_cache_lookups"] == "counter"
    assert types["teamgate_unit_lock_conflicts"] == "counter"
    assert "# TYPE teamgate_access_decisions_total counter" in text


def test_metrics_need_credentials_when_the_server_requires_them(server: Server) -> None:
    url = f"{server.base_url}/metrics"
    for auth in (None, ("dave", "not-daves-password")):
        response = httpx.get(url, auth=auth, timeout=30)
        assert response.status_code == 401, response.text
        assert response.json()["error"] == "Unauthorized"
        assert "teamgate_" not in response.text


@pytest.mark.parametrize("how", ["flag", "config"])
def test_public_metrics_need_no_credentials(tmp_path: Path, how: str) -> None:
    args = secured_args(tmp_path)
    if how == "flag":
        args.append("--public-metrics")
    else:
        (tmp_path / "config.toml").write_text("[server]\npublic_metrics = true\n")
        args += ["--config", str(tmp_path / "config.toml")]
    server = start_server(tmp_path / "server", *args)
    try:
        response = httpx.get(f"{server.base_url}/metrics", timeout=30)
        assert response.status_code == 200, response.text
        assert "teamgate_http_requests_total" in response.text
        assert httpx.get(f"{server.torc_url}/ping", timeout=30).status_code == 401
    finally:
        server.stop()


def test_requests_are_counted_by_route_template(server: Server) -> None:
    def requests() -> None:
        with as_user(server, "alice") as alice:
            assert alice.get("/torc-service/v1/ping").status_code == 200
            assert alice.get("/v1/backend/ops/route/a").status_code in (200, 204, 404)
            assert alice.get("/no/such/secret-path").status_code == 404

    name = "teamgate_http_requests_total"
    ping = {"method": "GET", "route": "/torc-service/v1/ping", "status": "200"}
    unmatched = {"method": "GET", "route": "<unmatched>", "status": "404"}
    before = scrape(server)
    requests()
    after = scrape_when(server, name, value(before, name, **unmatched) + 1, **unmatched)
    after = scrape_when(server, name, value(before, name, **ping) + 1, **ping)
    for labels in (ping, unmatched):
        assert value(after, name, **labels) - value(before, name, **labels) == 1, labels
    assert value(after, "teamgate_http_request_duration_seconds_count", route=BACKEND) >= 1
    assert "secret-path" not in after and "ops/route" not in after


DECISIONS = "teamgate_access_decisions_total"
STATE = b'{"version": 4, "serial": 1, "lineage": "ops", "resources": []}'


def decision_deltas(server: Server, requests: Callable[[], None]) -> dict[tuple[str, ...], float]:
    """How much each (action, result, decided_by) series of the decisions counter moved."""

    def series(text: str) -> dict[tuple[str, ...], float]:
        found = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == DECISIONS:
                    labels = sample.labels
                    found[labels["action"], labels["result"], labels["decided_by"]] = sample.value
        return found

    before = series(scrape(server))
    requests()
    after = series(scrape(server))
    moved = {key: after[key] - before.get(key, 0.0) for key in after}
    return {key: delta for key, delta in moved.items() if delta}


def test_denied_requests_move_the_denied_counters(server: Server) -> None:
    with as_user(server, "alice") as alice:
        assert alice.post("/v1/units", json={"path": "ops/denied"}).status_code == 201

    def bob_is_refused() -> None:
        with as_user(server, "bob") as bob:
            assert bob.get("/v1/units/ops/denied").status_code == 403
            assert bob.put("/v1/state/ops/denied", content=STATE).status_code == 403
            assert bob.get("/torc-service/v1/audit").status_code == 403

    assert decision_deltas(server, bob_is_refused) == {
        ("unit.read", "denied", "no_grant"): 1,
        ("unit.write", "denied", "no_grant"): 1,
        ("audit.read", "denied", "not_admin"): 1,
    }


def test_allowed_requests_move_the_allowed_counters(server: Server) -> None:
    with as_user(server, "alice") as alice:
        assert alice.post("/v1/units", json={"path": "ops/allowed"}).status_code == 201

        def alice_reads() -> None:
            assert alice.get("/v1/units/ops/allowed").status_code == 200
            assert alice.get("/torc-service/v1/audit").status_code == 200  # she is the admin

        assert decision_deltas(server, alice_reads) == {
            ("unit.read", "allowed", "owner"): 1,
            ("audit.read", "allowed", "admin"): 1,
        }


def test_lock_conflict_is_counted(server: Server) -> None:
    path = "/v1/backend/ops/locked"
    with as_user(server, "alice") as alice:
        assert alice.request("LOCK", path, json={"ID": "first"}).status_code == 200

        def second_lock() -> None:
            assert alice.request("LOCK", path, json={"ID": "second"}).status_code == 423

        assert counter_delta(server, "teamgate_unit_lock_conflicts_total", second_lock) == 1
    scrape_when(
        server, "teamgate_http_requests_total", 1, method="LOCK", route=BACKEND, status="423"
    )


def test_credential_cache_hits_are_counted(server: Server) -> None:
    def two_requests() -> None:
        with as_user(server, "carol") as carol:
            for _ in range(2):
                assert carol.get("/torc-service/v1/ping").status_code == 200

    hits = counter_delta(
        server, "teamgate_credential_cache_lookups_total", two_requests, result="hit"
    )
    assert hits >= 1


@pytest.mark.parametrize("how", ["flag", "config"])
def test_metrics_can_be_turned_off(tmp_path: Path, how: str) -> None:
    args = ["--database", str(tmp_path / "torc.db")]
    if how == "flag":
        args.append("--no-metrics")
    else:
        (tmp_path / "config.toml").write_text("[server]\nmetrics = false\n")
        args += ["--config", str(tmp_path / "config.toml")]
    server = start_server(tmp_path / "server", *args)
    try:
        assert httpx.get(f"{server.base_url}/metrics", timeout=30).status_code == 404
    finally:
        server.stop()


# -- JSON logs -------------------------------------------------------------------------------------


def test_json_log_lines_carry_access_fields_and_no_secrets(server: Server) -> None:
    wrong = "not-bobs-password-7f3a"
    with as_user(server, "alice") as alice:
        assert alice.get("/torc-service/v1/ping", params={"k": "query-value"}).status_code == 200
        token = alice.post("/v1/auth/token").json()["token"]
    with as_user(server, "bob", wrong) as bob:
        assert bob.get("/torc-service/v1/ping").status_code == 401
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{server.torc_url}/ping", headers=headers, timeout=30).status_code == 200

    def alice_logged() -> bool:
        return any(e.get("user") == "alice" and e.get("status") == 200 for e in entries(server))

    eventually(alice_logged, "an access line for alice")
    for entry in entries(server):
        assert {"time", "level", "logger", "message"} <= entry.keys(), entry
    access = [e for e in entries(server) if e["logger"] == "teamgate.access"]
    ping = next(e for e in access if e["user"] == "alice" and e["path"].endswith("/ping"))
    assert ping["method"] == "GET" and ping["status"] == 200
    assert isinstance(ping["duration_ms"], float) and ping["client"].startswith("127.0.0.1:")
    log = server.log()
    for secret in (password_of("alice"), wrong, token, "Authorization", "Basic ", "query-value"):
        assert secret not in log, secret


def entries(server: Server) -> list[dict[str, object]]:
    """Every complete line of the server's log, each parsed as one JSON object."""
    text = server.log()
    lines = text[: text.rfind("\n") + 1].splitlines()  # a line being written is not read yet
    return [json.loads(line) for line in lines if line.strip()]


# -- several workers -------------------------------------------------------------------------------


def test_workers_share_the_port_and_metrics(tmp_path: Path) -> None:
    server = start_server(
        tmp_path / "server",
        *secured_args(tmp_path),
        "--workers", "2", "--log-format", "json", "--log-level", "debug",
    )  # fmt: skip
    try:
        sent = ping_until_two_workers_answer(server)
        labels = {"route": "/torc-service/v1/ping", "status": "200"}
        summed = scrape_when(server, "teamgate_http_requests_total", sent, **labels)
        assert value(summed, "teamgate_http_requests_total", **labels) == sent
        log = server.log()
        assert log.count("Listening on 127.0.0.1:") == 1
        assert log.count("Starting torc-server version=") == 1
    finally:
        server.stop()
    assert server.process.returncode == 0


def ping_until_two_workers_answer(server: Server) -> int:
    """Ping on fresh connections until access lines come from two processes; pings sent."""
    sent = 0

    def ping(_: int) -> None:
        # a fresh connection each time, so that the kernel may hand it to either worker
        with as_user(server, "alice") as alice:
            assert alice.get("/torc-service/v1/ping").status_code == 200

    def answering_pids() -> set[object]:
        return {e["pid"] for e in entries(server) if e.get("path") == "/torc-service/v1/ping"}

    end = time.monotonic() + DEADLINE_SECS
    with ThreadPoolExecutor(max_workers=8) as pool:
        while len(answering_pids()) < 2:
            if time.monotonic() > end:
                pytest.fail(f"only {answering_pids()} answered {sent} pings")
            list(pool.map(ping, range(16)))
            sent += 16
    return sent


# -- bad values ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "toml", "fragment"),
    [
        (["--workers", "0"], None, "--workers"),
        (["--db-pool-size", "-1"], None, "--db-pool-size"),
        (["--db-max-overflow", "-1"], None, "--db-max-overflow"),
        (["--log-format", "xml"], None, "--log-format"),
        ([], 'log_format = "xml"', "log_format"),
        ([], "workers = 0", "workers"),
        ([], "db_pool_size = 0", "db_pool_size"),
        ([], 'metrics = "yes"', "server.metrics"),
        ([], 'public_metrics = "yes"', "server.public_metrics"),
        (["--header-timeout-secs", "0"], None, "--header-timeout-secs"),
        ([], "header_timeout_secs = 0", "header_timeout_secs"),
        (["--forwarded-allow-ips", "proxy.example"], None, "'proxy.example' is not an IP"),
        ([], 'forwarded_allow_ips = ["10.0.0.1/8"]', "'10.0.0.1/8' is not an IP"),
        ([], 'forwarded_allow_ips = "10.0.0.1"', "server.forwarded_allow_ips"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else v,
)
def test_bad_operations_settings_are_refused(
    tmp_path: Path, args: list[str], toml: str | None, fragment: str
) -> None:
    cmd = [str(BIN / "torc-server"), "run", "--port", "0", "--database", str(tmp_path / "t.db")]
    if toml is not None:
        (tmp_path / "config.toml").write_text(f"[server]\n{toml}\n")
        cmd += ["--config", str(tmp_path / "config.toml")]
    done = subprocess.run(
        [*cmd, *args], capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False
    )
    assert done.returncode != 0
    assert "TORC_SERVER_PORT=" not in done.stdout
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and fragment in errors[0], done.stderr
