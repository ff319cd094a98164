"""The console's Audit section: the audit log for system administrators.

The same listing as GET /v1/audit (`services.audit.list_events`, which refuses everyone but
system administrators): newest first, filtered by user, action prefix, resource prefix,
decision and time, a page at a time ("Older" follows the `after` cursor). Details are what
callers sent (names, paths): the template shows them as text.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import HTMLResponse

from teamgate.services import audit
from teamgate.web.audit_api import MAX_ID
from teamgate.web.ui.gate import Context, Viewer, console_router
from teamgate.web.ui.render import PAGE_SIZE, clamp_page, page

router = console_router()


@router.get("/audit", include_in_schema=False)
def audit_page(
    request: Request,
    ctx: Context,
    viewer: Viewer,
    user: Annotated[str, Query(max_length=255)] = "",
    action: Annotated[str, Query(max_length=255)] = "",
    resource: Annotated[str, Query(max_length=4096)] = "",
    decision: Annotated[str, Query(max_length=32)] = "",
    since: Annotated[str, Query(max_length=64)] = "",
    until: Annotated[str, Query(max_length=64)] = "",
    limit: int = PAGE_SIZE,
    after: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
) -> HTMLResponse:
    """A page of the audit log, newest first."""
    _, limit = clamp_page(0, limit)
    query = audit.Query(
        user or None,
        action or None,
        resource or None,
        since or None,
        until or None,
        decision or None,
    )
    found = audit.list_events(ctx, viewer, query, limit=limit, after=after)
    filters = {
        "user": user,
        "action": action,
        "resource": resource,
        "decision": decision,
        "since": since,
        "until": until,
        "limit": limit,
    }
    return page(
        request,
        "audit.html",
        title="Audit",
        section="Audit",
        found=found,
        filters=filters,
        decisions=audit.DECISIONS,
        first_page=after is None,
    )
