"""The web console under /ui/: server-rendered pages over the same services as the API.

`install(app)` mounts it (unless --no-ui): a FastAPI sub-application with its own error pages
(HTML, not JSON), its security headers (gate.PageHeaders) and static files shipped as package
data (htmx, one stylesheet, one script). Every route is a `gate.ConsoleRoute` (origin and CSRF
checked before any state-changing endpoint runs) and asks for the viewer (`gate.Viewer`).
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from teamgate.web.ui import (
    access,
    audit_log,
    errors,
    gate,
    rbac,
    sign_in,
    sso,
    teams,
    units,
    workflow_shares,
    workflows,
)

SECTIONS = (workflows, workflow_shares, units, teams, access, rbac, audit_log)


def create_console(app: FastAPI) -> FastAPI:
    """The console application, sharing `app`'s database, services and authenticator."""
    console = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    for name in ("settings", "database", "authenticator", "context", "refusals", "metrics"):
        setattr(console.state, name, getattr(app.state, name, None))
    errors.install(console)
    static = resources.files("teamgate.web.ui") / "static"
    console.mount("/static", StaticFiles(directory=str(static)), name="static")
    console.include_router(sign_in.router)
    console.include_router(sso.router)
    for section in SECTIONS:
        console.include_router(section.router)

    @console.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/ui/workflows", status_code=303)

    console.add_middleware(gate.PageHeaders)
    return console


def install(app: FastAPI) -> None:
    """Serve the console under /ui/."""

    app.mount("/ui", create_console(app), name="ui")
