"""Password hashing (argon2), signed access tokens (JWT) and TOTP second factors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

import workflow
from gridapp.accounts.totp import verify_totp
from gridapp.core.errors import AuthenticationFailed
from gridapp.core.i18n import _

__all__ = ["verify_totp"]

_hasher = PasswordHasher()
# A real hash to verify against when the username is unknown, so both paths take as long.
_DUMMY_HASH = _hasher.hash("not-a-password")
ACCESS_AUDIENCE = "gridapp"
ALGORITHM = "HS256"
# Roles at the command center and the hotline desk, supervisors and admins sign in with a second
# factor (DESIGN §8).
_R = workflow.Role
MFA_ROLES = frozenset(
    {_R.acceptor, _R.dispatcher, _R.shift_leader, _R.hotline_operator, _R.supervisor, _R.admin}
)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password; an unknown user still costs one argon2 verification."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def issue_access_token(user_id: int, role: str, secret: str, minutes: int) -> tuple[str, datetime]:
    now = datetime.now(UTC)
    expires = now + timedelta(minutes=minutes)
    claims = {
        "sub": str(user_id),
        "role": role,
        "iat": now,
        "exp": expires,
        "aud": ACCESS_AUDIENCE,
        "typ": "access",
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM), expires


def decode_access_token(token: str, secret: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token, secret, algorithms=[ALGORITHM], audience=ACCESS_AUDIENCE
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthenticationFailed(_("The access token has expired; refresh it.")) from exc
    except jwt.InvalidTokenError as exc:
        raise AuthenticationFailed(_("The access token is not valid.")) from exc
    if claims.get("typ") != "access":
        raise AuthenticationFailed(_("The access token is not valid."))
    return claims
