"""Who is calling: bearer tokens on every protected view."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import current_app, g, request
from redis.client import Pipeline

import workflow
from gridapp.accounts.models import DutyRole, User
from gridapp.accounts.principals import (
    copies,
    principal_keys,
    principal_state,
    read_principal_state,
)
from gridapp.accounts.sessions import revoked_in_database
from gridapp.core.errors import AuthenticationFailed, Forbidden
from gridapp.core.extensions import db
from gridapp.core.i18n import N_, _, role_label
from gridapp.core.security import decode_access_token, token_user_id, verified_claims

F = TypeVar("F", bound=Callable[..., Any])
BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]


def current_user() -> User:
    user = g.get("user")
    if user is None:
        raise AuthenticationFailed(_("Sign in first: send 'Authorization: Bearer <access token>'."))
    return cast(User, user)


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _blank, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    return token.strip()


def authenticate_request() -> User:
    token = _bearer_token()
    if token is None:
        raise AuthenticationFailed(_("Sign in first: send 'Authorization: Bearer <access token>'."))
    claims = decode_access_token(token, current_app.config["GRIDAPP"].secret_key)
    user_id = token_user_id(claims)
    if user_id is None:
        raise AuthenticationFailed(_("The access token is not valid."))
    session = db.session()
    # One Redis round trip: is the session revoked, which version of the user is current
    # (asked already when the rate limit's round trip carried it).
    prefetched = request.environ.pop(_PREFETCHED, None)
    if prefetched is not None and prefetched[:2] == (claims["sid"], user_id):
        state = prefetched[2]
    else:
        state = principal_state(claims["sid"], user_id)
    if state is None:  # Redis unreachable: the database answers both, as before any copy
        user = session.get(User, user_id)
    else:
        user = copies.user(session, user_id, state.version)
    if user is None or not user.active:
        raise AuthenticationFailed(_("The access token is not valid."))
    # Signed out, revoked by an administrator, or its refresh family revoked: dead at once.
    if state.revoked if state is not None else revoked_in_database(session, claims["sid"]):
        raise AuthenticationFailed(_("This session has ended; sign in again."))
    g.user = user
    g.session_id = claims["sid"]
    return user


# Where a request keeps its principal's state when the rate limit's round trip asked for it:
# (session id, user id, state or None when Redis could not answer).
_PREFETCHED = "gridapp.principal_state"


class PrincipalPrefetch:
    """The caller's principal state (`principal_keys`), asked in another round trip."""

    def __init__(self, session_id: str, user_id: int) -> None:
        self.session_id = session_id
        self.user_id = user_id

    def queue(self, pipe: Pipeline) -> None:
        pipe.mget(*principal_keys(self.session_id, self.user_id))

    def take(self, replies: list[Any]) -> None:
        reply = replies[0]
        state = None if isinstance(reply, Exception) else read_principal_state(reply)
        request.environ[_PREFETCHED] = (self.session_id, self.user_id, state)

    def unreachable(self) -> None:
        request.environ[_PREFETCHED] = (self.session_id, self.user_id, None)


def principal_prefetch() -> PrincipalPrefetch | None:
    """The state `authenticate_request` will need, to ride in the rate limit's round trip.

    Only for a token verified already (the limiter keys its caller by it): None otherwise, and
    authentication checks the token, and refuses it, as before.
    """
    token = _bearer_token()
    claims = (
        None if token is None else verified_claims(token, current_app.config["GRIDAPP"].secret_key)
    )
    if claims is None:
        return None
    user_id = token_user_id(claims)
    return None if user_id is None else PrincipalPrefetch(claims["sid"], user_id)


def current_session_id() -> str:
    """Return the sign-in session of the current request's access token."""
    current_user()
    return cast(str, g.session_id)


# The separated administrators are no workflow roles: their labels live in the catalogue.
DUTY_ROLE_LABELS = {
    DutyRole.security_admin: N_("security admin"),
    DutyRole.audit_admin: N_("audit admin"),
}


def any_role_label(role: str) -> str:
    """Return a role's label, the separated administrators' included."""
    if role in DUTY_ROLE_LABELS:
        return _(DUTY_ROLE_LABELS[DutyRole(role)])
    return role_label(workflow.Role(role))


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
            _require(roles)
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorator


def _require(roles: tuple[str, ...]) -> User:
    user = authenticate_request()
    if roles and user.role not in roles:
        role = any_role_label(user.role)
        if role[0] in "aeiou":
            raise Forbidden(_("An %(role)s can't do this.", role=role))
        raise Forbidden(_("A %(role)s can't do this.", role=role))
    return user


def roles_first(*roles: str) -> Callable[[], None]:
    """Return a ``before_request`` hook refusing other roles before any input is parsed.

    A whole blueprint for one role (the administration) answers 403 to everyone else, whatever
    they send, instead of first telling them what is wrong with their body.
    """

    def hook() -> None:
        _require(roles)

    return hook
