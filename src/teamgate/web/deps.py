"""Request dependencies: the caller's Principal and the service context."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from teamgate.auth.authenticator import Authenticator
from teamgate.domain.identity import Principal
from teamgate.services.context import ServiceContext


def get_principal(request: Request) -> Principal:
    """Authenticate the request (HTTP Basic or Bearer).

    Raises Unauthenticated (401), or TooManyRequests (429) after repeated failures for the
    user name or from the client's address.
    """
    authenticator: Authenticator = request.app.state.authenticator
    client = request.client.host if request.client is not None else None
    principal = authenticator.authenticate(request.headers.get("authorization"), client=client)
    request.state.principal = principal
    return principal


def get_context(request: Request) -> ServiceContext:
    context: ServiceContext = request.app.state.context
    return context


Caller = Annotated[Principal, Depends(get_principal)]
Context = Annotated[ServiceContext, Depends(get_context)]
