"""Abuse resistance against real server processes: failed sign-in throttling, startup security
warnings, and secrets kept out of logs, error messages and `--help`.

Time only matters where a lock has to run out: those tests use delays and windows of one or
two seconds and poll with deadlines. bcrypt runs are counted from the server's log (one
"Authentication failed" line per password that was actually checked), not from timings.
"""

from __future__ import annotations

import base64
import os
import re
import statistics
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import click
import httpx
import pytest
from click.testing import CliRunner

from teamgate.auth.passwords import hash_password, verify_password
from teamgate.client.http import ApiError, JsonClient
from tests.conftest import BIN, Server, password_of, start_server, write_htpasswd

DEADLINE_SECS = 30.0
PING = "/torc-service/v1/ping"
RETRY = re.compile(r"try again in (\d+) seconds?$")
SECURITY = "WARNING SECURITY: "


# -- helpers -------------------------------------------------------------------------------


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start a server with an htpasswd file of alice, bob, carol and dave (auth required)."""
    started: list[Server] = []

    def factory(*args: str, htpasswd: Path | None = None, auth: bool = True) -> Server:
        root = tmp_path / f"s{len(started)}"
        auth_args = []
        if auth:
            auth_file = htpasswd or write_htpasswd(root / "htpasswd")
            auth_args = ["--auth-file", str(auth_file), "--require-auth"]
        server = start_server(root, "--database", str(root / "torc.db"), *auth_args, *args)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


def ping(server: Server, user: str, password: str | None = None) -> httpx.Response:
    secret = password_of(user) if password is None else password
    return httpx.get(server.base_url + PING, auth=(user, secret), timeout=30)


def retry_after(response: httpx.Response) -> int:
    """The wait a 429 announces, checked to be the same in the header and the message."""
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["error"] == "TooManyRequests", body
    found = RETRY.search(body["message"])
    assert found is not None, body["message"]
    assert response.headers["Retry-After"] == found.group(1)
    return int(found.group(1))


def until_admitted(attempt: Callable[[], httpx.Response]) -> httpx.Response:
    """Repeat `attempt` while it is refused (429); the first answer that is not a refusal."""
    end = time.monotonic() + DEADLINE_SECS
    while (response := attempt()).status_code == 429:
        if time.monotonic() > end:
            pytest.fail(f"still refused after {DEADLINE_SECS:.0f} s: {response.text}")
        time.sleep(0.05)  # polling a lock that runs out on the server's clock, not a race
    return response


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def client_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment for a CLI run: no TORC_/OPENTACO_ settings, no saved taco token."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TORC_", "OPENTACO_"))}
    return {**env, "XDG_CONFIG_HOME": str(tmp_path / "config"), **extra}


def checked_failures(server: Server, user: str) -> int:
    """How many passwords for `user` the server actually verified and found wrong."""
    return server.log().count(f"WARNING Authentication failed for user '{user}'\n")


# -- throttling ----------------------------------------------------------------------------

ATTEMPTS = 200
ATTACKERS = 16


def _latencies(server: Server, stop: threading.Event, count: int | None = None) -> list[float]:
    """alice's ping latencies (seconds) until `stop` is set or `count` pings; all must be 200."""
    seconds: list[float] = []
    with httpx.Client(base_url=server.base_url, auth=("alice", password_of("alice"))) as alice:
        while not stop.is_set() and (count is None or len(seconds) < count):
            started = time.perf_counter()
            response = alice.get(PING)
            seconds.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
    return seconds


def _attack(server: Server) -> tuple[list[httpx.Response], float]:
    """ATTEMPTS wrong passwords for bob from ATTACKERS threads; the answers and the time taken."""
    limits = httpx.Limits(max_connections=ATTACKERS)
    with httpx.Client(base_url=server.base_url, limits=limits, timeout=60) as client:

        def guess(number: int) -> httpx.Response:
            return client.get(PING, auth=("bob", f"guess-{number}"))

        started = time.perf_counter()
        with ThreadPoolExecutor(ATTACKERS) as pool:
            responses = list(pool.map(guess, range(ATTEMPTS)))
        return responses, time.perf_counter() - started


def test_brute_force_on_one_user_is_refused_before_bcrypt_while_another_user_works(
    start: Callable[..., Server], tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    """200 wrong passwords for bob (bcrypt cost 12) from 16 threads, while alice keeps working
    from the same address; the first refusal lasts longer than the attack, so nothing is let
    through again during it. The figures are printed (pytest -s) and kept as a property."""
    htpasswd = tmp_path / "htpasswd"
    bob_hash = hash_password(password_of("bob"), cost=12)
    alice_hash = hash_password(password_of("alice"), cost=4)
    htpasswd.write_text(f"alice:{alice_hash}\nbob:{bob_hash}\n")
    htpasswd.chmod(0o600)
    started = time.perf_counter()
    assert not verify_password("wrong", bob_hash)
    bcrypt_secs = time.perf_counter() - started
    server = start(
        "--login-throttle-user-failures", "5", "--login-throttle-delay-secs", "600",
        htpasswd=htpasswd,
    )  # fmt: skip

    before = _latencies(server, threading.Event(), count=31)[1:]  # the first one runs bcrypt
    stop = threading.Event()
    with ThreadPoolExecutor(1) as alice_pool:
        during_future = alice_pool.submit(_latencies, server, stop)
        responses, attack_secs = _attack(server)
        stop.set()
        during = during_future.result()  # re-raises if any of alice's requests was not 200

    statuses = Counter(r.status_code for r in responses)
    figures = {
        "attempts": ATTEMPTS,
        "statuses": dict(statuses),
        "bcrypt_checks": checked_failures(server, "bob"),
        "attack_secs": round(attack_secs, 2),
        "serial_bcrypt_secs": round(ATTEMPTS * bcrypt_secs, 1),
        "alice_requests_during": len(during),
        "alice_median_ms_before": round(statistics.median(before) * 1000, 2),
        "alice_median_ms_during": round(statistics.median(during) * 1000, 2),
    }
    record_property("brute_force", figures)
    print(f"brute force figures: {figures}")
    # Checks for one user name run one at a time: after the fifth failure, none runs bcrypt.
    assert statuses == {401: 5, 429: ATTEMPTS - 5}, figures
    assert figures["bcrypt_checks"] == 5, figures
    assert all(retry_after(r) > 0 for r in responses if r.status_code == 429)
    assert attack_secs < ATTEMPTS * bcrypt_secs / 4, figures
    assert len(during) >= 5, figures  # alice really was working during the attack
    assert statistics.median(during) < 5 * statistics.median(before) + 0.25, figures
    # bob's lock covers every password attempt for that name, also the right password.
    retry_after(ping(server, "bob"))


def test_the_refusal_grows_while_failures_continue_up_to_the_cap(
    start: Callable[..., Server],
) -> None:
    server = start(
        "--login-throttle-user-failures", "2",
        "--login-throttle-delay-secs", "1",
        "--login-throttle-max-delay-secs", "2",
    )  # fmt: skip
    assert [ping(server, "bob", "wrong").status_code for _ in range(2)] == [401, 401]
    waits = [retry_after(ping(server, "bob", "wrong"))]
    for _ in range(2):
        # Refused attempts while the lock lasts do not count; the first one let through does.
        assert until_admitted(lambda: ping(server, "bob", "wrong")).status_code == 401
        waits.append(retry_after(ping(server, "bob", "wrong")))
    assert waits == [1, 2, 2]
    assert checked_failures(server, "bob") == 4


def test_a_success_starts_the_count_again(start: Callable[..., Server]) -> None:
    server = start("--login-throttle-user-failures", "3", "--login-throttle-delay-secs", "600")
    for _ in range(2):
        assert ping(server, "bob", "wrong").status_code == 401
    assert ping(server, "bob").status_code == 200
    assert [ping(server, "bob", "wrong").status_code for _ in range(3)] == [401, 401, 401]
    assert retry_after(ping(server, "bob", "wrong")) > 0


def test_failures_are_forgotten_after_the_window(start: Callable[..., Server]) -> None:
    server = start(
        "--login-throttle-user-failures", "2",
        "--login-throttle-delay-secs", "600",
        "--login-throttle-window-secs", "2",
    )  # fmt: skip
    assert [ping(server, "bob", "wrong").status_code for _ in range(2)] == [401, 401]
    assert retry_after(ping(server, "bob", "wrong")) == 2  # the window ends the refusal
    assert until_admitted(lambda: ping(server, "bob", "wrong")).status_code == 401
    # A fresh count: one more failure is allowed before the next refusal.
    assert ping(server, "bob", "wrong").status_code == 401
    retry_after(ping(server, "bob", "wrong"))


def test_many_user_names_from_one_address_are_refused_while_known_good_callers_pass(
    start: Callable[..., Server],
) -> None:
    server = start("--login-throttle-address-failures", "10", "--login-throttle-delay-secs", "600")
    assert ping(server, "alice").status_code == 200  # alice's password is now known to be right
    token = httpx.post(
        server.base_url + "/v1/auth/token", auth=("dave", password_of("dave")), timeout=30
    ).json()["token"]
    statuses = []
    for number in range(30):
        response = ping(server, f"sprayed-{number}", "Winter2024!")
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert "from this address" in response.json()["message"]
            assert int(response.headers["Retry-After"]) > 0
        assert ping(server, "alice").status_code == 200
    assert statuses == [401] * 10 + [429] * 20
    bearer = {"Authorization": f"Bearer {token}"}
    assert httpx.get(server.base_url + "/v1/auth/me", headers=bearer).status_code == 200
    # carol's password is right, but not yet known to be: from this address it waits too.
    assert "from this address" in ping(server, "carol").json()["message"]


def test_each_lockout_is_audited_as_it_starts_not_each_refusal(
    start: Callable[..., Server],
) -> None:
    server = start(
        "--admin-user", "alice",
        "--login-throttle-user-failures", "3",
        "--login-throttle-address-failures", "5",
        "--login-throttle-delay-secs", "600",
    )  # fmt: skip
    assert ping(server, "alice").status_code == 200  # known good: she passes the address lock

    def lockouts() -> list[tuple[Any, ...]]:
        response = httpx.get(
            server.base_url + "/v1/audit",
            params={"action": "login.throttled"},
            auth=("alice", password_of("alice")),
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return [
            (e["user"], e["resource"], e["client"], e["decision"], e["reason"])
            for e in response.json()["items"]
        ]

    def lockout(user: str | None, resource: str, failures: int) -> tuple[Any, ...]:
        reason = f"{failures} failed sign-in attempts; Retry-After 600 s"
        return (user, resource, "127.0.0.1", "denied", reason)

    assert [ping(server, "bob", "wrong").status_code for _ in range(3)] == [401] * 3
    bob = lockout("bob", "user/bob", 3)
    assert lockouts() == [bob]
    assert [ping(server, "carol", "wrong").status_code for _ in range(2)] == [401] * 2
    address = lockout(None, "client/127.0.0.1", 5)  # no user: the address is locked
    assert lockouts() == [address, bob]
    # 50 refusals, for bob's name and, from the locked address, for five others: not one
    # of them is recorded (each name's own lock, started by refusals, is only logged).
    for number in range(50):
        user = "bob" if number % 2 else f"sprayed-{number % 5}"
        retry_after(ping(server, user, "wrong"))
    assert lockouts() == [address, bob]
    assert checked_failures(server, "bob") == 3


def test_turning_the_throttle_off(start: Callable[..., Server]) -> None:
    server = start("--no-login-throttle", "--login-throttle-user-failures", "1")
    assert {ping(server, "bob", "wrong").status_code for _ in range(5)} == {401}


def test_clis_show_the_refusal_and_when_to_retry(
    start: Callable[..., Server], tmp_path: Path
) -> None:
    server = start("--login-throttle-user-failures", "1", "--login-throttle-delay-secs", "600")
    assert ping(server, "bob", "wrong").status_code == 401
    runs = {
        "torc": [str(BIN / "torc"), "--url", server.torc_url, "--username", "bob", "ping"],
        "taco": [str(BIN / "taco"), "--server", server.base_url, "whoami"],
    }
    env = client_env(
        tmp_path, TORC_PASSWORD="wrong", OPENTACO_USERNAME="bob", OPENTACO_PASSWORD="wrong"
    )
    for name, argv in runs.items():
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode != 0, (name, done.stdout)
        assert "TooManyRequests" in done.stderr, (name, done.stderr)
        assert "Too many failed sign-in attempts for user 'bob': try again in" in done.stderr


def test_client_says_when_to_retry_also_behind_a_proxy() -> None:
    """A proxy's own 429 has no JSON body; the message comes from Retry-After."""

    def proxy(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "30"}, text="Too Many Requests")

    transport = httpx.MockTransport(proxy)
    with (
        JsonClient("http://proxy", transport=transport) as client,
        pytest.raises(ApiError) as caught,
    ):
        client.get("/ping")
    assert caught.value.body == {
        "error": "TooManyRequests",
        "message": "Too Many Requests: try again in 30 seconds",
    }


# -- startup warnings ----------------------------------------------------------------------


def security_lines(server: Server) -> list[str]:
    return [line for line in server.log().splitlines() if line.startswith(SECURITY)]


def test_no_security_warning_for_a_locked_down_local_server(start: Callable[..., Server]) -> None:
    assert security_lines(start()) == []


def test_warns_when_serving_without_authentication_on_the_network(
    start: Callable[..., Server],
) -> None:
    server = start("--host", "0.0.0.0", auth=False)
    assert ping(server, "anyone").status_code == 200  # it does serve, anonymously
    assert security_lines(server) == [
        f"{SECURITY}serving on 0.0.0.0 without --require-auth: anyone who can reach this "
        "address can use the server anonymously; add --auth-file and --require-auth"
    ]


def test_warns_of_a_readable_htpasswd_file_and_of_passwords_without_tls(
    start: Callable[..., Server], tmp_path: Path
) -> None:
    htpasswd = write_htpasswd(tmp_path / "htpasswd")
    htpasswd.chmod(0o644)
    server = start("--host", "0.0.0.0", htpasswd=htpasswd)
    lines = security_lines(server)
    assert lines == [
        f"{SECURITY}authentication is on but TLS is off on 0.0.0.0: passwords and tokens "
        "cross the network in clear text; use --tls-cert/--tls-key or a TLS proxy",
        f"{SECURITY}htpasswd file {htpasswd} is readable or writable by group or others "
        f"(mode 0644); run: chmod 600 {htpasswd}",
    ]


# -- secrets hygiene -----------------------------------------------------------------------

SECRET = "s3cr3t-Zebra-Quokka-7781"
SECRET_ENV = {
    "TORC_PASSWORD": SECRET,
    "OPENTACO_PASSWORD": SECRET,
    "OPENTACO_TOKEN": f"tg_0123456789abcdef_{SECRET}",
    "TF_HTTP_PASSWORD": SECRET,
    "TORC_API_URL": f"http://alice:{SECRET}@localhost:8080/torc-service/v1",
    "OPENTACO_SERVER": f"http://alice:{SECRET}@localhost:8080",
}


def cli_roots() -> dict[str, click.Command]:
    from teamgate.cli.taco import cli as taco
    from teamgate.cli.torc import cli as torc
    from teamgate.cli.torc_htpasswd import main as torc_htpasswd
    from teamgate.cli.torc_server import cli as torc_server

    return {"torc": torc, "taco": taco, "torc-htpasswd": torc_htpasswd, "torc-server": torc_server}


def command_paths(command: click.Command, path: list[str]) -> Iterator[list[str]]:
    """`path` and the argv of every subcommand under it: `[..., "rbac", "role", "list"]`."""
    yield path
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None
            yield from command_paths(sub, [*path, name])


@pytest.mark.parametrize("program", sorted(cli_roots()))
def test_help_of_every_command_never_shows_secrets_from_the_environment(program: str) -> None:
    """The installed program's own `--help` in a fresh process, then every subcommand's."""
    env = {**os.environ, **SECRET_ENV, "COLUMNS": "200"}
    done = subprocess.run(
        [str(BIN / program), "--help"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and "Usage:" in done.stdout + done.stderr, done.stderr
    assert SECRET not in done.stdout + done.stderr
    root = cli_roots()[program]
    paths = list(command_paths(root, []))
    assert len(paths) > 1
    runner = CliRunner(env={**SECRET_ENV, "COLUMNS": "200"})
    for path in paths:
        result = runner.invoke(root, [*path, "--help"], prog_name=program)
        assert result.exit_code == 0 and "Usage:" in result.output, (path, result.output)
        assert SECRET not in result.output, path


def test_debug_logs_never_contain_passwords_or_tokens(start: Callable[..., Server]) -> None:
    server = start("--log-level", "debug")
    password = password_of("alice")
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        issued = client.post("/v1/auth/token", auth=("alice", password))
        assert issued.status_code == 201, issued.text
        token = issued.json()["token"]
        for auth in (("alice", password), ("alice", token)):
            assert client.get(PING, auth=auth).status_code == 200
        bearer = {"Authorization": f"Bearer {token}"}
        assert client.get("/v1/auth/me", headers=bearer).status_code == 200
        assert client.get(PING, auth=("alice", SECRET)).status_code == 401
        assert client.get(PING, headers={"Authorization": f"Bearer {token}x"}).status_code == 401
    log = server.log()
    assert "Authentication failed for user 'alice'" in log  # the debug log did see them
    for secret in (password, token, token.split("_", 2)[2], SECRET):
        assert secret not in log


def test_errors_for_bad_credentials_never_echo_them(
    start: Callable[..., Server], tmp_path: Path
) -> None:
    server = start("--login-throttle-user-failures", "1", "--login-throttle-delay-secs", "600")
    attempts = [
        basic("bob", SECRET),
        f"Bearer tg_0123456789abcdef_{SECRET}",
        f"Bearer {SECRET}",
        f"Basic {SECRET}",
        basic(SECRET, "x"),
        basic("bob", SECRET),  # now refused: 429
    ]
    statuses = []
    for authorization in attempts:
        headers = {"Authorization": authorization}
        response = httpx.get(server.base_url + PING, headers=headers, timeout=30)
        statuses.append(response.status_code)
        assert SECRET not in response.text and SECRET not in str(response.headers)
    assert statuses == [401, 401, 401, 401, 401, 429]
    for argv, extra in (
        (["torc", "--url", server.torc_url, "--username", "carol", "ping"], "TORC_PASSWORD"),
        (
            ["taco", "--server", server.base_url, "login", "--username", "dave"],
            "OPENTACO_PASSWORD",
        ),
    ):
        done = subprocess.run(
            [str(BIN / argv[0]), *argv[1:]],
            env=client_env(tmp_path, **{extra: SECRET}),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode != 0 and "Invalid user name or password" in done.stderr
        assert SECRET not in done.stdout + done.stderr
    assert SECRET not in server.log().replace(f"user '{SECRET}'", "user '<name>'")
