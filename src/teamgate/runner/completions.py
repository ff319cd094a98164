"""Recording finished jobs from a thread of their own.

Completing jobs is a request the runner need not wait for: while the server records a batch
of results (and readies those jobs' dependents), the runner reaps, claims and starts the next
jobs, and the jobs that finish meanwhile queue up for the next batch. Each batch that lands
writes a byte to `wake_fd`, so a runner waiting for work claims the dependents at once.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

_NOTHING = object()  # a wait for more items timed out


class Completer:
    """A queue of completions and the one thread that sends them, in order: each call sends
    every completion queued since the last one (at most `batch_size`).

    `send` may hand items back (return them): they are not due yet (a job's start, which can
    wait to go with its end) and come again with the next call, which is at most `linger`
    seconds later. Calls are at least `interval` seconds apart: what comes meanwhile waits
    for the next call, so a busy runner sends fewer, larger batches."""

    def __init__(
        self,
        send: Callable[[list[Any]], list[Any] | None],
        batch_size: int = 1000,
        linger: float = 0.05,
        interval: float = 0.0,
    ) -> None:
        self._send = send
        self._batch_size = batch_size
        self._linger = linger
        self._interval = interval
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._idle = threading.Condition()
        self._pending = 0
        self._error: BaseException | None = None
        self.wake_fd, self._write_fd = os.pipe()
        os.set_blocking(self.wake_fd, False)
        os.set_blocking(self._write_fd, False)
        self._thread = threading.Thread(target=self._work, name="completions", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        """Completions submitted and not yet answered by the server."""
        return self._pending

    def submit(self, item: Any) -> None:
        with self._idle:
            self._pending += 1
        self._queue.put(item)

    def _work(self) -> None:
        stop = False
        held: list[Any] = []  # handed back by the last call: not due yet
        last = -self._interval  # when the last call that sent something was made
        while not stop or held:
            items = held
            if not stop:
                try:
                    item = self._queue.get(timeout=self._linger if held else None)
                except queue.Empty:
                    item = _NOTHING
                if item is None:
                    stop = True
                elif item is not _NOTHING:
                    items = [*held, item]
            while not stop and len(items) < self._batch_size:  # what queued meanwhile too,
                wait = last + self._interval - time.monotonic()  # and until `interval` passed
                try:
                    more = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                items.append(more)
            held = []
            try:
                if self._error is None:  # after a failure, the rest are not sent
                    held = list(self._send(items) or ()) if not stop else []
                    if stop and items:
                        self._send_all(items)
            except BaseException as exc:  # handed to the runner's thread by check()
                self._error = exc
                held = []
            finally:
                with self._idle:
                    self._pending -= len(items) - len(held)
                    self._idle.notify_all()
                if len(items) > len(held):
                    last = time.monotonic()
                    with contextlib.suppress(BlockingIOError):  # full of wake-ups already
                        os.write(self._write_fd, b".")

    def _send_all(self, items: list[Any]) -> None:
        """Send until nothing is handed back (the run is over: nothing waits any more)."""
        while items:
            items = list(self._send(items) or ())
            if items:
                time.sleep(self._linger)

    def check(self) -> None:
        """Raise, in the caller's thread, what a completion raised."""
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def drain(self) -> None:
        """Empty the wake-up pipe (after a wait it ended)."""
        try:
            while os.read(self.wake_fd, 4096):
                pass
        except BlockingIOError:
            pass

    def flush(self) -> None:
        """Wait until every submitted completion is answered; raise what one raised."""
        with self._idle:
            self._idle.wait_for(lambda: self._pending == 0)
        self.check()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        os.close(self.wake_fd)
        os.close(self._write_fd)
