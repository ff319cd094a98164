"""Who is calling: the authenticated principal."""

from __future__ import annotations

from dataclasses import dataclass, field

ANONYMOUS = "anonymous"


@dataclass(frozen=True, slots=True)
class TokenScope:
    """The upper bound a user chose for one of their tokens (`taco token create`): what the
    token may never do, whatever its user may. Each part that is set narrows it further.

    `read_only`: reads only (and revoking itself). `unit_prefix`: units whose path is the
    prefix or lies under it (`dev` holds `dev` and `dev/app`, not `development`), nothing
    else. `workflow`: that one workflow, nothing else.
    """

    read_only: bool = False
    unit_prefix: str | None = None
    workflow: int | None = None

    def describe(self) -> str:
        parts = ["read-only"] if self.read_only else []
        if self.unit_prefix is not None:
            parts.append(f"units under '{self.unit_prefix}'")
        if self.workflow is not None:
            parts.append(f"workflow {self.workflow}")
        return ", ".join(parts) or "unscoped"

    def holds_unit(self, path: str) -> bool:
        """Whether a unit at `path` is within the unit prefix (True when there is none)."""
        prefix = self.unit_prefix
        if prefix is None:
            return True
        return path == prefix or path.startswith(prefix + "/")

    def units_under(self, prefix: str | None) -> tuple[bool, str | None]:
        """What a unit list under `prefix` (None: all) may show with this scope: whether it
        may show any unit, and the prefix to list under instead (the narrower of the two)."""
        if self.unit_prefix is None:
            return self.workflow is None, prefix  # a workflow's token reaches no unit
        if prefix is None or self.holds_unit(prefix):
            return True, prefix or self.unit_prefix
        if self.unit_prefix.startswith(prefix + "/"):  # the list's prefix holds the scope's
            return True, self.unit_prefix
        return False, prefix

    @property
    def bounds_workflows(self) -> bool:
        """Whether this scope narrows which workflows its token reaches."""
        return self.unit_prefix is not None or self.workflow is not None


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller as the server sees it after authentication.

    `name` is None for an anonymous caller. `is_admin` marks a system administrator
    (configured with --admin-user / admin_users).

    `workflow_scope` is set for a runner token's caller: the one workflow the token was
    minted for. It bounds what `decide()` may allow (reading that workflow and running its
    jobs), whatever the user may do otherwise, and whether or not access control is on.
    `scope` bounds a user's own token the same way (see `TokenScope`).
    """

    name: str | None
    is_admin: bool = False
    method: str = "anonymous"  # how the caller proved who they are: password, token, oidc
    token_id: int | None = None
    # A fingerprint of the htpasswd hash the caller's password was checked against (or that
    # their token is bound to): a token issued now is bound to it. Never shown or compared.
    credential: str | None = field(default=None, repr=False, compare=False)
    workflow_scope: int | None = None
    # The scope of the user's own token signed in with (None: a password, or no scope).
    scope: TokenScope | None = None
    # Signed in through the identity provider (OIDC), or with a token minted after such a
    # sign-in: the issuer, and the IdP groups (prefix removed) that make the caller a member
    # of the access groups of those names for this request only.
    idp: str | None = None
    idp_groups: frozenset[str] = frozenset()
    # When the credential stops being accepted (ISO 8601 UTC; None: a password, no end).
    expires_at: str | None = field(default=None, compare=False)

    @property
    def display(self) -> str:
        return self.name if self.name is not None else ANONYMOUS
