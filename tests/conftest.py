"""Shared fixtures: real server processes on free ports, htpasswd files, CLI runners."""

from __future__ import annotations

import os
import queue
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from teamgate.auth.passwords import hash_password

BIN = Path(sys.executable).parent
USERS = ("alice", "bob", "carol", "dave")


def password_of(user: str) -> str:
    return f"{user}_password"


def write_htpasswd(path: Path, users: Sequence[str] = USERS, *, cost: int = 4) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{u}:{hash_password(password_of(u), cost=cost)}" for u in users]
    path.write_text("# test users\n" + "\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


@dataclass
class Server:
    process: subprocess.Popen[str]
    port: int
    log_path: Path
    stdout_lines: list[str] = field(default_factory=list)
    tls_ca: Path | None = None

    @property
    def base_url(self) -> str:
        scheme = "https" if self.tls_ca else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def verify(self) -> ssl.SSLContext | bool:
        return ssl.create_default_context(cafile=str(self.tls_ca)) if self.tls_ca else True

    @property
    def torc_url(self) -> str:
        return f"{self.base_url}/torc-service/v1"

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(
    workdir: Path,
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    tls_ca: Path | None = None,
) -> Server:
    """Start `torc-server run` on a free port and wait until it answers /healthz.

    With `tls_ca`, the server is expected to speak HTTPS with a certificate signed by it.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"server-{len(list(workdir.glob('server-*.log')))}.log"
    full_env = {**os.environ, **(env or {})}
    cmd = [str(BIN / "torc-server"), "run", "--host", "127.0.0.1", "--port", "0", *args]
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
            env=full_env,
            cwd=cwd or workdir,
        )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    port = None
    seen: list[str] = []
    while port is None:
        try:
            line = lines.get(timeout=60)
        except queue.Empty:
            process.kill()
            raise RuntimeError(f"server did not report its port:\n{log_path.read_text()}") from None
        if line is None:
            process.wait()
            raise RuntimeError(f"server exited ({process.returncode}):\n{log_path.read_text()}")
        seen.append(line)
        if line.startswith("TORC_SERVER_PORT="):
            port = int(line.split("=", 1)[1])
    server = Server(process, port, log_path, seen, tls_ca)
    _wait_healthy(server)
    return server


def _wait_healthy(server: Server) -> None:
    with httpx.Client(timeout=2, verify=server.verify()) as client:
        for _ in range(300):
            try:
                if client.get(f"{server.base_url}/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if server.process.poll() is not None:
                break
            threading.Event().wait(0.05)  # polling for readiness, not a race
    server.stop()
    raise RuntimeError(f"server never became healthy:\n{server.log()}")


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[object]:
    started: list[Server] = []

    def factory(*args: str, **kwargs: object) -> Server:
        server = start_server(tmp_path / "server", *args, **kwargs)  # type: ignore[arg-type]
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


@pytest.fixture
def htpasswd(tmp_path: Path) -> Path:
    return write_htpasswd(tmp_path / "etc" / "htpasswd")


@pytest.fixture
def secured_server(server_factory, htpasswd: Path, tmp_path: Path) -> Server:  # type: ignore[no-untyped-def]
    """The tutorial's server: auth required, access control on, alice is an administrator."""
    return server_factory(  # type: ignore[no-any-return]
        "--database",
        str(tmp_path / "db" / "torc.db"),
        "--auth-file",
        str(htpasswd),
        "--require-auth",
        "--enforce-access-control",
        "--admin-user",
        "alice",
    )


def cli_env(server: Server, user: str | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORC_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["TORC_API_URL"] = server.torc_url
    env["COLUMNS"] = "200"
    if user is not None:
        env["USER"] = user
        env["TORC_PASSWORD"] = password_of(user)
    env.update(extra)
    return env


def torc(
    server: Server, user: str | None, *args: str, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """Run the real `torc` CLI as `user` against `server`."""
    return subprocess.run(
        [str(BIN / "torc"), *args],
        env=cli_env(server, user),
        capture_output=True,
        text=True,
        timeout=60,
        **kwargs,  # type: ignore[call-overload]
    )
