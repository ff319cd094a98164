"""A console form's change: made, then answered by a redirect back (POST, then GET); or, when
the service rejects what was typed, the form's own page again, saying why, with the rejection's
status (400, 404, 409) and the typed values kept. A refusal (Forbidden) is not caught here: it
stays the 403 page, audited as the API audits it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fastapi.responses import Response

from teamgate.errors import Conflict, Invalid, NotFound
from teamgate.web.errors import status_for

T = TypeVar("T")


def attempt(
    change: Callable[[], T],
    *,
    then: Callable[[T], Response],
    again: Callable[[str, int], Response],
) -> Response:
    """Make `change` and answer `then(what it returned)`; if the service rejects the input,
    answer `again(why, status)` (the page showing the form, with the message)."""
    try:
        made = change()
    except (Invalid, NotFound, Conflict) as exc:
        return again(exc.message, status_for(exc))
    return then(made)
