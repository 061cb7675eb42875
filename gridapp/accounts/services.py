"""User administration (用户管理) and each user's own second factor."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

import workflow
from gridapp.accounts.models import ROLES, User, UserGrid
from gridapp.accounts.sessions import revoke_user_sessions
from gridapp.accounts.totp import matching_step, new_secret, provisioning_uri
from gridapp.catalogue.models import Department
from gridapp.core.audit import AuditEntry, record_audit
from gridapp.core.config import Config
from gridapp.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from gridapp.core.i18n import _
from gridapp.core.pagination import cursor_int, decode_cursor, paginate
from gridapp.core.security import (
    MAX_PASSWORD_LENGTH,
    MFA_ROLES,
    MIN_PASSWORD_LENGTH,
    hash_password,
    verify_password,
)
from gridapp.grid.models import Area


def check_password(password: str, *, published_ok: bool = False) -> str | None:
    """Return why a new password is refused, or None (ASVS V6.2: 12 to 128 characters).

    The published demo password is refused too, unless ``published_ok`` (the demo's own users
    and test fixtures, made in demo mode by code rather than by an administrator).
    """
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        return _(
            "A password has %(low)d to %(high)d characters.",
            low=MIN_PASSWORD_LENGTH,
            high=MAX_PASSWORD_LENGTH,
        )
    from gridapp.seed.demo import DEMO_PASSWORD  # late: the seed depends on accounts

    if not published_ok and password == DEMO_PASSWORD:
        return _("This password is published; choose another.")
    return None


def _scope_errors(
    session: Session,
    role: str,
    department: str | None,
    grid_codes: list[str],
) -> dict[str, str]:
    errors: dict[str, str] = {}
    if role not in ROLES:
        errors["role"] = _(
            "Unknown role %(role)r; one of %(roles)s.", role=role, roles=", ".join(ROLES)
        )
    if (
        department is not None
        and session.scalar(select(Department.id).where(Department.code == department)) is None
    ):
        errors["department"] = _("Unknown department %(code)r.", code=department)
    if role in DEPARTMENT_ROLES and department is None:
        errors["department"] = _("A %(role)s belongs to a department.", role=role)
    if grid_codes:
        known = set(
            session.scalars(
                select(Area.code).where(Area.level == "grid", Area.code.in_(grid_codes))
            )
        )
        unknown = [c for c in grid_codes if c not in known]
        if unknown:
            errors["grids"] = _("Unknown unit grids: %(codes)s.", codes=", ".join(unknown))
    return errors


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    display_name: str = "",
    phone: str | None = None,
    department: str | None = None,
    district: str | None = None,
    grids: Iterable[str] = (),
    totp_secret: str | None = None,
    published_password_ok: bool = True,
) -> User:
    """Create a user with a role and a scope (grids, department, district).

    Administrators (the API, ``flask user create``) pass ``published_password_ok=False``.
    """
    grid_codes = sorted(set(grids))
    errors = _scope_errors(session, role, department, grid_codes)
    refusal = check_password(password, published_ok=published_password_ok)
    if refusal is not None:
        errors["password"] = refusal
    if not username or len(username) > 64:
        errors["username"] = _("A username has 1 to 64 characters.")
    if errors:
        raise ValidationFailed(_("The user cannot be created."), errors=errors)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(
            _("A user named %(name)r exists already.", name=username),
            errors={"username": _("taken")},
        )
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role,
        display_name=display_name or username,
        phone=phone,
        department_code=department,
        district_code=district,
        totp_secret=totp_secret,
        grids=[UserGrid(grid_code=code) for code in grid_codes],
    )
    session.add(user)
    session.flush()
    return user


def user_facts(user: User) -> dict[str, Any]:
    """Return what the audit trail keeps of a user: role and scope, never a secret."""
    return {
        "username": user.username,
        "role": user.role,
        "department": user.department_code,
        "district": user.district_code,
        "grids": user.grid_codes,
        "active": user.active,
        "mfa": user.totp_secret is not None,
    }


@dataclass(frozen=True)
class NewCredentials:
    """A user with what is shown once: a generated password and a second factor's secret."""

    user: User
    one_time_password: str | None = None
    totp_secret: str | None = None
    totp_uri: str | None = None


def _generated_password() -> str:
    return secrets.token_urlsafe(15)  # 20 characters, 120 bits


def admin_create_user(
    session: Session,
    *,
    username: str,
    role: str,
    password: str | None = None,
    display_name: str = "",
    department: str | None = None,
    district: str | None = None,
    grids: Iterable[str] = (),
) -> NewCredentials:
    """Create a user (by a security admin); generate what was not given, show it once."""
    generated = _generated_password() if password is None else None
    secret = new_secret() if role in MFA_ROLES else None
    user = create_user(
        session,
        username=username,
        password=password if password is not None else generated or "",
        role=role,
        display_name=display_name,
        department=department,
        district=district,
        grids=grids,
        totp_secret=secret,
        published_password_ok=False,
    )
    record_audit(
        session, "admin.user.create", target_type="user", target_id=user.id, after=user_facts(user)
    )
    return NewCredentials(
        user, generated, secret, None if secret is None else provisioning_uri(secret, username)
    )


def list_users(
    session: Session,
    *,
    role: str | None = None,
    active: bool | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> tuple[list[User], str | None]:
    """List users in id order, a page at a time."""
    query = select(User).order_by(User.id).limit(limit + 1)
    key = decode_cursor(cursor, 1)
    if key is not None:
        query = query.where(User.id > cursor_int(key[0]))
    if role is not None:
        query = query.where(User.role == role)
    if active is not None:
        query = query.where(User.active.is_(active))
    rows = list(session.scalars(query))
    return paginate(rows, limit, lambda u: (u.id,))


def get_user(session: Session, user_id: int) -> User:
    """Return one user or raise NotFound."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(_("No user %(id)s.", id=user_id))
    return user


def update_user(
    session: Session, config: Config, actor: User, user_id: int, changes: Mapping[str, Any]
) -> User:
    """Change a user's role, scope, name or whether they may sign in (disabling ends sessions)."""
    user = get_user(session, user_id)
    before = user_facts(user)
    role = changes.get("role", user.role)
    department = changes.get("department", user.department_code)
    grid_codes = sorted(set(changes["grids"])) if "grids" in changes else user.grid_codes
    errors = _scope_errors(session, role, department, grid_codes)
    if user.id == actor.id and ("role" in changes or changes.get("active") is False):
        # Nobody removes their own duty: another security admin must.
        errors["role" if "role" in changes else "active"] = _(
            "You cannot change your own role or disable yourself."
        )
    if errors:
        raise ValidationFailed(_("The user cannot be changed."), errors=errors)
    user.role = role
    user.department_code = department
    if "district" in changes:
        user.district_code = changes["district"]
    if "display_name" in changes:
        user.display_name = changes["display_name"] or user.username
    if "grids" in changes:
        user.grids = [UserGrid(grid_code=code) for code in grid_codes]
    if "active" in changes:
        user.active = bool(changes["active"])
        if user.active:
            user.failed_logins = 0
            user.locked_until = None
    session.flush()
    if not user.active or "role" in changes:
        # A disabled user, or one whose duties changed, signs in again to get them.
        revoke_user_sessions(session, config, user.id)
    after = user_facts(user)
    verb = (
        "disable"
        if before["active"] and not after["active"]
        else "enable"
        if not before["active"] and after["active"]
        else "update"
    )
    record_audit(
        session,
        f"admin.user.{verb}",
        target_type="user",
        target_id=user.id,
        before=before,
        after=after,
    )
    return user


def reset_password(
    session: Session,
    config: Config,
    user_id: int,
    password: str | None,
    new_totp: bool = False,
) -> NewCredentials:
    """Set a user's password (or generate one, shown once); their sessions end.

    With ``new_totp`` (a lost phone), or when the user's role needs a second factor they do
    not have, they also get a new TOTP secret, shown once.
    """
    user = get_user(session, user_id)
    generated = _generated_password() if password is None else None
    new = password if password is not None else generated or ""
    refusal = check_password(new)
    if refusal is not None:
        raise ValidationFailed(_("The password cannot be set."), errors={"password": refusal})
    user.password_hash = hash_password(new)
    user.failed_logins = 0
    user.locked_until = None
    secret = None
    if new_totp or (user.role in MFA_ROLES and user.totp_secret is None):
        secret = new_secret()
        user.totp_secret = secret
        user.totp_pending_secret = None
        user.totp_last_step = None
    session.flush()
    revoke_user_sessions(session, config, user.id)
    record_audit(
        session,
        "admin.user.password",
        target_type="user",
        target_id=user.id,
        details={"generated": generated is not None, "new_totp": secret is not None},
    )
    return NewCredentials(
        user,
        generated,
        secret,
        None if secret is None else provisioning_uri(secret, user.username),
    )


def enrol_totp(session: Session, user: User, password: str) -> NewCredentials:
    """Start enrolling a second factor (绑定): a new secret, in force once confirmed."""
    _check_own_password(user, password)
    secret = new_secret()
    user.totp_pending_secret = secret
    session.flush()
    record_audit(session, "auth.mfa.enrol", target_type="user", target_id=user.id)
    return NewCredentials(user, None, secret, provisioning_uri(secret, user.username))


def confirm_totp(session: Session, user: User, otp: str) -> User:
    """Put the enrolled secret in force, proven by one of its codes."""
    secret = user.totp_pending_secret
    step = None if secret is None else matching_step(secret, otp)
    if secret is None or step is None:
        record_audit(
            session, "auth.mfa.confirm", target_type="user", target_id=user.id, result="failed"
        )
        raise ValidationFailed(
            _("The code does not match the secret being enrolled."),
            errors={"otp": _("Enrol first, then send the current code.")},
        )
    user.totp_secret = secret
    user.totp_pending_secret = None
    user.totp_last_step = step
    session.flush()
    record_audit(session, "auth.mfa.confirm", target_type="user", target_id=user.id)
    return user


def disable_totp(session: Session, user: User, password: str, otp: str) -> User:
    """Turn the second factor off (解绑), for roles that may sign in without one."""
    if user.role in MFA_ROLES:
        raise Forbidden(_("This role signs in with a second factor; it cannot be turned off."))
    _check_own_password(user, password)
    step = (
        None
        if user.totp_secret is None
        else matching_step(user.totp_secret, otp, after=user.totp_last_step)
    )
    if step is None:
        raise ValidationFailed(_("The code is wrong."), errors={"otp": _("Send the current code.")})
    user.totp_secret = None
    user.totp_pending_secret = None
    user.totp_last_step = None
    session.flush()
    record_audit(session, "auth.mfa.disable", target_type="user", target_id=user.id)
    return user


def _check_own_password(user: User, password: str) -> None:
    if not verify_password(user.password_hash, password):
        raise ValidationFailed(
            _("The password is wrong."), errors={"password": _("Send your current password.")}
        )


DEPARTMENT_ROLES = (workflow.Role.handler.value, workflow.Role.dept_admin.value)
# Built once, run with the department as its parameter (a dispatch reads it on every call).
DEPARTMENT_MEMBERS = select(User.id).where(
    User.department_code == bindparam("department"),
    User.role.in_(DEPARTMENT_ROLES),
    User.active.is_(True),
)


def department_members(session: Session, department: str | None) -> list[int]:
    """Return the active handlers and department admins of a department."""
    if department is None:
        return []
    return list(session.scalars(DEPARTMENT_MEMBERS, {"department": department}))


def command_center(
    session: Session, area: str | None, roles: Iterable[str], *, exact: bool = False
) -> list[int]:
    """Return active staff of these roles responsible for an area.

    Staff with no area cover everything; ``exact`` asks for the centre of that very area
    (a community's or a street's governance centre), not those above it.
    """
    query = select(User.id).where(User.role.in_(list(roles)), User.active.is_(True))
    if exact:
        query = query.where(User.district_code == area)
    elif area is not None:
        query = query.where((User.district_code == area) | User.district_code.is_(None))
    return list(session.scalars(query))


def list_audit_entries(
    session: Session,
    *,
    action: str | None = None,
    actor: int | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> tuple[list[AuditEntry], str | None]:
    """List audit entries newest first (安全审计)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit + 1)
    key = decode_cursor(cursor, 1)
    if key is not None:
        query = query.where(AuditEntry.id < cursor_int(key[0]))
    if action is not None:
        # "auth." lists every sign-in entry; "auth.login" only those.
        query = query.where(
            (AuditEntry.action == action) | AuditEntry.action.startswith(action.rstrip(".") + ".")
        )
    if actor is not None:
        query = query.where(AuditEntry.actor_id == actor)
    if target_type is not None:
        query = query.where(AuditEntry.target_type == target_type)
    if target_id is not None:
        query = query.where(AuditEntry.target_id == target_id)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if until is not None:
        query = query.where(AuditEntry.at < until)
    rows = list(session.scalars(query))
    return paginate(rows, limit, lambda e: (e.id,))
