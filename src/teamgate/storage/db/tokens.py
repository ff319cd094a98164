"""API tokens: only a hash of each secret is stored."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update

from teamgate.storage.db.tables import api_token


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
            )
            .returning(api_token.c.id)
        ).scalar_one()
    )


def find_token(conn: Connection, lookup: str) -> TokenRow | None:
    row = conn.execute(select(api_token).where(api_token.c.lookup == lookup)).first()
    return TokenRow(**row._mapping) if row else None


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
