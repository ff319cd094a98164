"""Prometheus metrics of one application, and the `/metrics` endpoint that exposes them.

Each application has its own `CollectorRegistry`, so several apps in one process (tests) do
not share counters. With several worker processes (`--workers N`), prometheus_client's
multiprocess mode keeps each worker's values in files under one directory, and `/metrics`
(answered by any worker) adds them up.
"""

from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.exposition import generate_latest

from teamgate.domain.actions import Action, DecidedBy
from teamgate.domain.policy import Decision
from teamgate.web.deps import get_principal

UNMATCHED_ROUTE = "<unmatched>"  # any path no route knows: one label, whatever was asked
OTHER_METHOD = "OTHER"
KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "LOCK", "UNLOCK"}
)

# What decide() is asked: every action but the rules' `*`. Anything else counts as "other",
# so the label has a fixed set of values whatever a decision carries.
DECISION_ACTIONS = frozenset(action.value for action in Action if action is not Action.ANY)
OTHER_ACTION = "other"
# What decided (a few values; the reason itself names groups and rules).
DECIDED_BY = frozenset(by.value for by in DecidedBy)


class Metrics:
    """The server's counters and histograms; also the services' decision observer."""

    def __init__(self, *, multiprocess_dir: str | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "teamgate_http_requests",
            "HTTP requests by method, route template and status.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "teamgate_http_request_duration_seconds",
            "Time from request to the end of the response, by method and route template.",
            ("method", "route"),
            registry=self.registry,
        )
        self.decisions = Counter(
            "teamgate_access_decisions",
            "Access decisions enforced, by action (unit.write, …), result (allowed|denied) "
            "and what decided.",
            ("action", "result", "decided_by"),
            registry=self.registry,
        )
        self.cache_lookups = Counter(
            "teamgate_credential_cache_lookups",
            "Password checks answered from the credential cache (hit) or not (miss).",
            ("result",),
            registry=self.registry,
        )
        self.lock_conflicts = Counter(
            "teamgate_unit_lock_conflicts",
            "Unit locks and writes refused because another lock holds the unit.",
            registry=self.registry,
        )
        self.orphan_blobs = Counter(
            "teamgate_orphan_blobs_removed",
            "State blobs no unit or version referred to (left by a crash), removed by the "
            "sweep at start and every hour.",
            registry=self.registry,
        )
        for result in ("hit", "miss"):
            self.cache_lookups.labels(result)  # present (at 0) before the first lookup

    def request(self, method: str, route: str | None, status: int, seconds: float) -> None:
        method = method if method in KNOWN_METHODS else OTHER_METHOD
        route = route or UNMATCHED_ROUTE
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def decision(self, decision: Decision) -> None:
        action = decision.action if decision.action in DECISION_ACTIONS else OTHER_ACTION
        result = "allowed" if decision.allowed else "denied"
        self.decisions.labels(action, result, decision.decided_by.value).inc()

    def lock_conflict(self) -> None:
        self.lock_conflicts.inc()

    def orphan_blobs_removed(self, count: int) -> None:
        self.orphan_blobs.inc(count)

    def credential_lookup(self, hit: bool) -> None:
        self.cache_lookups.labels("hit" if hit else "miss").inc()

    def exposition(self) -> bytes:
        """The text exposition format; summed over all workers in multiprocess mode."""
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        # prometheus_client ships this constructor without annotations
        prometheus_multiprocess.MultiProcessCollector(  # type: ignore[no-untyped-call]
            registry, path=self.multiprocess_dir
        )
        return generate_latest(registry)


def install(app: FastAPI, metrics: Metrics, *, public: bool = False) -> None:
    """Serve `GET /metrics`: to any caller the server accepts (with --require-auth, signed-in
    users only), or to anyone when `public` (it holds counts, never users or unit paths).

    Any signed-in user, not only administrators: a scraper's stored credentials should
    not be an administrator's.
    """
    guard = [] if public else [Depends(get_principal)]

    @app.get("/metrics", include_in_schema=False, dependencies=guard)
    def metrics_endpoint() -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
