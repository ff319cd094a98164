"""SIGINT and SIGTERM while a run goes on: noted instead of raised, so that the runner stops
its jobs and records them before it exits; a pipe wakes the runner's wait at once."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Signals:
    """SIGINT/SIGTERM noted (not raised) and a pipe that wakes the runner's wait."""

    received: int | None = None
    read_fd: int = -1
    _saved: dict[int, Any] = field(default_factory=dict)
    _write_fd: int = -1
    _saved_wakeup: int = -1

    def install(self) -> None:
        self.read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._write_fd, False)
        os.set_blocking(self.read_fd, False)
        self._saved_wakeup = signal.set_wakeup_fd(self._write_fd)
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._saved[sig] = signal.signal(sig, self._note)

    def _note(self, signum: int, _frame: object) -> None:
        if self.received is None:
            self.received = signum

    def restore(self) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(self._saved_wakeup)
        os.close(self.read_fd)
        os.close(self._write_fd)

    def drain(self) -> None:
        try:
            while os.read(self.read_fd, 512):
                pass
        except BlockingIOError:
            pass
