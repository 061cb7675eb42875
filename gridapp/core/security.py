"""Password hashing (argon2), signed access tokens (JWT) and TOTP second factors."""

from __future__ import annotations

import dataclasses
import functools
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from argon2 import Parameters, PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

import workflow
from gridapp.accounts.models import DutyRole
from gridapp.accounts.totp import verify_totp
from gridapp.core.config import Config
from gridapp.core.errors import AuthenticationFailed
from gridapp.core.i18n import _
from gridapp.core.schemas import MAX_ID

__all__ = ["verify_totp"]

# Bounds on a password (ASVS V6.2): long passphrases are welcome, megabytes are not hashed.
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 128
ACCESS_AUDIENCE = "gridapp"
ALGORITHM = "HS256"
# Roles at the command center and the hotline desk, supervisors and the three administrators sign
# in with a second factor (DESIGN §8) and cannot turn it off.
_R = workflow.Role
MFA_ROLES: frozenset[str] = frozenset(
    {
        _R.acceptor,
        _R.dispatcher,
        _R.shift_leader,
        _R.hotline_operator,
        _R.supervisor,
        _R.admin,
        DutyRole.security_admin,
        DutyRole.audit_admin,
    }
)


@functools.cache
def _hashing(cost: tuple[Any, ...]) -> tuple[PasswordHasher, str]:
    """The hasher for one cost, and a real hash of that cost to verify against when the username
    is unknown, so both paths take as long (made once, on first use)."""
    hasher = PasswordHasher.from_parameters(Parameters(*cost))
    return hasher, hasher.hash("not-a-password")


def _current_hashing() -> tuple[PasswordHasher, str]:
    """This instance's hasher (``Config.password_hashing``; argon2's Parameters are unhashable,
    so the cache is keyed by their values)."""
    config: Config = current_app.config["GRIDAPP"]
    return _hashing(dataclasses.astuple(config.password_hashing))


def hash_password(password: str) -> str:
    hasher, _dummy = _current_hashing()
    return hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password; an unknown user still costs one argon2 verification."""
    hasher, dummy = _current_hashing()
    if len(password) > MAX_PASSWORD_LENGTH:
        password = password[:MAX_PASSWORD_LENGTH]  # never hash megabytes; too long never matches
        password_hash = None
    try:
        return hasher.verify(password_hash or dummy, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True for a hash made at another cost than this instance's (rehashed at the next sign-in)."""
    hasher, _dummy = _current_hashing()
    return hasher.check_needs_rehash(password_hash)


def issue_access_token(
    user_id: int, role: str, secret: str, minutes: int, session_id: str
) -> tuple[str, datetime]:
    """Sign an access token for one sign-in session (``sid``, checked on every request)."""
    now = datetime.now(UTC)
    expires = now + timedelta(minutes=minutes)
    claims = {
        "sub": str(user_id),
        "sid": session_id,
        "role": role,
        "iat": now,
        "exp": expires,
        "aud": ACCESS_AUDIENCE,
        "typ": "access",
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM), expires


# Tokens this process verified, with their claims: a phone sends the same token for up to its
# lifetime, and verifying it (base64, HMAC, JSON, the registered claims) cost about a twentieth
# of a report. Keyed by the token's exact text and the secret, so a hit is a token that verified
# with this secret; its expiry is checked again on every use. A refused token is never kept.
_VERIFIED: dict[tuple[str, str], dict[str, Any]] = {}
# Enough for every signed-in phone and desk of a city for a token's lifetime; past it the
# process verifies afresh.
MAX_VERIFIED_TOKENS = 20_000


def decode_access_token(token: str, secret: str) -> dict[str, Any]:
    """Check an access token's signature, audience and expiry; require ``exp``, ``sub``, ``sid``.

    A token this process verified already is not verified again until it expires (its claims
    are kept per process); a refusal is checked, and raised, each time.
    """
    kept = _VERIFIED.get((token, secret))
    if kept is None:
        kept = _decode(token, secret)
        if len(_VERIFIED) >= MAX_VERIFIED_TOKENS:
            _VERIFIED.clear()
        _VERIFIED[(token, secret)] = kept
    # PyJWT's own test of `exp` (expired at the second it names), against the clock of now.
    elif int(kept["exp"]) <= time.time():
        raise AuthenticationFailed(_("The access token has expired; refresh it."))
    return dict(kept)


def verified_claims(token: str, secret: str) -> dict[str, Any] | None:
    """Return the claims of a token this process verified and that has not expired, else None
    (without verifying it: for a caller that only wants what an earlier check found)."""
    kept = _VERIFIED.get((token, secret))
    if kept is None or int(kept["exp"]) <= time.time():
        return None
    return dict(kept)


def _decode(token: str, secret: str) -> dict[str, Any]:
    try:
        # A signed token without `exp` would never expire: refuse it, whoever signed it.
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=ACCESS_AUDIENCE,
            options={"require": ["exp", "iat", "sub", "aud"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthenticationFailed(_("The access token has expired; refresh it.")) from exc
    except jwt.InvalidTokenError as exc:
        raise AuthenticationFailed(_("The access token is not valid.")) from exc
    if claims.get("typ") != "access" or token_user_id(claims) is None:
        raise AuthenticationFailed(_("The access token is not valid."))
    if not isinstance(claims.get("sid"), str) or not claims["sid"]:
        raise AuthenticationFailed(_("The access token is not valid."))
    return claims


def token_user_id(claims: dict[str, Any]) -> int | None:
    """Return the user id a token names, or None for a subject no user can have."""
    subject = claims.get("sub")
    # ASCII digits only, no sign, bounded: "-1", "١٢", "1e9" and 10**40 name nobody.
    if not isinstance(subject, str) or not subject.isascii() or not subject.isdigit():
        return None
    if len(subject) > 12 or not 1 <= int(subject) <= MAX_ID:
        return None
    return int(subject)
