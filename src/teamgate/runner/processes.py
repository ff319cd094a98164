"""Job processes: spawned as `bash -c COMMAND` in a session of their own, reaped with their
resource usage, and stopped as a whole process group.

Each job leads its own process group (`setsid`), so stopping a job reaches everything its
command started, and a Ctrl-C on the terminal reaches only the runner, which then stops its
jobs itself. Exits are waited for through pidfds (Linux 5.3+), so the runner sleeps until a job
ends or a signal arrives instead of polling; elsewhere it checks every few milliseconds.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FALLBACK_TICK = 0.02  # seconds between checks where pidfds are missing
MIN_TIMED = 0.1  # seconds: a shorter job gets no CPU percentage
_WRITE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC


@dataclass(frozen=True, slots=True)
class Exit:
    """How a job process ended, measured from os.wait4's resource usage of that child."""

    return_code: int  # the exit status, or minus the signal that ended it (-15, -9)
    wall_seconds: float
    cpu_seconds: float
    peak_memory_bytes: int | None  # None when the job stayed below what can be told apart

    @property
    def avg_cpu_percent(self) -> float | None:
        """CPU time over wall time: 100 for one busy CPU, 200 for two. None for a job shorter
        than MIN_TIMED seconds, whose CPU time (counted in scheduler ticks) says nothing."""
        if self.wall_seconds < MIN_TIMED:
            return None
        return round(100.0 * self.cpu_seconds / self.wall_seconds, 1)


@dataclass(eq=False)
class Process:
    """One running job process; `data` is what the caller keeps with it (the job)."""

    pid: int
    started: float
    data: Any = None
    pidfd: int | None = None
    signal_sent: int | None = field(default=None)
    # The runner's own peak RSS when it spawned this job. A new process's ru_maxrss starts
    # from the memory of the process it was spawned from (the kernel keeps the high-water mark
    # of the image it replaced at exec), so only a peak above this one is the job's own.
    floor: int = 0


def _bash() -> str:
    return shutil.which("bash") or "/bin/bash"


class Processes:
    """The job processes this runner started and has not reaped yet."""

    def __init__(self) -> None:
        self.running: dict[int, Process] = {}
        self._bash = _bash()
        self._pidfds = hasattr(os, "pidfd_open")

    def __len__(self) -> int:
        return len(self.running)

    def spawn(
        self, command: str, *, env: Mapping[str, str], stdout: Path, stderr: Path, data: Any = None
    ) -> Process:
        """Start `bash -c command` in a new session, in this directory, stdin from /dev/null,
        stdout and stderr to the given files (truncated)."""
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, str(stdout), _WRITE, 0o600),
            (os.POSIX_SPAWN_OPEN, 2, str(stderr), _WRITE, 0o600),
        ]
        pid = os.posix_spawn(
            self._bash, ["bash", "-c", command], env, file_actions=actions, setsid=True
        )
        process = Process(pid=pid, started=time.monotonic(), data=data, floor=_own_peak())
        if self._pidfds:
            try:
                process.pidfd = os.pidfd_open(pid)
            except OSError:  # e.g. a seccomp filter refuses it: fall back to checking
                self._pidfds = False
        self.running[pid] = process
        return process

    def reap(self) -> list[tuple[Process, Exit]]:
        """The processes that have exited since the last call, without blocking."""
        done = []
        for process in list(self.running.values()):
            try:
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: nothing is known of how it ended
                pid, status, usage = process.pid, 255 << 8, None
            if pid == 0:
                continue
            done.append((process, self._exit(process, status, usage)))
        return done

    def _exit(self, process: Process, status: int, usage: Any) -> Exit:
        del self.running[process.pid]
        if process.pidfd is not None:
            os.close(process.pidfd)
        wall = time.monotonic() - process.started
        cpu = usage.ru_utime + usage.ru_stime if usage else 0.0
        peak = _bytes(usage.ru_maxrss) if usage else 0
        known = peak if peak > process.floor else None
        return Exit(os.waitstatus_to_exitcode(status), wall, cpu, known)

    def wait(self, timeout: float, *, wake_fds: Sequence[int] = ()) -> None:
        """Block until a process exits, one of `wake_fds` becomes readable (a signal arrived,
        a completion was recorded) or `timeout` seconds pass."""
        fds = [p.pidfd for p in self.running.values() if p.pidfd is not None]
        fds.extend(wake_fds)
        if self._pidfds or not self.running:
            if fds:
                poller = select.poll()
                for fd in fds:
                    poller.register(fd, select.POLLIN)
                poller.poll(timeout * 1000)
            else:
                time.sleep(timeout)
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(map(_exited, self.running.values())):
                return
            if select.select(list(wake_fds), [], [], FALLBACK_TICK)[0]:
                return

    def signal_all(self, sig: int, processes: Iterable[Process] | None = None) -> None:
        """Send `sig` to every process group (each job's command and all it started)."""
        for process in list(processes if processes is not None else self.running.values()):
            if _kill_group(process.pid, sig):
                process.signal_sent = sig

    def stop_all(self, *, grace: float) -> list[tuple[Process, Exit]]:
        """Stop every job: SIGTERM to each process group, then after `grace` seconds (or once
        every command has exited) SIGKILL to each group, so that nothing a command started
        outlives it. The exits, each job's leader reaped.

        Leaders are reaped only after the SIGKILL: until then an exited leader is a zombie
        whose pid (its group's id) no other process can take, so the SIGKILL cannot reach
        a stranger.
        """
        self.signal_all(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and not all(map(_exited, self.running.values())):
            self.wait(min(0.05, max(deadline - time.monotonic(), 0.0)))
        alive = [p for p in self.running.values() if not _exited(p)]
        self.signal_all(signal.SIGKILL, alive)
        for process in self.running.values():
            if process not in alive:
                _kill_group(process.pid, signal.SIGKILL)  # what the command left behind
        stopped = []
        for process in list(self.running.values()):
            _pid, status, usage = os.wait4(process.pid, 0)
            stopped.append((process, self._exit(process, status, usage)))
        return stopped


def _bytes(maxrss: int) -> int:
    """ru_maxrss in bytes: Linux counts KiB (macOS bytes, where this over-reports)."""
    return int(maxrss) * 1024


def _own_peak() -> int:
    import resource

    return _bytes(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _kill_group(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _exited(process: Process) -> bool:
    """Whether the process has exited (left unreaped: its pid stays reserved)."""
    try:
        info = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None
