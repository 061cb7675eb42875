"""Sign-in, token refresh, sign-out and the sessions they open.

A session (会话) is one sign-in: its refresh tokens share a family, and its access tokens carry
the family as ``sid``. Ending a session revokes the family in the database and puts the sid in
a revocation set in Redis that every request consults, so the access tokens die at once too.

Failed sign-ins slow down per source address (the heavy lifting) and per account (a slower,
higher threshold against guessing from many addresses), each with a wait that doubles. Every
refusal answers the same 401 ("wrong username or password") whether the user is unknown, the
password wrong, the account locked or disabled, or the source waiting: no enumeration oracle.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from redis.exceptions import RedisError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from gridapp.accounts.models import RefreshToken, User
from gridapp.accounts.totp import matching_step
from gridapp.core.audit import record_audit
from gridapp.core.config import Config
from gridapp.core.errors import AuthenticationFailed, NotFound
from gridapp.core.extensions import redis
from gridapp.core.i18n import _
from gridapp.core.security import (
    MFA_ROLES,
    hash_password,
    issue_access_token,
    needs_rehash,
    verify_password,
)


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime
    user: User


@dataclass(frozen=True)
class SignInSession:
    """One sign-in as an administrator sees it (no token, only when and whether it lives)."""

    id: str
    user_id: int
    started_at: datetime
    last_refreshed_at: datetime
    expires_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None and self.expires_at > datetime.now(UTC)


def _refused() -> AuthenticationFailed:
    # One answer for every refusal before the second factor (ASVS V6.3.8).
    return AuthenticationFailed(_("Wrong username or password."))


def _published_demo_secrets() -> tuple[str, tuple[str, ...]]:
    # Imported late: the demo seed depends on accounts, not the other way round.
    from gridapp.seed.demo import DEMO_PASSWORD, DEMO_TOTP_SECRET

    return DEMO_PASSWORD, (DEMO_TOTP_SECRET, DEMO_TOTP_SECRET[:16])


def authenticate_user(
    session: Session,
    config: Config,
    username: str,
    password: str,
    otp: str | None,
    source: str | None = None,
) -> TokenPair:
    """Sign a user in (登录): password, back-off after failures, TOTP where needed."""
    now = datetime.now(UTC)
    source = source or "unknown"
    details = {"username": username[:64]}
    if _source_waiting(source):
        verify_password(None, password)  # the same work as any other refusal
        record_audit(session, "auth.login", result="denied", details=details | {"why": "source"})
        raise _refused()
    user = session.scalar(select(User).where(User.username == username[:64]))
    password_ok = verify_password(user.password_hash if user else None, password)
    demo_password, demo_secrets = _published_demo_secrets()
    if password_ok and not config.demo and hmac.compare_digest(password, demo_password):
        # Outside demo mode the published demo password opens nothing, whoever holds it.
        password_ok = False
    locked = user is not None and user.locked_until is not None and user.locked_until > now
    if user is None or not user.active or locked or not password_ok:
        if not locked:  # a locked account's wait does not grow with the attempts it refuses
            _count_failure(session, config, user, source, now)
        why = "locked" if locked else "unknown" if user is None else "refused"
        record_audit(
            session,
            "auth.login",
            target_type="user" if user else None,
            target_id=user.id if user else None,
            result="denied" if locked else "failed",
            details=details | {"why": why},
        )
        raise _refused()
    if user.role in MFA_ROLES or user.totp_secret is not None:
        secret = user.totp_secret
        if secret is not None and not config.demo and secret in demo_secrets:
            secret = None  # a published second factor is none outside demo mode
        step = None if secret is None else matching_step(secret, otp, after=user.totp_last_step)
        if step is None:
            # A wrong or reused code counts as a failure; a missing one is the first question.
            if otp:
                _count_failure(session, config, user, source, now)
                record_audit(
                    session,
                    "auth.mfa",
                    target_type="user",
                    target_id=user.id,
                    result="failed",
                    details=details,
                )
            raise AuthenticationFailed(
                _("This role signs in with a one-time code (TOTP); the code is wrong.")
                if otp
                else _("This role signs in with a one-time code (TOTP); send it as 'otp'."),
                extra={"mfa_required": True},
            )
        user.totp_last_step = step
    user.failed_logins = 0
    user.locked_until = None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    record_audit(
        session,
        "auth.login",
        target_type="user",
        target_id=user.id,
        actor_id=user.id,
        actor_role=user.role,
        details=details,
    )
    return _issue(session, config, user, family=secrets.token_urlsafe(16))


def refresh_tokens(session: Session, config: Config, refresh_token: str) -> TokenPair:
    """Rotate a refresh token; presenting a used one revokes its family (token theft)."""
    now = datetime.now(UTC)
    token = session.get(RefreshToken, _token_id(refresh_token), with_for_update=True)
    if token is None or token.revoked_at is not None or token.expires_at <= now:
        raise AuthenticationFailed(_("The refresh token is not valid; sign in again."))
    if token.used_at is not None:
        _revoke_families(session, config, [token.family], now)
        raise AuthenticationFailed(_("The refresh token was already used; sign in again."))
    user = session.get(User, token.user_id)
    if user is None or not user.active:
        raise AuthenticationFailed(_("The refresh token is not valid; sign in again."))
    token.used_at = now
    return _issue(session, config, user, family=token.family)


def revoke_refresh_token(
    session: Session, config: Config, refresh_token: str, user: User, session_id: str
) -> None:
    """Sign out (退出): this session ends, its refresh and access tokens stop working."""
    families = [session_id]
    token = session.get(RefreshToken, _token_id(refresh_token))
    if token is not None and token.user_id == user.id:
        families.append(token.family)
    _revoke_families(session, config, families, datetime.now(UTC), user_id=user.id)
    record_audit(session, "auth.logout", target_type="user", target_id=user.id)


def list_user_sessions(session: Session, user_id: int) -> list[SignInSession]:
    """List a user's sign-in sessions, newest first (from their refresh-token families)."""
    if session.get(User, user_id) is None:
        raise NotFound(_("No user %(id)s.", id=user_id))
    rows = session.execute(
        select(
            RefreshToken.family,
            func.min(RefreshToken.issued_at),
            func.max(RefreshToken.issued_at),
            func.max(RefreshToken.expires_at),
            func.max(RefreshToken.revoked_at),
        )
        .where(RefreshToken.user_id == user_id)
        .group_by(RefreshToken.family)
        .order_by(func.max(RefreshToken.issued_at).desc())
    ).all()
    return [
        SignInSession(
            id=family,
            user_id=user_id,
            started_at=_aware(started),
            last_refreshed_at=_aware(last),
            expires_at=_aware(expires),
            revoked_at=None if revoked is None else _aware(revoked),
        )
        for family, started, last, expires, revoked in rows
    ]


def revoke_session(session: Session, config: Config, session_id: str) -> None:
    """End one sign-in session (by an administrator): its tokens stop working at once."""
    user_id = session.scalar(
        select(RefreshToken.user_id).where(RefreshToken.family == session_id).limit(1)
    )
    if user_id is None:
        raise NotFound(_("No session %(id)s.", id=session_id[:64]))
    _revoke_families(session, config, [session_id], datetime.now(UTC))
    record_audit(
        session,
        "admin.session.revoke",
        target_type="user",
        target_id=user_id,
        details={"session": session_id},
    )


def revoke_user_sessions(session: Session, config: Config, user_id: int) -> int:
    """End every live session of a user (disabled, password reset); return how many."""
    now = datetime.now(UTC)
    families = list(
        session.scalars(
            select(RefreshToken.family)
            .where(
                RefreshToken.user_id == user_id,
                RefreshToken.revoked_at.is_(None),
                RefreshToken.expires_at > now,
            )
            .distinct()
        )
    )
    _revoke_families(session, config, families, now)
    return len(families)


def session_revoked(session: Session, session_id: str) -> bool:
    """Say whether a session has ended (checked on every authenticated request).

    Redis answers; when it cannot, the database does (a revoked family's rows), so an outage
    of Redis neither lets a revoked token in nor shuts everyone out.
    """
    try:
        return bool(redis.connection.exists(revoked_key(session_id)))
    except RedisError:
        return revoked_in_database(session, session_id)


def revoked_in_database(session: Session, session_id: str) -> bool:
    """Say whether a session has ended, from its refresh-token family's rows (Redis down)."""
    revoked = session.scalar(
        select(RefreshToken.id)
        .where(RefreshToken.family == session_id, RefreshToken.revoked_at.is_not(None))
        .limit(1)
    )
    return revoked is not None


def revoked_key(session_id: str) -> str:
    """Return the Redis key that marks a sign-in session as ended."""
    return f"{redis.prefix}:revoked-session:{session_id}"


def _source_key(source: str, what: str) -> str:
    return f"{redis.prefix}:sign-in:{what}:{source}"


def _source_waiting(source: str) -> bool:
    try:
        return bool(redis.connection.exists(_source_key(source, "wait")))
    except RedisError:
        return False  # the account's own back-off (in the database) still holds


def _backoff(config: Config, failures: int, free: int) -> timedelta | None:
    """Return the wait after ``failures`` failures: none up to ``free``, then doubling."""
    if failures < free:
        return None
    seconds = config.lockout_base_seconds * 2 ** min(failures - free, 20)
    return timedelta(seconds=min(seconds, config.lockout_minutes * 60))


def _count_failure(
    session: Session, config: Config, user: User | None, source: str, now: datetime
) -> None:
    """Count a failed sign-in against its source (Redis) and its account (database)."""
    cap = config.lockout_minutes * 60
    try:
        conn = redis.connection
        failures = int(conn.incr(_source_key(source, "failures")))
        conn.expire(_source_key(source, "failures"), cap)
        wait = _backoff(config, failures, config.login_source_failures)
        if wait is not None:
            conn.set(_source_key(source, "wait"), 1, px=int(wait.total_seconds() * 1000))
            record_audit(session, "auth.lockout", result="denied", details={"source": source})
    except RedisError:
        pass  # the per-account count below is still kept
    if user is None:
        return
    user.failed_logins += 1
    wait = _backoff(config, user.failed_logins, config.max_failed_logins)
    if wait is not None:
        user.locked_until = now + wait
        record_audit(
            session,
            "auth.lockout",
            target_type="user",
            target_id=user.id,
            result="denied",
            details={"username": user.username, "until": user.locked_until.isoformat()},
        )


def _revoke_families(
    session: Session,
    config: Config,
    families: Iterable[str],
    now: datetime,
    user_id: int | None = None,
) -> None:
    families = sorted(set(families))
    if not families:
        return
    query = update(RefreshToken).where(
        RefreshToken.family.in_(families), RefreshToken.revoked_at.is_(None)
    )
    if user_id is not None:
        query = query.where(RefreshToken.user_id == user_id)
    session.execute(query.values(revoked_at=now))
    # Access tokens live access_token_minutes at most: the sid need not be kept longer.
    ttl = config.access_token_minutes * 60 + 60
    try:
        pipe = redis.connection.pipeline()
        for family in families:
            pipe.set(revoked_key(family), 1, ex=ttl)
        pipe.execute()
    except RedisError:
        pass  # session_revoked falls back to the database rows revoked above


def _aware(moment: datetime) -> datetime:
    # SQLite hands aggregates back as naive datetimes (or strings); they are UTC.
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _token_id(refresh_token: str) -> str:
    # Only a hash is stored, so a copy of the database does not hand out working tokens.
    return hashlib.sha256(refresh_token.strip().encode()).hexdigest()


def _issue(session: Session, config: Config, user: User, family: str) -> TokenPair:
    now = datetime.now(UTC)
    access, access_expires = issue_access_token(
        user.id, user.role, config.secret_key, config.access_token_minutes, family
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
