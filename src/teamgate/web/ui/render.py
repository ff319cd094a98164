"""Pages from Jinja2 templates (autoescaped: every user string is text, never markup)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from teamgate.domain.identity import Principal
from teamgate.web.ui.gate import is_swap

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


@functools.cache
def templates() -> Jinja2Templates:
    """The console's templates (loaded once, on first use)."""
    folder = resources.files("teamgate.web.ui") / "templates"
    templates = Jinja2Templates(directory=str(folder))
    templates.env.autoescape = True  # every template, whatever its name ends with
    templates.env.filters["when"] = when
    templates.env.filters["duration"] = duration
    return templates


def when(value: str | float | None) -> Markup:
    """A time as `<time>`: UTC text (what a page without script shows), the viewer's own zone
    once console.js has run, and the UTC time on hover. ISO 8601 text or epoch seconds."""
    if value is None or value == "":
        return Markup("—")
    try:
        if isinstance(value, int | float):
            moment = datetime.fromtimestamp(float(value), tz=UTC)
        else:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return Markup("<span>{}</span>").format(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    utc = moment.astimezone(UTC)
    text = utc.strftime("%Y-%m-%d %H:%M:%S UTC")
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        utc.isoformat(timespec="seconds"), text, text
    )


def duration(seconds: float | None) -> str:
    """Seconds as `1.2 s`, `3 min 4 s`, `2 h 5 min`."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def page(
    request: Request,
    template: str,
    *,
    title: str,
    status: int = 200,
    **values: Any,
) -> HTMLResponse:
    """Render a page with what every page needs: the viewer, the CSRF token, the navigation."""
    viewer: Principal | None = getattr(request.state, "principal", None)
    values.setdefault("viewer", viewer)
    values.setdefault("csrf", getattr(request.state, "csrf", ""))
    values.setdefault("nav", getattr(request.state, "nav", None))
    values["title"] = title
    values["partial"] = is_swap(request)
    return templates().TemplateResponse(request, template, values, status_code=status)


def clamp_page(offset: int, limit: int) -> tuple[int, int]:
    """A page's offset and size as the URL asked, within bounds (never an error page)."""
    return max(0, offset), min(max(1, limit), MAX_PAGE_SIZE)
