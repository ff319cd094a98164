"""The console's Access section: who can reach a workflow or unit, and the permission tester.

Both answer with the services behind the API and the CLIs: `services.reach.who_workflow` /
`who_unit` (`torc access who WF`, `taco unit access PATH`, GET .../access) and
`services.rbac.test` (`taco rbac test`, POST /v1/rbac/test). Asking changes nothing, so both
are GET forms: a result has an address that can be shared (it holds no secret).

What the page shows against what `taco rbac test EMAIL OPERATION [UNIT] --explain` prints
(the same POST /v1/rbac/test answer), with the markers a browser test can rely on:

    CLI line                              page
    Result: allowed|denied                <p id="verdict" data-allowed="true|false">
                                          Allowed|Denied</p> (text, not colour alone)
    Reason: …                             #reason, the same text
    User roles: a, b | none (…)           #roles, the same text
    Group roles: r (group g), …           #group-roles (only when some are held)
    Applicable permissions: p, … | none   #permissions, the same text
    Decision path: checked in this order  <ol id="steps">: one <li data-check data-matched
      ✓ check: detail                     data-mark="✓|✗|·"> per step, in the same order;
                                          its `.step-text` is the CLI line after the mark

The CLI's operations map to the page's actions: read|pull → unit.read, write|push|create →
unit.write, lock|unlock → unit.lock, delete|rm → unit.delete, manage → rbac.manage (the
resource is ignored), `ls` → unit.read with no resource. The CLI asks about units and
rbac.manage only; the page also offers the workflow.* rule actions (resource: a workflow's
`owner/name`), as POST /v1/rbac/test does. The tester's address is
/ui/access/test?user=EMAIL&action=ACTION&resource=PATH (no `user` field is shown to a
non-manager: they may only ask about themselves).

Who can reach: /ui/access?workflow=ID or /ui/access?unit=PATH (links from other pages can
point there). The groups' table `#reach-groups` (rows `data-group`), the users' `#reach-users`
(rows `data-user` and `data-level`: the strongest share level whose actions the user all
has), deny rules taking actions away `#reach-blocked` (rows `data-user`, `data-action`),
administrators as such `#reach-admins`: what `torc access who` prints, table by table.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from teamgate.domain.actions import RULE_ACTIONS, Action
from teamgate.domain.levels import LEVEL_ACTIONS, LEVELS
from teamgate.errors import Invalid
from teamgate.services import rbac, reach
from teamgate.web.models import MAX_ROW_ID
from teamgate.web.ui.gate import Context, Viewer, console_router, viewer_sections
from teamgate.web.ui.render import page

router = console_router()

# What the tester offers: the actions RBAC rules name (what the RBAC page's rules allow),
# without `*`, which names no one request.
TESTED_ACTIONS: tuple[str, ...] = tuple(a.value for a in RULE_ACTIONS if a is not Action.ANY)


def level_of(kind: str, actions: list[str]) -> str:
    """The strongest share level whose actions (of those asked about) a user has all of:
    a label for the page; `—` when not even `read`'s."""
    asked = set(reach.ACTIONS[kind])
    held = set(actions)
    best = "—"
    for level in LEVELS:
        if (LEVEL_ACTIONS[level][kind] & asked) <= held:
            best = level.value
    return best


def short(action: str) -> str:
    """`workflow.read` → `read`: the table is about one resource, its kind is known."""
    return action.partition(".")[2] or action


def shorts(actions: list[str]) -> str:
    return ", ".join(short(a) for a in actions) or "—"


def blocked_of(found: reach.Reach) -> list[tuple[str, reach.Blocked]]:
    """(user, what a deny rule takes from them), for the blocked table."""
    return [(u.user, b) for u in found.users for b in u.blocked]


async def _forms(request: Request) -> dict[str, Any]:
    shown = await viewer_sections(request)
    return {
        "actions": TESTED_ACTIONS,
        "may_test_others": shown.rbac,
        "short": short,
        "shorts": shorts,
        "level_of": level_of,
        "blocked_of": blocked_of,
    }


async def _render(
    request: Request,
    ctx: Context,
    viewer: Viewer,
    *,
    found: reach.Reach | None = None,
    tested: rbac.TestResult | None = None,
    workflow: int | None = None,
    unit: str | None = None,
    user: str | None = None,
    action: str = "",
    resource: str | None = None,
) -> HTMLResponse:
    """The Access page: its two forms, and the answer to one of them (if asked)."""
    return page(
        request,
        "access.html",
        title="Permission test" if tested is not None else "Access",
        section="Access",
        reach=found,
        workflow=workflow or "",
        unit=unit or "",
        tested=tested,
        user=user or viewer.name or "",
        action=action,
        resource=resource or "",
        **await _forms(request),
    )


@router.get("/access", include_in_schema=False)
async def access_page(
    request: Request,
    ctx: Context,
    viewer: Viewer,
    workflow: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    unit: Annotated[str | None, Query(max_length=1024)] = None,
) -> HTMLResponse:
    """The two forms; with `workflow` or `unit`, who can reach it."""
    found: reach.Reach | None = None
    if workflow is not None:
        found = await run_in_threadpool(reach.who_workflow, ctx, viewer, workflow)
    elif unit:
        found = await run_in_threadpool(reach.who_unit, ctx, viewer, unit)
    return await _render(request, ctx, viewer, found=found, workflow=workflow, unit=unit)


@router.get("/access/test", include_in_schema=False)
async def permission_test(
    request: Request,
    ctx: Context,
    viewer: Viewer,
    action: Annotated[str, Query(max_length=64)] = "",
    user: Annotated[str | None, Query(max_length=255)] = None,
    resource: Annotated[str | None, Query(max_length=1024)] = None,
) -> HTMLResponse:
    """Can `user` (the viewer when absent) do `action` on `resource`? As POST /v1/rbac/test
    answers it. Without an action: the empty form."""
    if not action:
        return await _render(request, ctx, viewer, user=user, resource=resource)
    if action not in TESTED_ACTIONS:
        raise Invalid(f"unknown action '{action}': choose one of {', '.join(TESTED_ACTIONS)}")
    subject = user or viewer.display
    result = await run_in_threadpool(
        lambda: rbac.test(ctx, viewer, user=subject, action=action, resource=resource or None)
    )
    return await _render(
        request, ctx, viewer, tested=result, user=subject, action=action, resource=resource
    )
