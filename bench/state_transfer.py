"""Push and pull of a large Terraform state: throughput and the server's peak memory growth.

    python bench/state_transfer.py [--mb 200] [--s3]

Runs a real `torc-server` (local blob directory; with --s3 also a moto S3 server) and streams
the state over HTTP with httpx. Peak memory is the server process's VmHWM from /proc.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import password_of, start_server, write_htpasswd


def make_state(path: Path, megabytes: int) -> None:
    """A JSON object of about `megabytes` MB (one big resources list)."""
    row = b'{"type":"null_resource","name":"r","instances":[{"attributes":{"id":"' + b"x" * 900
    with path.open("wb") as out:
        out.write(b'{"version":4,"serial":1,"resources":[')
        count = megabytes * 1024 * 1024 // (len(row) + 8)
        for i in range(count):
            out.write(row + b'"}}]}' + (b"," if i < count - 1 else b""))
        out.write(b"]}")


def peak_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            yield chunk


def run(label: str, work: Path, state: Path, extra: list[str], env: dict[str, str]) -> None:
    auth = write_htpasswd(work / f"{label}.htpasswd", ["alice"])
    server = start_server(
        work / label,
        "--database",
        str(work / f"{label}.db"),
        "--auth-file",
        str(auth),
        "--max-state-bytes",
        str(4 << 30),
        *extra,
        env=env,
    )
    try:
        size = state.stat().st_size
        url = f"{server.base_url}/v1/state/bench/big"
        with httpx.Client(auth=("alice", password_of("alice")), timeout=600) as client:
            client.put(url, content=b'{"warm": true}').raise_for_status()
            before = peak_kb(server.process.pid)
            start = time.perf_counter()
            client.put(url, content=file_chunks(state)).raise_for_status()
            push = time.perf_counter() - start
            start = time.perf_counter()
            received = 0
            with client.stream("GET", url) as response:
                for chunk in response.iter_bytes():
                    received += len(chunk)
            pull = time.perf_counter() - start
            after = peak_kb(server.process.pid)
        assert received == size, (received, size)
        mb = size / 1e6
        print(
            f"{label:<8} {mb:>8.0f} MB  push {mb / push:>7.1f} MB/s  pull {mb / pull:>7.1f} MB/s  "
            f"peak server memory growth {(after - before) / 1024:>6.1f} MiB"
        )
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--s3", action="store_true", help="also run against a moto S3 server")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="teamgate-state-"))
    state = work / "state.json"
    make_state(state, args.mb)
    run("local", work, state, [], {})
    moto = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    if args.s3 and moto:
        port = "45199"
        proc = subprocess.Popen(
            [moto, "-H", "127.0.0.1", "-p", port],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            env = {
                "AWS_ACCESS_KEY_ID": "test",
                "AWS_SECRET_ACCESS_KEY": "test",
                "AWS_DEFAULT_REGION": "us-east-1",
            }
            os.environ.update(env)
            import boto3

            endpoint = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    httpx.get(endpoint)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="bench")
            run(
                "s3-moto",
                work,
                state,
                ["--blob-store", f"s3://bench/state?endpoint={endpoint}"],
                env,
            )
        finally:
            proc.terminate()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
