"""API tokens as use cases: a caller issues tokens for themselves (optionally scoped), lists
theirs and revokes one, or the one in use; a system administrator lists and revokes anyone's,
or all of one user's. Whoever may run a workflow mints runner tokens scoped to it, and revokes
them.

Each token row is written in the same transaction as its audit record, so there is never a
token without its `token.create` record, nor a revocation without its `token.revoke`.
"""

from __future__ import annotations

from datetime import timedelta

from teamgate.auth import tokens
from teamgate.auth.tokens import IssuedToken
from teamgate.domain.actions import Action
from teamgate.domain.identity import Principal, TokenScope
from teamgate.domain.policy import Decision, Resource, decide, scope_message, user_resource
from teamgate.domain.text import has_control
from teamgate.domain.units import normalize_path
from teamgate.errors import Forbidden, Invalid, NotFound, Unauthenticated
from teamgate.services import audit
from teamgate.services.context import ServiceContext, check_page, require
from teamgate.services.workflows import explain_workflow
from teamgate.storage.db import tokens as token_store
from teamgate.storage.db import workflows as workflow_store
from teamgate.storage.db.tokens import TokenPage, TokenRow

# A token is always the caller's own: no grant is needed, and the record says so.
OWN_TOKEN = Decision(True, "own token")
BEARER_HINT = "as 'Authorization: Bearer <token>'"
MAX_NAME = 255
# Everyone's tokens (`--all`): no user owns this, so only a system administrator may list it.
EVERYONE = Resource(kind="user", id="*", name="*")


def idp_groups_of(principal: Principal) -> frozenset[str] | None:
    """What a token minted by the caller keeps of their IdP groups: None for a caller who
    signed in with a password (or a token bound to one)."""
    return principal.idp_groups if principal.idp is not None else None


def unit_prefix(raw: str) -> str:
    """A token's unit prefix as unit paths are stored (surrounding spaces and slashes gone,
    NFC, `//` collapsed), so that `holds_unit` compares like with like; refuses an empty,
    overlong or unprintable one."""
    if "\0" in raw or has_control(raw):
        raise Invalid("unit prefix must not contain control characters")
    if not raw.strip().strip("/"):
        raise Invalid("unit prefix must not be empty (e.g. 'dev' for 'dev' and 'dev/...')")
    try:
        return normalize_path(raw.strip())
    except Invalid as exc:
        raise Invalid(f"unit prefix: {exc}") from None


def token_name(raw: str | None) -> str | None:
    if raw is None:
        return None
    name = raw.strip()
    if not name or len(name) > MAX_NAME or has_control(name):
        raise Invalid(f"token name must be 1 to {MAX_NAME} printable characters")
    return name


def _may_mint(ctx: ServiceContext, principal: Principal) -> tuple[str, str, Decision]:
    """The caller's name and credential, and the decision that lets them mint a token (an API
    token or a console session): signed in with a password or through the identity provider,
    not with a token."""
    if principal.name is None:
        raise Unauthenticated("Sign in with a user name and password to get a token")
    decision = require(decide(principal, Action.TOKEN_CREATE, enforce=ctx.enforce))
    if principal.credential is None:  # for mypy: the decision refused a caller without one
        raise Unauthenticated("Sign in with a user name and password to get a token")
    return principal.name, principal.credential, decision


def issue_token(
    ctx: ServiceContext,
    principal: Principal,
    *,
    description: str | None,
    ttl: timedelta,
    name: str | None = None,
    scope: TokenScope | None = None,
) -> IssuedToken:
    """A new token for the caller, who must have signed in with a password or through the
    identity provider (not with a token).

    `scope` bounds what the token may do (see TokenScope); its unit prefix must be as
    `unit_prefix` returns it, and its workflow one the caller may read now. After an OIDC
    sign-in the token keeps the caller's IdP groups and lives at most 7 days.
    """
    user, credential, decision = _may_mint(ctx, principal)
    with ctx.db.write() as conn:
        if scope is not None and scope.workflow is not None:
            found = workflow_store.get_workflow(conn, scope.workflow)
            require(explain_workflow(ctx, principal, conn, found, Action.WORKFLOW_READ))
        issued = tokens.issue(
            conn,
            user,
            fingerprint=credential,
            description=description,
            ttl=ttl,
            name=name,
            scope=scope,
            idp_groups=idp_groups_of(principal),
        )
        detail = f"expires {issued.expires_at}"
        if scope is not None:
            detail += f", scope: {scope.describe()}"
        audit.record(conn, principal, "token.create", f"token/{issued.id}", decision, detail)
    return issued


SESSION_NAME = "console session"


def start_session(
    ctx: ServiceContext, principal: Principal, *, lifetime: timedelta, idle_secs: int
) -> IssuedToken:
    """A web console session for a caller who just signed in (password or identity provider):
    a token named SESSION_NAME that ends after `lifetime` (the absolute timeout), after
    `idle_secs` unused, or at sign-out. Recorded as `session.start`."""
    user, credential, decision = _may_mint(ctx, principal)
    with ctx.db.write() as conn:
        issued = tokens.issue(
            conn,
            user,
            fingerprint=credential,
            description="web console",
            ttl=lifetime,
            name=SESSION_NAME,
            idp_groups=idp_groups_of(principal),
            idle_secs=idle_secs,
        )
        detail = f"by {principal.method}, expires {issued.expires_at}"
        audit.record(conn, principal, "session.start", f"token/{issued.id}", decision, detail)
    return issued


def end_session(ctx: ServiceContext, principal: Principal) -> None:
    """Sign out of the web console: revoke the session's token (recorded as `session.end`)."""
    if principal.token_id is not None:
        _end_own(ctx, principal, principal.token_id, "session.end")


def _end_own(ctx: ServiceContext, principal: Principal, token_id: int, action: str) -> None:
    """Revoke the token the caller signed in with, recorded as `action` (once: revoking it
    again changes nothing and records nothing)."""
    with ctx.db.write() as conn:
        if tokens.revoke(conn, token_id):
            audit.record(conn, principal, action, f"token/{token_id}", OWN_TOKEN)


def list_tokens(
    ctx: ServiceContext,
    principal: Principal,
    *,
    user: str | None = None,
    everyone: bool = False,
    offset: int = 0,
    limit: int = 100,
) -> TokenPage:
    """One page of the tokens of `user` (the caller when None), or of `everyone`: a user
    lists their own, a system administrator anyone's. Newest first; never a secret."""
    check_page(offset, limit)
    if everyone and user is not None:
        raise Invalid("Ask for one user's tokens or for everyone's, not both")
    if not everyone and user is None:
        if principal.name is None:
            raise Unauthenticated("Sign in to list your tokens")
        user = principal.name
    resource = EVERYONE if everyone else user_resource(user or "")
    require(decide(principal, Action.TOKEN_LIST, resource, enforce=ctx.enforce))
    with ctx.db.read() as conn:
        return token_store.list_tokens(conn, user, offset=offset, limit=limit)


def revoke_token_id(ctx: ServiceContext, principal: Principal, token_id: int) -> TokenRow:
    """Revoke one token by id: the caller's own, or anyone's for a system administrator.

    Returns the token as it was before; revoking it again changes nothing and records
    nothing. Recorded as `token.revoke` on `token/<id>`.
    """
    with ctx.db.write() as conn:
        found = token_store.get_token(conn, token_id)
        if found is None:
            raise NotFound(f"No token {token_id}: 'taco token list' shows yours")
        resource = user_resource(found.user_name)
        decision = require(decide(principal, Action.TOKEN_REVOKE, resource, enforce=ctx.enforce))
        if tokens.revoke(conn, token_id):
            detail = f"token of user '{found.user_name}'"
            audit.record(conn, principal, "token.revoke", f"token/{token_id}", decision, detail)
    return found


def revoke_token(ctx: ServiceContext, principal: Principal) -> None:
    """Revoke the token the caller signed in with (revoking it twice changes nothing)."""
    if principal.token_id is None:
        if principal.name is None:  # like any request that needs a signed-in caller
            raise Unauthenticated(f"Sign in with the token to revoke, sent {BEARER_HINT}")
        raise Invalid(f"Send the token to revoke {BEARER_HINT}")
    _end_own(ctx, principal, principal.token_id, "token.revoke")


def revoke_user_tokens(ctx: ServiceContext, principal: Principal, user: str) -> int:
    """Revoke every live token of `user` (a system administrator, or that user); how many
    there were.

    Recorded as `token.revoke` on `user/<name>` with the count, even when it is 0: the
    caller acted, and the record says on whom.
    """
    if not user:
        raise Invalid("Name the user whose tokens to revoke")
    resource = user_resource(user)
    decision = require(decide(principal, Action.TOKEN_REVOKE, resource, enforce=ctx.enforce))
    with ctx.db.write() as conn:
        count = tokens.revoke_all(conn, user)
        detail = f"{count} token{'' if count == 1 else 's'} revoked"
        audit.record(conn, principal, "token.revoke", f"user/{user}", decision, detail)
    return count


# Running a workflow (claiming, starting, completing its jobs) is decided as workflow.write:
# minting a runner token for it, or revoking its runner tokens, needs the same.
RUN = Action.WORKFLOW_WRITE


def _runner_minter(principal: Principal) -> str:
    """The caller's credential binding, for a caller who may mint runner tokens: signed in
    with a password or their own (unscoped) token; refuses anyone else."""
    if principal.workflow_scope is not None:
        raise Forbidden(scope_message(principal.workflow_scope), reason="runner token")
    if principal.name is None or principal.credential is None:
        raise Unauthenticated(
            "Sign in with a user name and password (or your own token) to get a runner token; "
            "a server without an htpasswd file needs none"
        )
    return principal.credential


def issue_runner_token(
    ctx: ServiceContext,
    principal: Principal,
    workflow_id: int,
    *,
    ttl_hours: float,
    description: str | None,
) -> IssuedToken:
    """A new token of the caller's scoped to `workflow_id`, for its runners.

    Needs the right to run the workflow. Bound to the caller's password like their own
    tokens, and never outlives the token the caller signed in with, if any. Recorded as
    `token.create` on `workflow/<id>` (never the token itself).
    """
    fingerprint = _runner_minter(principal)
    assert principal.name is not None  # _runner_minter refused anonymous callers
    with ctx.db.write() as conn:
        found = workflow_store.get_workflow(conn, workflow_id)
        decision = require(explain_workflow(ctx, principal, conn, found, RUN))
        not_after = None
        if principal.token_id is not None:
            not_after = tokens.expiry_of(conn, principal.token_id)
        issued = tokens.issue_runner(
            conn,
            principal.name,
            found.id,
            fingerprint=fingerprint,
            description=description,
            ttl_hours=ttl_hours,
            not_after=not_after,
            idp_groups=idp_groups_of(principal),
        )
        detail = f"runner token {issued.id}, expires {issued.expires_at}"
        audit.record(conn, principal, "token.create", f"workflow/{found.id}", decision, detail)
    return issued


def revoke_runner_tokens(ctx: ServiceContext, principal: Principal, workflow_id: int) -> int:
    """Revoke every live runner token of the workflow (needs the right to run it); how many
    there were. Recorded as `token.revoke` on `workflow/<id>` with the count."""
    _runner_minter(principal)
    with ctx.db.write() as conn:
        found = workflow_store.get_workflow(conn, workflow_id)
        decision = require(explain_workflow(ctx, principal, conn, found, RUN))
        count = tokens.revoke_workflow(conn, workflow_id)
        detail = f"{count} runner token{'' if count == 1 else 's'} revoked"
        resource = f"workflow/{workflow_id}"
        audit.record(conn, principal, "token.revoke", resource, decision, detail)
    return count
