"""What a runner token may call: an allowlist of routes, checked for every request it signs.

A runner token (`Principal.workflow_scope`) is good for its workflow's runner calls and reads
only. `decide()` bounds every decision it takes part in (see domain.policy); this is the other
half, for the routes that decide nothing about one workflow (listings, groups, identity, RBAC,
audit, units and the state backend, administration, tokens): a request signed with a runner
token is refused (403) unless its method and path match `RUNNER_ROUTES`, and a workflow id in
its path, or a `workflow_id` query parameter, names the token's workflow. Routes added later
are refused until listed here. Listing workflows is refused too, not filtered: a runner knows
its workflow's id.

The match is made on the request's own path, with the templates' `int` converters, not on
what the router picked: it depends on no router internals, and a path that fits a listed
template fits no other route (ids are digits, no literal segment is).
"""

from __future__ import annotations

import re

from fastapi import Request
from starlette.routing import compile_path

from teamgate.domain.identity import TokenScope
from teamgate.domain.policy import scope_message
from teamgate.errors import Forbidden

TORC = "/torc-service/v1"

# "METHOD template" → the path parameter naming the workflow, or None where the workflow is
# the job's, record's or query's (decided on it by the service, under the scope's bound).
RUNNER_ROUTES: dict[str, str | None] = {
    # harmless: no data
    f"GET {TORC}/ping": None,
    f"GET {TORC}/version": None,
    # reading the workflow
    f"GET {TORC}/workflows/{{id:int}}": "id",
    f"GET {TORC}/workflows/{{id:int}}/status": "id",
    f"GET {TORC}/workflows/{{id:int}}/is_complete": "id",
    f"GET {TORC}/workflows/{{id:int}}/is_uninitialized": "id",
    f"GET {TORC}/workflows/{{id:int}}/job_dependencies": "id",
    f"GET {TORC}/workflows/{{id:int}}/allowed_actions": "id",
    f"GET {TORC}/jobs": None,
    f"GET {TORC}/jobs/{{id:int}}": None,
    f"GET {TORC}/results": None,
    f"GET {TORC}/results/{{id:int}}": None,
    **{
        f"GET {TORC}/{kind}{suffix}": None
        for kind in ("files", "user_data", "resource_requirements", "compute_nodes", "events")
        for suffix in ("", "/{id:int}")
    },
    # running it: what `torc run` and a Slurm allocation's runner call
    f"POST {TORC}/workflows/{{id:int}}/initialize_jobs": "id",
    f"POST {TORC}/workflows/{{id:int}}/claim_jobs_based_on_resources/{{limit:int}}": "id",
    f"POST {TORC}/workflows/{{id:int}}/claim_next_jobs": "id",
    f"PUT {TORC}/jobs/{{id:int}}/start_job/{{run_id:int}}/{{compute_node_id:int}}": None,
    f"POST {TORC}/jobs/{{id:int}}/complete_job/{{status}}/{{run_id:int}}": None,
    f"POST {TORC}/workflows/{{id:int}}/batch_complete_jobs": "id",
    f"POST {TORC}/jobs/{{id:int}}/retry/{{run_id:int}}": None,
    f"POST {TORC}/compute_nodes": None,
    f"PUT {TORC}/compute_nodes/{{id:int}}": None,
    # the runner loop's batched starts, releases and heartbeats
    f"POST {TORC}/workflows/{{id:int}}/batch_start_jobs": "id",
    f"POST {TORC}/workflows/{{id:int}}/release_jobs": "id",
    f"POST {TORC}/compute_nodes/{{id:int}}/heartbeat": None,
    # a Slurm allocation's runner marks itself running and done, and submits the next ones
    f"GET {TORC}/workflows/{{id:int}}/slurm_allocations": "id",
    f"POST {TORC}/workflows/{{id:int}}/slurm_allocations": "id",
    f"PATCH {TORC}/workflows/{{id:int}}/slurm_allocations/{{alloc_id:int}}": "id",
}


def _compile() -> dict[str, list[tuple[re.Pattern[str], str | None]]]:
    by_method: dict[str, list[tuple[re.Pattern[str], str | None]]] = {}
    for route, param in RUNNER_ROUTES.items():
        method, template = route.split(" ", 1)
        pattern = compile_path(template)[0]
        methods = (method, "HEAD") if method == "GET" else (method,)
        for each in methods:
            by_method.setdefault(each, []).append((pattern, param))
    return by_method


_ALLOWED = _compile()


def route_path(request: Request) -> str:
    """The request's path below the application's root path (as the router sees it)."""
    path: str = request.scope["path"]
    root: str = request.scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] == "/":
        return path[len(root) :]
    return path


def check_scope(request: Request, scope: int) -> None:
    """Refuse (Forbidden) a request signed with a token scoped to workflow `scope` unless it
    is a runner call or read of that workflow."""
    path = route_path(request)
    for pattern, param in _ALLOWED.get(request.method, ()):
        found = pattern.match(path)
        if found is None:
            continue
        named = found[param] if param is not None else None
        queried = request.query_params.getlist("workflow_id")
        if (named is None or named == str(scope)) and all(q == str(scope) for q in queried):
            return
        break
    raise Forbidden(scope_message(scope), reason=f"token scoped to workflow {scope}")


# What a read-only token may send besides GET and HEAD: ending tokens, and a question that
# changes nothing. Every other method is refused before the route runs (Terraform's LOCK and
# UNLOCK, state POSTs, torc job calls included), whatever decide() would say.
READ_ONLY_WRITES: dict[str, str | None] = {
    "DELETE /v1/auth/token": None,
    "DELETE /v1/auth/tokens": None,
    "DELETE /v1/auth/tokens/{id:int}": None,
    f"DELETE {TORC}/tokens/{{id:int}}": None,
    "POST /v1/rbac/test": None,
}
_READ_ONLY_WRITES = [
    (method, compile_path(template)[0])
    for method, template in (route.split(" ", 1) for route in READ_ONLY_WRITES)
]
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def check_token_scope(request: Request, scope: TokenScope) -> None:
    """Refuse (Forbidden) a request of a read-only token that is not a read (decide() bounds
    everything else a scoped token asks, read-only included; this is the second lock)."""
    if not scope.read_only or request.method in READ_METHODS:
        return
    path = route_path(request)
    if any(m == request.method and p.match(path) for m, p in _READ_ONLY_WRITES):
        return
    message = (
        f"This token is scoped ({scope.describe()}): it may only read; use a token with a "
        "wider scope, or sign in with your password"
    )
    raise Forbidden(message, reason=f"token scope: {scope.describe()}")
