"""The users the server knows: re-reading the htpasswd file (system administrators only)."""

from __future__ import annotations

from collections.abc import Callable

from teamgate.domain.actions import Action
from teamgate.domain.identity import Principal
from teamgate.domain.policy import decide
from teamgate.services.context import ServiceContext, require


def reload_users(ctx: ServiceContext, principal: Principal, reload: Callable[[], int]) -> int:
    """Require `auth.reload`, then `reload()` the users; how many there are now."""
    require(decide(principal, Action.AUTH_RELOAD, enforce=ctx.enforce))
    return reload()
