"""The runner's heartbeat: a thread of its own tells the server, every few seconds, that this
runner's compute node is alive. A runner that stops (kill -9, a lost machine) stops beating,
and the server recovers its jobs after its heartbeat timeout (services/lost_jobs.py).

The server answers each beat with how often to beat (a quarter of its timeout), so runners
need no setting of their own. A beat that fails is logged and the next one is the retry.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from teamgate.client.http import ApiError
from teamgate.errors import TeamgateError

DEFAULT_INTERVAL_SECS = 10.0  # until the server says otherwise
MIN_INTERVAL_SECS = 0.05


class Beating(Protocol):
    def heartbeat(self, node_id: int) -> dict[str, object]: ...


class Heartbeat:
    """Beats for `node_id` from `start()` until `stop()`; `log` hears of failures."""

    def __init__(
        self,
        client: Beating,
        node_id: int,
        *,
        log: Callable[[str], None],
        interval_secs: float = DEFAULT_INTERVAL_SECS,
    ) -> None:
        self.client = client
        self.node_id = node_id
        self.log = log
        self.interval_secs = interval_secs
        self.beats = 0
        self.lost = False  # the server declared this node lost
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Heartbeat:
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def beat(self) -> None:
        """One beat; adopts the interval the server asks for."""
        try:
            answer = self.client.heartbeat(self.node_id)
        except ApiError as exc:
            if exc.status == 409 and not self.lost:
                self.lost = True
                self.log(f"the server declared this runner lost: {exc}")
            elif exc.status != 409:
                self.log(f"heartbeat for compute node {self.node_id} refused: {exc}")
            return
        except TeamgateError as exc:  # no answer: the next beat tries again
            self.log(f"heartbeat for compute node {self.node_id} failed: {exc}")
            return
        self.beats += 1
        asked = answer.get("interval_secs")
        if isinstance(asked, int | float) and asked > 0:
            self.interval_secs = max(float(asked), MIN_INTERVAL_SECS)

    def _run(self) -> None:
        self.beat()
        while not self._stop.wait(self.interval_secs):
            self.beat()
