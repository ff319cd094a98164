"""Who is calling: the authenticated principal."""

from __future__ import annotations

from dataclasses import dataclass, field

ANONYMOUS = "anonymous"


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller as the server sees it after authentication.

    `name` is None for an anonymous caller. `is_admin` marks a system administrator
    (configured with --admin-user / admin_users).

    `workflow_scope` is set for a runner token's caller: the one workflow the token was
    minted for. It bounds what `decide()` may allow (reading that workflow and running its
    jobs), whatever the user may do otherwise, and whether or not access control is on.
    """

    name: str | None
    is_admin: bool = False
    method: str = "anonymous"  # how the caller proved who they are: password, token
    token_id: int | None = None
    # A fingerprint of the htpasswd hash the caller's password was checked against (or that
    # their token is bound to): a token issued now is bound to it. Never shown or compared.
    credential: str | None = field(default=None, repr=False, compare=False)
    workflow_scope: int | None = None

    @property
    def display(self) -> str:
        return self.name if self.name is not None else ANONYMOUS
