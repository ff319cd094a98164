"""Request dependencies: the caller's Principal and the service context."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from teamgate.auth.authenticator import Authenticator
from teamgate.domain.identity import Principal
from teamgate.services.context import ServiceContext


def get_principal(request: Request) -> Principal:
    """Authenticate the request (HTTP Basic); raises Unauthenticated → 401."""
    authenticator: Authenticator = request.app.state.authenticator
    principal = authenticator.authenticate(request.headers.get("authorization"))
    request.state.principal = principal
    return principal


def get_context(request: Request) -> ServiceContext:
    context: ServiceContext = request.app.state.context
    return context


Caller = Annotated[Principal, Depends(get_principal)]
Context = Annotated[ServiceContext, Depends(get_context)]
