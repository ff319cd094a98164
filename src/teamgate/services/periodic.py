"""A job run once when the server starts, then at an interval, in a daemon thread."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Periodic:
    """Runs `job` when started (before the server answers), then every `interval_secs` until
    stopped. `job` must log its own failures rather than raise: the next run tries again."""

    def __init__(self, job: Callable[[], object], *, name: str, interval_secs: float) -> None:
        self.job = job
        self.name = name
        self.interval_secs = interval_secs
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval_secs):
            self.job()

    def start(self) -> None:
        if self._thread is not None:
            return
        self.job()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
