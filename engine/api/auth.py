"""Who is calling: an API key as a Bearer token, or as the user name of Basic auth."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Collection

from fastapi.security import HTTPBasic, HTTPBearer
from starlette.requests import Request

from engine.api.errors import ApiError
from engine.api.keys import ApiKey, KeyStore

CALL_ROLES = frozenset({"Manager", "SystemAdministrator"})
"""Roles that may place, read and end calls."""

CHALLENGE = 'Bearer realm="voice-engine", Basic realm="voice-engine"'


class _DocumentedBearer(HTTPBearer):
    """Declares the scheme in the OpenAPI document; `key_from_header` does the parsing."""

    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        return None


class _DocumentedBasic(HTTPBasic):
    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        return None


bearer_scheme = _DocumentedBearer(
    scheme_name="bearer", auto_error=False, description="Authorization: Bearer KEY"
)
basic_scheme = _DocumentedBasic(
    scheme_name="basic",
    auto_error=False,
    description="the key as the user name; the password is ignored",
)


def key_from_header(authorization: str) -> str | None:
    scheme, _, credentials = authorization.strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer":
        return credentials or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, _, _password = decoded.partition(":")
        return user or None
    return None


def require_roles(
    keys: KeyStore, roles: Collection[str] = CALL_ROLES
) -> Callable[[Request], Awaitable[ApiKey]]:
    """A dependency: the caller's key, which must hold one of `roles`; else 401 or 403."""

    async def authorize(request: Request) -> ApiKey:
        key = key_from_header(request.headers.get("authorization", ""))
        api_key = keys.authenticate(key) if key else None
        if api_key is None:
            raise ApiError(
                401,
                "Unauthorized",
                "a valid API key is required (Authorization: Bearer KEY)",
                headers={"WWW-Authenticate": CHALLENGE},
            )
        if not api_key.roles & set(roles):
            raise ApiError(
                403, "Forbidden", f"the key needs one of the roles: {', '.join(sorted(roles))}"
            )
        return api_key

    return authorize
