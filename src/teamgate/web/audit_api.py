"""The audit log, for system administrators: `GET /torc-service/v1/audit` and `GET /v1/audit`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from teamgate.services import audit
from teamgate.storage.db.audit import AuditEvent
from teamgate.web.deps import Caller, Context, api_router

router = api_router(errors=(400, 401, 403), tags=["audit"])

MAX_ID = 2**63 - 1


def event_out(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "time": event.time,
        "user": event.user_name,
        "client": event.client,
        "request_id": event.request_id,
        "action": event.action,
        "resource": event.resource,
        "decision": event.decision,
        "reason": event.reason,
        "detail": event.detail,
    }


@router.get("/torc-service/v1/audit")
@router.get("/v1/audit")
def list_audit(
    ctx: Context,
    caller: Caller,
    user: Annotated[str | None, Query(max_length=255, description="'anonymous': no user")] = None,
    action: Annotated[str | None, Query(max_length=255, description="prefix")] = None,
    resource: Annotated[str | None, Query(max_length=4096, description="prefix")] = None,
    since: Annotated[str | None, Query(max_length=64, description="ISO 8601, inclusive")] = None,
    until: Annotated[str | None, Query(max_length=64, description="ISO 8601, exclusive")] = None,
    decision: Annotated[str | None, Query(description="allowed|denied|failed-login")] = None,
    limit: Annotated[int, Query(description="1-10000")] = audit.DEFAULT_LIMIT,
    after: Annotated[int | None, Query(ge=0, le=MAX_ID, description="a page's next_cursor")] = None,
) -> dict[str, Any]:
    """Audit events, newest first: administrative changes, denied requests, failed logins."""
    query = audit.Query(user, action, resource, since, until, decision)
    page = audit.list_events(ctx, caller, query, limit=limit, after=after)
    items = [event_out(e) for e in page.items]
    return {"items": items, "count": len(items), "next_cursor": page.next_cursor}
