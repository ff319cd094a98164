"""`GET /v1/auth/config`: how to sign in to this server, for the CLIs. Public (no credentials:
a CLI asks before it has any), and it holds nothing secret: the issuer, the client id (a public
client) and the scopes to ask for, or `"oidc": null` when OIDC is off."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from teamgate.auth.authenticator import Authenticator

router = APIRouter(tags=["auth"])


@router.get("/v1/auth/config")
@router.get("/torc-service/v1/auth/config")
async def auth_config(request: Request) -> dict[str, Any]:
    """How to sign in: `oidc` (issuer, client_id, scopes) when the server takes ID tokens of
    an identity provider, else null; `password` whether user names and passwords (htpasswd)
    are accepted too."""
    authenticator: Authenticator = request.app.state.authenticator
    oidc = authenticator.oidc
    return {
        "oidc": oidc.config.public() if oidc is not None else None,
        "password": authenticator.auth_file is not None,
    }
