"""The server's malloc arena cap, observed in fresh interpreters through glibc's malloc_info()."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from teamgate.web.serving import MALLOC_ARENAS

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="arenas are glibc's")

# Eight threads alive at once, each allocating, then the number of arenas (`<heap nr=`) that
# malloc_info() reports. Without a cap, glibc gives each new thread an arena of its own.
CHILD = """
import ctypes, sys, threading
from teamgate.web.serving import limit_malloc_arenas

print(limit_malloc_arenas() if sys.argv[1] == "limit" else None)
barrier = threading.Barrier(8)

def allocate():
    barrier.wait()
    [bytearray(1000 + i) for i in range(100)]
    barrier.wait()

threads = [threading.Thread(target=allocate) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = (ctypes.c_char_p, ctypes.c_char_p)
libc.malloc_info.argtypes = (ctypes.c_int, ctypes.c_void_p)
libc.fclose.argtypes = (ctypes.c_void_p,)
stream = libc.fopen(sys.argv[2].encode(), b"w")
libc.malloc_info(0, stream)
libc.fclose(stream)
"""


def arenas_after_threads(
    tmp_path: Path, *, limit: bool, env: dict[str, str] | None = None
) -> tuple[str, int]:
    """What limit_malloc_arenas() returned (or "None" when not called), and the arenas in use."""
    clean = {k: v for k, v in os.environ.items() if k not in ("MALLOC_ARENA_MAX", "GLIBC_TUNABLES")}
    env = {**clean, **(env or {})}
    info = tmp_path / "malloc_info.xml"
    mode = "limit" if limit else "none"
    result = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(info)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip(), info.read_text().count("<heap nr=")


def test_limit_caps_the_arenas_of_later_threads(tmp_path: Path) -> None:
    assert arenas_after_threads(tmp_path, limit=True) == ("True", MALLOC_ARENAS)


def test_without_the_limit_each_thread_gets_an_arena(tmp_path: Path) -> None:
    _, arenas = arenas_after_threads(tmp_path, limit=False)
    assert arenas > MALLOC_ARENAS  # so the test above measures the limit, not the machine


@pytest.mark.parametrize(
    "env",
    [{"MALLOC_ARENA_MAX": "3"}, {"GLIBC_TUNABLES": "glibc.malloc.arena_max=3"}],
    ids=["variable", "tunable"],
)
def test_an_arena_limit_in_the_environment_wins(tmp_path: Path, env: dict[str, str]) -> None:
    assert arenas_after_threads(tmp_path, limit=True, env=env) == ("False", 3)
