"""Sign-in, token refresh and sign-out."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gridapp.accounts.models import RefreshToken, User
from gridapp.core.config import Config
from gridapp.core.errors import AuthenticationFailed
from gridapp.core.i18n import _
from gridapp.core.security import (
    MFA_ROLES,
    hash_password,
    issue_access_token,
    needs_rehash,
    verify_password,
    verify_totp,
)


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime
    user: User


def authenticate_user(
    session: Session, config: Config, username: str, password: str, otp: str | None
) -> TokenPair:
    """Sign a user in (登录): password, lockout after failures, TOTP where the role needs it."""
    now = datetime.now(UTC)
    user = session.scalar(select(User).where(User.username == username))
    password_ok = verify_password(user.password_hash if user else None, password)
    if user is None or not user.active:
        raise AuthenticationFailed(_("Wrong username or password."))
    if user.locked_until is not None and user.locked_until > now:
        raise AuthenticationFailed(
            _("Too many failed sign-ins; the account is locked for a while."),
            extra={"locked_until": user.locked_until.isoformat()},
        )
    if not password_ok:
        _count_failure(user, config, now)
        raise AuthenticationFailed(_("Wrong username or password."))
    if user.role in MFA_ROLES and user.totp_secret and not verify_totp(user.totp_secret, otp):
        if otp:
            _count_failure(user, config, now)
        raise AuthenticationFailed(
            _("This role signs in with a one-time code (TOTP); the code is wrong.")
            if otp
            else _("This role signs in with a one-time code (TOTP); send it as 'otp'."),
            extra={"mfa_required": True},
        )
    user.failed_logins = 0
    user.locked_until = None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return _issue(session, config, user, family=secrets.token_urlsafe(16))


def refresh_tokens(session: Session, config: Config, refresh_token: str) -> TokenPair:
    """Rotate a refresh token; presenting a used one revokes its family (token theft)."""
    now = datetime.now(UTC)
    token = session.get(RefreshToken, _token_id(refresh_token), with_for_update=True)
    if token is None or token.revoked_at is not None or token.expires_at <= now:
        raise AuthenticationFailed(_("The refresh token is not valid; sign in again."))
    if token.used_at is not None:
        _revoke_family(session, token.family, now)
        raise AuthenticationFailed(_("The refresh token was already used; sign in again."))
    user = session.get(User, token.user_id)
    if user is None or not user.active:
        raise AuthenticationFailed(_("The refresh token is not valid; sign in again."))
    token.used_at = now
    return _issue(session, config, user, family=token.family)


def revoke_refresh_token(session: Session, refresh_token: str, user: User) -> None:
    """Sign out (退出): the refresh token's whole family stops working."""
    token = session.get(RefreshToken, _token_id(refresh_token))
    if token is not None and token.user_id == user.id:
        _revoke_family(session, token.family, datetime.now(UTC))


def _count_failure(user: User, config: Config, now: datetime) -> None:
    user.failed_logins += 1
    if user.failed_logins >= config.max_failed_logins:
        user.locked_until = now + timedelta(minutes=config.lockout_minutes)
        user.failed_logins = 0


def _revoke_family(session: Session, family: str, now: datetime) -> None:
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.family == family, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def _token_id(refresh_token: str) -> str:
    # Only a hash is stored, so a copy of the database does not hand out working tokens.
    return hashlib.sha256(refresh_token.strip().encode()).hexdigest()


def _issue(session: Session, config: Config, user: User, family: str) -> TokenPair:
    now = datetime.now(UTC)
    access, access_expires = issue_access_token(
        user.id, user.role, config.secret_key, config.access_token_minutes
    )
    raw_refresh = secrets.token_urlsafe(40)
    refresh = RefreshToken(
        id=_token_id(raw_refresh),
        user_id=user.id,
        family=family,
        issued_at=now,
        expires_at=now + timedelta(days=config.refresh_token_days),
    )
    session.add(refresh)
    session.flush()
    return TokenPair(access, access_expires, raw_refresh, refresh.expires_at, user)
