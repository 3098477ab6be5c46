"""Request dependencies that check bearer tokens and roles."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from andon.auth import OPEN_ACCESS, Principal, TokenBook

bearer = HTTPBearer(auto_error=False, description="A token from `andon token create` or the config.")


def get_tokens(request: Request) -> TokenBook:
    """Return the token book of the process."""
    tokens: TokenBook = request.app.state.services.tokens
    return tokens


def _principal(tokens: TokenBook, credentials: HTTPAuthorizationCredentials | None) -> Principal | None:
    if not tokens.enabled:
        return OPEN_ACCESS
    if credentials is None:
        return None
    principal = tokens.lookup(credentials.credentials)
    if principal is None:
        raise HTTPException(401, "unknown token", headers={"WWW-Authenticate": "Bearer"})
    return principal


def require(role: str) -> Callable[..., Principal]:
    """Return a dependency that admits a token with ``role`` or above (anyone when auth is off)."""

    def dependency(
        tokens: Annotated[TokenBook, Depends(get_tokens)],
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
        principal = _principal(tokens, credentials)
        if principal is None:
            raise HTTPException(401, "this needs a bearer token", headers={"WWW-Authenticate": "Bearer"})
        if not principal.may(role):
            raise HTTPException(403, f"token {principal.name!r} is {principal.role}; this needs {role}")
        return principal

    return dependency


def read_access(
    tokens: Annotated[TokenBook, Depends(get_tokens)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal | None:
    """Admit reads: anyone when public, else any valid token."""
    if tokens.public_read and credentials is None:
        return None
    principal = _principal(tokens, credentials)
    if principal is None:
        raise HTTPException(401, "reads need a bearer token here (auth.public_read is false)",
                            headers={"WWW-Authenticate": "Bearer"})
    return principal


Operator = Annotated[Principal, Depends(require("operator"))]
Supervisor = Annotated[Principal, Depends(require("supervisor"))]
Engineer = Annotated[Principal, Depends(require("engineer"))]
Reader = Annotated[Principal | None, Depends(read_access)]
