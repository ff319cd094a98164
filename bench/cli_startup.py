"""Wall time of starting the CLIs, beside a bare `python -c pass`.

    python bench/cli_startup.py [-n 20]

Each command runs N times in its own process (round robin, so that background load hits all
of them alike) after one unmeasured warm-up run. The runs may write bytecode caches even when
PYTHONDONTWRITEBYTECODE is set here: an installed CLI has them, and compiling the sources on
every run would be measured instead. `torc ping` goes to a closed local port: it measures
loading the HTTP client and failing to connect, not a server. CPU ms (user + system) is less
disturbed than wall time when other work shares the machine. Figures only; no limits.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _script(name: str) -> str:
    """The console script installed beside this interpreter, else the one on PATH."""
    beside = Path(sys.executable).with_name(name)
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} is not installed (pip install -e .)")
    return found


def _closed_port() -> int:
    """A local port nothing listens on (the OS picked it free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def commands() -> dict[str, list[str]]:
    torc, taco = _script("torc"), _script("taco")
    nowhere = f"http://127.0.0.1:{_closed_port()}/torc-service/v1"
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "torc --help": [torc, "--help"],
        "taco --help": [taco, "--help"],
        "torc --version": [torc, "--version"],
        "taco --version": [taco, "--version"],
        "torc ping (no server)": [torc, "--url", nowhere, "ping"],
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) milliseconds from start to exit; the exit status does not matter (ping fails)."""
    cpu = _children_cpu()
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - start
    return wall * 1000, (_children_cpu() - cpu) * 1000


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[18]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=20, help="runs per command")
    args = parser.parse_args()
    runs = max(2, args.runs)

    cmds = commands()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for argv in cmds.values():
        run_once(argv, env)  # warm the page cache and write the bytecode caches
    walls: dict[str, list[float]] = {label: [] for label in cmds}
    cpus: dict[str, list[float]] = {label: [] for label in cmds}
    for _ in range(runs):
        for label, argv in cmds.items():
            wall, cpu = run_once(argv, env)
            walls[label].append(wall)
            cpus[label].append(cpu)

    base = statistics.median(walls["python -c pass"])
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"CLI start-up time: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
        f"{runs} runs each, load average {load}"
    )
    print(f"{'command':<24} {'median ms':>10} {'p95 ms':>8} {'× python':>9} {'CPU ms':>8}")
    for label, values in walls.items():
        median = statistics.median(values)
        cpu = statistics.median(cpus[label])
        print(f"{label:<24} {median:>10.1f} {p95(values):>8.1f} {median / base:>9.1f} {cpu:>8.1f}")


if __name__ == "__main__":
    main()
