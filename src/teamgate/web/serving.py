"""Run the application under uvicorn: in this process, or as `--workers N` processes.

Workers share the listening socket the parent bound, so the parent knows (and prints) the
real port before any worker starts. The parent has already migrated the database; each
worker builds its own application from the same Settings with `migrate=False`. With metrics
on, workers write their counters to one temporary directory (prometheus_client's
multiprocess mode) that `/metrics` in any worker adds up; the parent removes it at exit.
Each serving process caps glibc's malloc arenas first (`limit_malloc_arenas`).
"""

from __future__ import annotations

import ctypes
import faulthandler
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

import uvicorn

from teamgate.errors import ConfigError
from teamgate.settings import Settings
from teamgate.web.connections import header_deadline_protocol
from teamgate.web.logs import configure_logging

log = logging.getLogger("teamgate.server")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus_client when it is imported
STARTUP_FAILURE = 3  # a worker's exit code when it could not start serving
GRACEFUL_SHUTDOWN_SECS = 5  # requests still running then are cancelled
STOP_TIMEOUT_SECS = 8  # a serving process exits this long after a stop signal, whatever runs
FORCED_STOP_EXIT = 1  # its status then (faulthandler's)
KILL_AFTER_SECS = STOP_TIMEOUT_SECS + 2  # the supervisor's last resort for a worker
MALLOC_ARENAS = 2
# glibc's own settings for the same limit: when the operator set either, theirs stands
ARENA_ENV = "MALLOC_ARENA_MAX"
ARENA_TUNABLE = "glibc.malloc.arena_max"  # a name in GLIBC_TUNABLES
_M_ARENA_MAX = -8  # mallopt()'s parameter number, from glibc's <malloc.h>


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas for this process, so a busy server's memory stays flat.

    glibc gives each new thread its own arena, up to 8 per core. Requests run in the thread
    pool, and the free space each arena keeps is rarely given back to the system, so spread
    over many arenas the server's RSS crept up under steady load while the memory in use
    stayed flat (bench/soak.py: +0.25 MB/min with 10 arenas, flat with 2). The GIL already
    serialises most allocations, so fewer arenas cost nothing measurable. (What is left: RSS
    may step up once by a MB or two when glibc raises its mmap threshold after a large block
    is freed. Pinning it at 128 KiB flattened that too, but cost large state transfers a
    fifth to a half of their throughput.)

    Call it before the server starts its threads (glibc settles on its own limit once it has
    more than eight arenas). A no-op (False) off glibc, or when MALLOC_ARENA_MAX (or
    glibc.malloc.arena_max in GLIBC_TUNABLES) is set: glibc has applied that value itself.
    """
    chosen = os.environ.get(ARENA_ENV) or ARENA_TUNABLE in os.environ.get("GLIBC_TUNABLES", "")
    if chosen or not _is_glibc():
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, arenas))


def _is_glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") is not None  # only glibc defines this name
    except (AttributeError, ValueError, OSError):  # not POSIX, or the name is unknown here
        return False


def uvicorn_config(app: Any, settings: Settings) -> uvicorn.Config:
    proxies = list(settings.forwarded_allow_ips)
    return uvicorn.Config(
        app,
        log_config=None,  # configured by configure_logging
        access_log=False,  # teamgate.access writes the access lines
        ssl_certfile=settings.tls_cert,
        ssl_keyfile=settings.tls_key,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECS,
        http=header_deadline_protocol(settings.header_timeout_secs),
        # uvicorn believes X-Forwarded-For from 127.0.0.1 unless told otherwise, which let
        # any local client pick the address the sign-in throttle and the audit log see
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies,
    )


class StopWatchdog:
    """Ends the process STOP_TIMEOUT_SECS after the first stop signal, whatever still runs.

    On SIGTERM uvicorn stops accepting, gives running requests GRACEFUL_SHUTDOWN_SECS, then
    cancels them and re-raises the signal. That needs the event loop and the GIL: code that
    holds the GIL (a backtracking regex froze the server this way) or blocks the loop kept
    the process alive until SIGKILL. The countdown is faulthandler's, a C thread that needs
    neither: when it runs out it writes every thread's stack to stderr (what was stuck) and
    exits with status 1. Arming it from the signal handler starts no Python thread, so it
    cannot deadlock on the threading module's locks. (A GIL held before the signal keeps
    even the handler from running; no matcher over a caller's text may do that.)
    """

    def __init__(self, timeout_secs: float = STOP_TIMEOUT_SECS) -> None:
        self.timeout_secs = timeout_secs
        self._armed = False

    def signalled(self) -> None:
        if self._armed:
            return
        self._armed = True
        try:
            faulthandler.dump_traceback_later(self.timeout_secs, exit=True, file=sys.stderr)
        except (AttributeError, ValueError, OSError):  # stderr closed or not a real file
            faulthandler.dump_traceback_later(self.timeout_secs, exit=True, file=_devnull())


def _devnull() -> int:
    return os.open(os.devnull, os.O_WRONLY)


class _Server(uvicorn.Server):
    """uvicorn's server, sure to stop: see `StopWatchdog`."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.watchdog = StopWatchdog()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.watchdog.signalled()
        super().handle_exit(sig, frame)


def serve_until_stopped(app: Any, settings: Settings, sock: socket.socket) -> uvicorn.Server:
    """Serve on `sock` until SIGINT/SIGTERM; the process ends within STOP_TIMEOUT_SECS."""
    server = _Server(uvicorn_config(app, settings))
    server.run(sockets=[sock])
    return server


def run_one(app: Any, settings: Settings, sock: socket.socket) -> int:
    """Serve `app` in this process until SIGINT/SIGTERM.

    uvicorn raises the signal again once it has shut down; Ctrl-C is how a server on a terminal
    is meant to stop, so it ends with a line saying so and exit code 0, not a traceback or
    click's "Aborted!"."""
    try:
        serve_until_stopped(app, settings, sock)
    except KeyboardInterrupt:
        log.info("Stopped (Ctrl-C)")
    return 0


def run_workers(settings: Settings, sock: socket.socket) -> int:
    """Serve with `settings.workers` processes until SIGINT/SIGTERM; the exit code."""
    metrics_dir = tempfile.mkdtemp(prefix="teamgate-metrics-") if settings.metrics else None
    if metrics_dir is not None:
        os.environ[MULTIPROC_ENV] = metrics_dir  # inherited by the workers at spawn
    try:
        return _Supervisor(settings, sock, metrics_dir).run()
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


class _Supervisor:
    """Starts the workers, replaces any that dies, stops them all on a signal."""

    def __init__(self, settings: Settings, sock: socket.socket, metrics_dir: str | None) -> None:
        self.settings = settings
        self.sock = sock
        self.metrics_dir = metrics_dir
        self.stop = threading.Event()
        self.spawn = multiprocessing.get_context("spawn")  # fresh interpreters, no forked locks
        self.workers: list[BaseProcess] = []

    def run(self) -> int:
        handlers = {sig: signal.signal(sig, self._on_signal) for sig in _STOP_SIGNALS}
        log.info("Starting %d worker processes", self.settings.workers)
        try:
            self.workers = [self._start() for _ in range(self.settings.workers)]
            while not self.stop.wait(0.5):
                if not self._replace_dead():
                    return 1
            return 0
        finally:
            self._stop_all()
            for sig, handler in handlers.items():
                signal.signal(sig, handler)

    def _on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        self.stop.set()

    def _start(self) -> BaseProcess:
        process = self.spawn.Process(
            target=_worker_main,
            args=(self.settings, self.sock, self.metrics_dir),
            name="torc-server-worker",
        )
        process.start()
        return process

    def _replace_dead(self) -> bool:
        """Restart workers that exited; False when one could not even start."""
        for index, process in enumerate(self.workers):
            if process.exitcode is None or self.stop.is_set():
                continue
            if process.exitcode == STARTUP_FAILURE:
                log.error("Worker process %s could not start; stopping the server", process.pid)
                return False
            log.warning(
                "Worker process %s exited (code %s); starting another",
                process.pid,
                process.exitcode,
            )
            self.workers[index] = self._start()
        return True

    def _stop_all(self) -> None:
        for process in self.workers:
            if process.exitcode is None:
                process.terminate()
        for process in self.workers:
            process.join(KILL_AFTER_SECS)
            if process.exitcode is None:
                process.kill()
                process.join()


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _worker_main(settings: Settings, sock: socket.socket, metrics_dir: str | None) -> None:
    """One worker process: its own application, served on the parent's socket."""
    from teamgate.web.app import create_app

    limit_malloc_arenas()
    configure_logging(settings.log_level, settings.log_format)
    try:
        app = create_app(settings, migrate=False, metrics_dir=metrics_dir)
    except ConfigError as exc:
        log.error("Worker could not start: %s", exc.message)
        sys.exit(STARTUP_FAILURE)
    server = serve_until_stopped(app, settings, sock)
    if not server.started:
        sys.exit(STARTUP_FAILURE)
