"""API tokens under /v1/auth (taco) and /torc-service/v1/tokens (torc): issue one, optionally
scoped; list them (never a secret); revoke one by id, the one in use, or all of one user's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Body, Path, Query, status
from pydantic import Field

from teamgate.auth.tokens import DEFAULT_TTL_DAYS, MAX_TTL_DAYS, lookup_of, parse_ttl
from teamgate.domain.identity import TokenScope
from teamgate.domain.units import MAX_PATH_BYTES
from teamgate.errors import Invalid
from teamgate.services import tokens
from teamgate.services.context import MAX_LIMIT
from teamgate.storage.db.tokens import TokenRow
from teamgate.web.deps import Caller, Context, api_router
from teamgate.web.models import MAX_ROW_ID, StrictIn

router = api_router(tags=["tokens"])

TORC = "/torc-service/v1"
TokenId = Annotated[int, Path(ge=0, le=MAX_ROW_ID)]


class TokenIn(StrictIn):
    description: str | None = Field(default=None, max_length=1024)
    name: str | None = Field(default=None, max_length=255, description="shown by token list")
    ttl_days: int = Field(default=DEFAULT_TTL_DAYS, ge=1, le=MAX_TTL_DAYS)
    ttl: str | None = Field(
        default=None,
        max_length=16,
        description=f"lifetime such as 12h, 30d, 2w, 1y (at most {MAX_TTL_DAYS}d); "
        "instead of ttl_days",
    )
    read_only: bool = Field(default=False, description="the token may only read")
    unit_prefix: str | None = Field(
        default=None,
        max_length=MAX_PATH_BYTES,
        description="the token reaches only units at or under this path, nothing else",
    )
    workflow_id: int | None = Field(
        default=None, ge=0, le=MAX_ROW_ID, description="the token reaches only this workflow"
    )

    def lifetime(self) -> timedelta:
        if self.ttl is None:
            return timedelta(days=self.ttl_days)
        if "ttl_days" in self.model_fields_set:
            raise Invalid("Give ttl or ttl_days, not both")
        return parse_ttl(self.ttl)

    def scope(self) -> TokenScope | None:
        if not self.read_only and self.unit_prefix is None and self.workflow_id is None:
            return None
        prefix = None if self.unit_prefix is None else tokens.unit_prefix(self.unit_prefix)
        return TokenScope(self.read_only, prefix, self.workflow_id)


@router.post("/v1/auth/token", status_code=status.HTTP_201_CREATED)
@router.post(f"{TORC}/tokens", status_code=status.HTTP_201_CREATED)
def issue_token(
    ctx: Context, caller: Caller, body: Annotated[TokenIn | None, Body()] = None
) -> dict[str, Any]:
    """Issue an API token for the caller (who signs in with user name and password). The
    secret is in this answer only: the server keeps a hash of it."""
    body = body or TokenIn()
    scope = body.scope()
    issued = tokens.issue_token(
        ctx,
        caller,
        description=body.description,
        ttl=body.lifetime(),
        name=tokens.token_name(body.name),
        scope=scope,
    )
    return {
        "token": issued.token,
        "id": issued.id,
        "user": issued.user,
        "name": issued.name,
        "expires_at": issued.expires_at,
        "scope": scope.describe() if scope else "unscoped",
    }


@router.get("/v1/auth/tokens")
@router.get(f"{TORC}/tokens")
def list_tokens(
    ctx: Context,
    caller: Caller,
    user: Annotated[
        str | None, Query(min_length=1, max_length=255, description="whose (administrators)")
    ] = None,
    all: Annotated[bool, Query(description="everyone's (administrators)")] = False,
    offset: Annotated[int, Query(ge=0, le=MAX_ROW_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> dict[str, Any]:
    """One page of API tokens, newest first: the caller's, or (a system administrator)
    one user's or everyone's. Runner tokens are listed too; secrets never are."""
    page = tokens.list_tokens(ctx, caller, user=user, everyone=all, offset=offset, limit=limit)
    now = datetime.now(UTC)
    items = [token_out(row, now) for row in page.items]
    return {
        "items": items,
        "offset": offset,
        "limit": limit,
        "total_count": page.total,
        "has_more": offset + len(items) < page.total,
    }


@router.delete("/v1/auth/tokens/{token_id}")
@router.delete(f"{TORC}/tokens/{{token_id}}")
def revoke_token_id(token_id: TokenId, ctx: Context, caller: Caller) -> dict[str, Any]:
    """Revoke one token: the caller's own, or anyone's for a system administrator."""
    found = tokens.revoke_token_id(ctx, caller, token_id)
    again = found.revoked_at is not None
    message = f"Token {token_id} {'was already revoked' if again else 'revoked'}"
    return {"message": message, "id": token_id, "user": found.user_name, "changed": not again}


@router.delete("/v1/auth/token")
def revoke_token(ctx: Context, caller: Caller) -> dict[str, str]:
    """Revoke the token this request was made with."""
    tokens.revoke_token(ctx, caller)
    return {"message": "Token revoked"}


@router.delete("/v1/auth/tokens")
def revoke_user_tokens(
    ctx: Context,
    caller: Caller,
    user: Annotated[str, Query(min_length=1, max_length=255, description="whose tokens")],
) -> dict[str, Any]:
    """Revoke every token of one user (a system administrator, or that user)."""
    count = tokens.revoke_user_tokens(ctx, caller, user)
    noun = "token" if count == 1 else "tokens"
    return {"message": f"Revoked {count} {noun} of user '{user}'", "user": user, "revoked": count}


def token_out(row: TokenRow, now: datetime) -> dict[str, Any]:
    """A token as listed: what identifies it (`tg_<lookup>`), never its secret or hash."""
    expired = datetime.fromisoformat(row.expires_at) <= now
    state = "revoked" if row.revoked_at is not None else "expired" if expired else "active"
    if row.workflow_id is not None:
        scope = f"runner of workflow {row.workflow_id}"
    else:
        found = TokenScope(bool(row.read_only), row.unit_prefix, row.scope_workflow_id)
        scope = found.describe()
    return {
        "id": row.id,
        "user": row.user_name,
        "name": row.name,
        "description": row.description,
        "lookup": lookup_of(row),
        "created_at": row.created_at,
        "last_used_at": row.last_used_at,
        "expires_at": row.expires_at,
        "revoked_at": row.revoked_at,
        "state": state,
        "scope": scope,
        "read_only": bool(row.read_only),
        "unit_prefix": row.unit_prefix,
        "workflow_id": row.scope_workflow_id,
        "runner_workflow_id": row.workflow_id,
    }
