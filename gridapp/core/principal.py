"""Who is calling: bearer tokens on every protected view."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import current_app, g, request

from gridapp.accounts.models import User
from gridapp.core.errors import AuthenticationFailed, Forbidden
from gridapp.core.extensions import db
from gridapp.core.i18n import _, role_label
from gridapp.core.inputs import ascii_digits
from gridapp.core.schemas import MAX_ID
from gridapp.core.security import decode_access_token

F = TypeVar("F", bound=Callable[..., Any])
BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]


def current_user() -> User:
    user = g.get("user")
    if user is None:
        raise AuthenticationFailed(_("Sign in first: send 'Authorization: Bearer <access token>'."))
    return cast(User, user)


def authenticate_request() -> User:
    header = request.headers.get("Authorization", "")
    scheme, _blank, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationFailed(_("Sign in first: send 'Authorization: Bearer <access token>'."))
    claims = decode_access_token(token.strip(), current_app.config["GRIDAPP"].secret_key)
    subject = claims.get("sub")
    # A signed token whose subject is no row id (text, ٣, a 30-digit number) names nobody.
    if not (isinstance(subject, str) and len(subject) <= 10 and ascii_digits(subject)):
        raise AuthenticationFailed(_("The access token is not valid."))
    if int(subject) > MAX_ID:
        raise AuthenticationFailed(_("The access token is not valid."))
    user = db.session.get(User, int(subject))
    if user is None or not user.active:
        raise AuthenticationFailed(_("The access token is not valid."))
    g.user = user
    return user


def optional_user() -> User | None:
    """The caller when a bearer token is sent (a bad token is still a 401), else None."""
    if not request.headers.get("Authorization"):
        return None
    return authenticate_request()


def login_required(*roles: str) -> Callable[[F], F]:
    """Require a signed-in user, and one of ``roles`` when given."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = authenticate_request()
            if roles and user.role not in roles:
                role = role_label(user.role)
                if role[0] in "aeiou":
                    raise Forbidden(_("An %(role)s can't do this.", role=role))
                raise Forbidden(_("A %(role)s can't do this.", role=role))
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorator
