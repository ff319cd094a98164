"""API tokens: only a hash of each secret is stored. A runner token names its one workflow
(`workflow_id`); a user's own token names none, and may carry a scope its user chose
(`read_only`, `unit_prefix`, `scope_workflow_id`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, func, insert, select, update

from teamgate.domain.jobs import STATUSES
from teamgate.storage.db.job_runs import COMPLETE_OR_DISABLED
from teamgate.storage.db.tables import api_token, job

# A job in one of these still has something to do: while one is left, the workflow is not
# complete. Named positively so that the check is a few probes of the (workflow, status) index.
_OPEN = tuple(status for status in STATUSES if status not in COMPLETE_OR_DISABLED)


@dataclass(frozen=True, slots=True)
class TokenRow:
    id: int
    lookup: str
    secret_hash: str
    user_name: str
    description: str | None
    created_at: str
    expires_at: str
    revoked_at: str | None
    password_fingerprint: str | None
    workflow_id: int | None = None  # a runner token's workflow
    name: str | None = None
    last_used_at: str | None = None
    read_only: bool = False
    unit_prefix: str | None = None
    scope_workflow_id: int | None = None
    idp_groups: str | None = None  # JSON list: minted after an OIDC sign-in (migration 0013)
    idle_secs: int | None = None  # a web console session (migration 0014)


@dataclass(frozen=True, slots=True)
class TokenPage:
    items: list[TokenRow]
    total: int


def insert_token(
    conn: Connection,
    *,
    lookup: str,
    secret_hash: str,
    user: str,
    description: str | None,
    created_at: str,
    expires_at: str,
    password_fingerprint: str,
    workflow_id: int | None = None,
    name: str | None = None,
    read_only: bool = False,
    unit_prefix: str | None = None,
    scope_workflow_id: int | None = None,
    idp_groups: str | None = None,
    idle_secs: int | None = None,
) -> int:
    return int(
        conn.execute(
            insert(api_token)
            .values(
                lookup=lookup,
                secret_hash=secret_hash,
                user_name=user,
                description=description,
                created_at=created_at,
                expires_at=expires_at,
                password_fingerprint=password_fingerprint,
                workflow_id=workflow_id,
                name=name,
                read_only=read_only,
                unit_prefix=unit_prefix,
                scope_workflow_id=scope_workflow_id,
                idp_groups=idp_groups,
                idle_secs=idle_secs,
            )
            .returning(api_token.c.id)
        ).scalar_one()
    )


def find_token(conn: Connection, lookup: str) -> TokenRow | None:
    row = conn.execute(select(api_token).where(api_token.c.lookup == lookup)).first()
    return TokenRow(**row._mapping) if row else None


def get_token(conn: Connection, token_id: int) -> TokenRow | None:
    """The token with id `token_id`, or None."""
    row = conn.execute(select(api_token).where(api_token.c.id == token_id)).first()
    return TokenRow(**row._mapping) if row else None


def list_tokens(conn: Connection, user: str | None, *, offset: int, limit: int) -> TokenPage:
    """One page of the tokens of `user` (None: everyone's), newest first, runner tokens
    included (they are the user's too)."""
    query = select(api_token)
    count = select(func.count()).select_from(api_token)
    if user is not None:
        query = query.where(api_token.c.user_name == user)
        count = count.where(api_token.c.user_name == user)
    rows = conn.execute(query.order_by(api_token.c.id.desc()).offset(offset).limit(limit)).all()
    total = int(conn.execute(count).scalar_one())
    return TokenPage([TokenRow(**r._mapping) for r in rows], total)


def touch_token(conn: Connection, token_id: int, *, at: str) -> None:
    """Record that the token was used at `at`."""
    conn.execute(update(api_token).where(api_token.c.id == token_id).values(last_used_at=at))


def revoke_token(conn: Connection, token_id: int, *, at: str) -> bool:
    result = conn.execute(
        update(api_token)
        .where(api_token.c.id == token_id, api_token.c.revoked_at.is_(None))
        .values(revoked_at=at)
    )
    return result.rowcount == 1


def revoke_user_tokens(conn: Connection, user: str, *, at: str) -> int:
    """Revoke every token of `user` not revoked yet; how many were."""
    result = conn.execute(
        update(api_token)
        .where(api_token.c.user_name == user, api_token.c.revoked_at.is_(None))
        .values(revoked_at=at)
    )
    return int(result.rowcount)


def expires_at(conn: Connection, token_id: int) -> str | None:
    """When token `token_id` expires; None when there is no such token."""
    found = conn.execute(select(api_token.c.expires_at).where(api_token.c.id == token_id))
    value = found.scalar_one_or_none()
    return None if value is None else str(value)


def revoke_workflow_tokens(conn: Connection, workflow_id: int, *, at: str) -> int:
    """Revoke every runner token of the workflow not revoked yet; how many were."""
    result = conn.execute(
        update(api_token)
        .where(api_token.c.workflow_id == workflow_id, api_token.c.revoked_at.is_(None))
        .values(revoked_at=at)
    )
    return int(result.rowcount)


def revoke_if_complete(conn: Connection, workflow_id: int, *, at: str) -> int:
    """Revoke the workflow's live runner tokens if none of its jobs is left to finish; how
    many were. One statement; the job check does not depend on the token rows, so it is
    made at most once."""
    open_job = (
        select(job.c.id).where(job.c.workflow_id == workflow_id, job.c.status.in_(_OPEN)).exists()
    )
    result = conn.execute(
        update(api_token)
        .where(
            api_token.c.workflow_id == workflow_id,
            api_token.c.revoked_at.is_(None),
            ~open_job,
        )
        .values(revoked_at=at)
    )
    return int(result.rowcount)
