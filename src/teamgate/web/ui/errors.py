"""The console's error pages: the same exceptions as the API, answered as HTML.

No session: the sign-in form (a redirect to it for a page; `HX-Redirect` for an htmx
request). Refusals are recorded in the audit log exactly as the API records them.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from teamgate import errors
from teamgate.web.errors import record_refusal, status_for
from teamgate.web.ui.gate import SignInNeeded, clear_session_cookie
from teamgate.web.ui.render import page

log = logging.getLogger("teamgate.console")

TITLES = {
    400: "Not understood",
    401: "Sign in",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    413: "Too large",
    429: "Too many attempts",
    503: "Unavailable",
}


def sign_in_url(request: Request) -> str:
    """The sign-in page, coming back to this page (a GET) afterwards."""
    back = request.url.path
    if request.method != "GET" or request.headers.get("hx-request"):
        back = request.headers.get("hx-current-url", "") or "/ui/"
        back = back.split("://", 1)[-1]
        back = "/" + back.split("/", 1)[1] if "/" in back else "/ui/"
    return "/ui/sign-in?next=" + quote(back, safe="/")


# Where "Back" leads from an error, by the address's first part under /ui/.
SECTION_HOMES = {
    "workflows": ("/ui/workflows", "Back to workflows"),
    "units": ("/ui/units", "Back to units"),
    "state": ("/ui/units", "Back to units"),
    "locks": ("/ui/units", "Back to units"),
    "shares": ("/ui/units", "Back to units"),
    "unshare": ("/ui/units", "Back to units"),
    "teams": ("/ui/teams", "Back to teams"),
    "access": ("/ui/access", "Back to access"),
    "rbac": ("/ui/rbac", "Back to RBAC"),
    "audit": ("/ui/audit", "Back to the audit log"),
}


def back_link(request: Request) -> tuple[str, str]:
    """Where the error page's "Back" link leads: for a refused form, the console page it was
    sent from (the Referer, when it is this console's own address); else the section's list."""
    if request.method != "GET":
        origin = f"{request.url.scheme}://{request.url.netloc}"
        referer = request.headers.get("referer", "")
        if referer.startswith(origin + "/ui/"):
            return referer[len(origin) :], "Back to the page you came from"
    first = request.url.path.removeprefix("/ui/").split("/", 1)[0]
    home = SECTION_HOMES.get(first, SECTION_HOMES["workflows"])
    shown = {href for href, _label in getattr(request.state, "nav", None) or ()}
    return home if home[0] in shown else SECTION_HOMES["workflows"]  # not a refused section


def _error_page(request: Request, status: int, message: str) -> Response:
    title = TITLES.get(status, "Error")
    back = back_link(request)
    return page(
        request, "error.html", title=title, status=status, code=status, message=message, back=back
    )


def _sign_in(request: Request) -> Response:
    target = sign_in_url(request)
    response: Response
    if request.headers.get("hx-request"):
        response = Response(status_code=401, headers={"HX-Redirect": target})
    else:
        response = RedirectResponse(target, status_code=303)
    clear_session_cookie(request, response)
    return response


def install(console: FastAPI) -> None:
    @console.exception_handler(errors.TeamgateError)
    async def _teamgate(request: Request, exc: errors.TeamgateError) -> Response:
        if isinstance(exc, SignInNeeded):
            return _sign_in(request)
        status = status_for(exc)
        if status in (401, 403):
            await record_refusal(request, exc, status)
        response = _error_page(request, status, exc.message)
        if isinstance(exc, errors.TooManyRequests):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @console.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        wrong = ", ".join(str(e.get("loc", ["?"])[-1]) for e in exc.errors())
        return _error_page(
            request, 400, f"Some values in the address or form are not valid: {wrong}"
        )

    @console.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        message = "There is no such page" if exc.status_code == 404 else str(exc.detail)
        return _error_page(request, exc.status_code, message)

    @console.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> Response:
        log.warning("Database unavailable for %s: %s", request.url.path, exc)
        return _error_page(request, 503, "The database is not answering: try again shortly")

    @console.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> HTMLResponse:
        log.exception("Unexpected error in the console on %s", request.url.path)
        response = page(
            request,
            "error.html",
            title="Something went wrong",
            status=500,
            message="The server failed to answer this page; the error is in its log.",
        )
        return response
