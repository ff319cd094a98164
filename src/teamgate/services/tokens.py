"""API tokens as use cases: a caller issues tokens for themselves and revokes the one in use;
a system administrator revokes all of one user's tokens.

Each token row is written in the same transaction as its audit record, so there is never a
token without its `token.create` record, nor a revocation without its `token.revoke`.
"""

from __future__ import annotations

from teamgate.auth import tokens
from teamgate.auth.tokens import IssuedToken
from teamgate.domain.actions import Action
from teamgate.domain.identity import Principal
from teamgate.domain.policy import Decision, decide, user_resource
from teamgate.errors import Invalid, Unauthenticated
from teamgate.services import audit
from teamgate.services.context import ServiceContext, require

# A token is always the caller's own: no grant is needed, and the record says so.
OWN_TOKEN = Decision(True, "own token")
BEARER_HINT = "as 'Authorization: Bearer <token>'"


def issue_token(
    ctx: ServiceContext, principal: Principal, *, description: str | None, ttl_days: int
) -> IssuedToken:
    """A new token for the caller, who must have signed in with a password (not a token)."""
    if principal.name is None:
        raise Unauthenticated("Sign in with a user name and password to get a token")
    decision = require(decide(principal, Action.TOKEN_CREATE, enforce=ctx.enforce))
    if principal.credential is None:  # for mypy: the decision refused a caller without one
        raise Unauthenticated("Sign in with a user name and password to get a token")
    with ctx.db.write() as conn:
        issued = tokens.issue(
            conn,
            principal.name,
            fingerprint=principal.credential,
            description=description,
            ttl_days=ttl_days,
        )
        detail = f"expires {issued.expires_at}"
        audit.record(conn, principal, "token.create", f"token/{issued.id}", decision, detail)
    return issued


def revoke_token(ctx: ServiceContext, principal: Principal) -> None:
    """Revoke the token the caller signed in with (revoking it twice changes nothing)."""
    if principal.token_id is None:
        if principal.name is None:  # like any request that needs a signed-in caller
            raise Unauthenticated(f"Sign in with the token to revoke, sent {BEARER_HINT}")
        raise Invalid(f"Send the token to revoke {BEARER_HINT}")
    with ctx.db.write() as conn:
        if tokens.revoke(conn, principal.token_id):
            resource = f"token/{principal.token_id}"
            audit.record(conn, principal, "token.revoke", resource, OWN_TOKEN)


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
