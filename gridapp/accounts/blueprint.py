"""Sign-in, token refresh, sign-out and who-am-I."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask.views import MethodView
from marshmallow import ValidationError, fields, validate

from gridapp.accounts.models import ROLES, DutyRole, User
from gridapp.accounts.services import (
    NewCredentials,
    admin_create_user,
    confirm_totp,
    disable_totp,
    enrol_totp,
    get_user,
    list_audit_entries,
    list_users,
    reset_password,
    update_user,
)
from gridapp.accounts.sessions import (
    SignInSession,
    TokenPair,
    authenticate_user,
    list_user_sessions,
    refresh_tokens,
    revoke_refresh_token,
    revoke_session,
)
from gridapp.core.audit import AuditChainReport, AuditEntry, verify_audit_chain
from gridapp.core.extensions import db
from gridapp.core.i18n import N_
from gridapp.core.limits import rate_limit
from gridapp.core.principal import BEARER, current_session_id, current_user, login_required
from gridapp.core.rest import Blueprint
from gridapp.core.schemas import StrictSchema, UtcDateTime
from gridapp.core.security import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH


class Text(fields.String):
    """A string a database can hold: a lone surrogate or a NUL is a field error, not a 500."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValidationError(N_("Not valid Unicode text.")) from exc
        if "\x00" in text:  # PostgreSQL text cannot hold it
            raise ValidationError(N_("Not valid Unicode text."))
        return text


blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Sign-in and tokens")
users_blp = Blueprint(
    "admin_users",
    __name__,
    url_prefix="/api/v1/admin",
    description="Users and their sessions (security admins only)",
)
SECURITY_ADMIN = DutyRole.security_admin.value
AUDIT_ADMIN = DutyRole.audit_admin.value
# Bounded before anything is hashed: argon2 over megabytes is a denial of service.
PASSWORD_FIELD = validate.Length(max=MAX_PASSWORD_LENGTH)
NEW_PASSWORD = validate.Length(min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH)
OTP_FIELD = validate.Length(max=16)


class LoginSchema(StrictSchema):
    username = Text(required=True, validate=validate.Length(max=64))
    password = Text(required=True, load_only=True, validate=PASSWORD_FIELD)
    otp = Text(
        load_default=None,
        validate=OTP_FIELD,
        metadata={"description": "TOTP code (6 digits)."},
    )


class RefreshSchema(StrictSchema):
    refresh_token = Text(required=True)


class MeSchema(StrictSchema):
    id = fields.Integer()
    username = Text()
    display_name = Text()
    role = Text(validate=validate.OneOf(ROLES))
    department = Text(attribute="department_code", allow_none=True)
    grids = fields.List(Text(), attribute="grid_codes")
    district = Text(attribute="district_code", allow_none=True)


class TokenSchema(StrictSchema):
    access_token = Text()
    access_expires_at = fields.DateTime()
    refresh_token = Text()
    refresh_expires_at = fields.DateTime()
    token_type = Text(dump_default="Bearer")
    user = fields.Nested(MeSchema)


@blp.route("/login")
class Login(MethodView):
    @blp.doc(
        description="Anyone may call. Acceptors, dispatchers, shift leaders, hotline "
        "operators, supervisors and admins also send `otp`, the current TOTP code; without it, "
        "or with a wrong one, the answer is a 401 with `mfa_required: true` and no token. A "
        "wrong username or password is a 401, and so is an unknown user, a disabled or locked "
        "account, or a source address waiting after repeated failures: the same answer for "
        "each. Each code works once. Send the `access_token` as `Authorization: Bearer …` (it "
        "lasts minutes); keep the `refresh_token` for POST /api/v1/auth/refresh.",
    )
    @rate_limit("login")
    @blp.arguments(LoginSchema)
    @blp.response(200, TokenSchema)
    def post(self, body: dict[str, Any]) -> TokenPair:
        """Sign in with username, password and, for command-center roles, a TOTP code."""
        session = db.session()
        try:
            pair = authenticate_user(
                session,
                current_app.config["GRIDAPP"],
                body["username"],
                body["password"],
                body.get("otp"),
                source=request.remote_addr,
            )
        except Exception:
            # A failed sign-in still counts against the back-off and stays in the audit trail:
            # this short transaction holds nothing else, and commits although the request fails.
            session.commit()
            raise
        return pair


@blp.route("/refresh")
class Refresh(MethodView):
    @blp.doc(
        description="Anyone holding a refresh token may call; no access token is needed. Each "
        "refresh token works once: an unknown, expired or revoked one is a 401, and a used one "
        "is a 401 that also revokes every token of its sign-in (someone copied it), so the "
        "user signs in again.",
    )
    @blp.arguments(RefreshSchema)
    @blp.response(200, TokenSchema)
    def post(self, body: dict[str, Any]) -> TokenPair:
        """Swap a refresh token for a new pair (the old one stops working)."""
        session = db.session()
        try:
            pair = refresh_tokens(session, current_app.config["GRIDAPP"], body["refresh_token"])
        except Exception:
            session.commit()  # a reused token's family revocation must stick
            raise
        return pair


@blp.route("/logout")
class Logout(MethodView):
    @blp.doc(
        security=BEARER,
        description="Any signed-in user. The session of the access token ends: its access "
        "and refresh tokens stop working at once. The refresh token's own sign-in ends too "
        "when it is the caller's; another user's token or an unknown one changes nothing (still "
        "204).",
    )
    @blp.arguments(RefreshSchema)
    @blp.response(204)
    @login_required()
    def post(self, body: dict[str, Any]) -> None:
        """Sign out: the refresh token and its family stop working."""
        revoke_refresh_token(
            db.session(),
            current_app.config["GRIDAPP"],
            body["refresh_token"],
            current_user(),
            current_session_id(),
        )


@blp.route("/me")
class Me(MethodView):
    @blp.doc(
        security=BEARER,
        description="Any signed-in user; 401 without a valid access token. `department` is "
        "set for handlers and department admins, `grids` (unit grid codes) for grid workers, "
        "`district` for the roles scoped to one.",
    )
    @blp.response(200, MeSchema)
    @login_required()
    def get(self) -> User:
        """Tell who is signed in: role, department, grids, district."""
        return current_user()


class PasswordCheckSchema(StrictSchema):
    password = Text(required=True, load_only=True, validate=PASSWORD_FIELD)


class OtpSchema(StrictSchema):
    otp = Text(required=True, validate=OTP_FIELD)


class DisableMfaSchema(PasswordCheckSchema):
    otp = Text(required=True, validate=OTP_FIELD)


class EnrolmentSchema(StrictSchema):
    secret = Text(attribute="totp_secret")
    otpauth_uri = Text(attribute="totp_uri")


@blp.route("/mfa/enrol")
class MfaEnrol(MethodView):
    @blp.doc(
        security=BEARER,
        description="Any signed-in user, with their password. Answers a new TOTP secret (shown "
        "once) and its `otpauth://` URI for an authenticator app; it takes effect when "
        "confirmed with a code from it. A wrong password is a 422.",
    )
    @blp.arguments(PasswordCheckSchema)
    @blp.response(200, EnrolmentSchema)
    @login_required()
    def post(self, body: dict[str, Any]) -> NewCredentials:
        """Start enrolling a TOTP second factor (绑定)."""
        return enrol_totp(db.session(), current_user(), body["password"])


@blp.route("/mfa/confirm")
class MfaConfirm(MethodView):
    @blp.doc(
        security=BEARER,
        description="Any signed-in user who enrolled: the current code of the new secret "
        "puts it in force (it replaces an older one). A wrong code is a 422.",
    )
    @blp.arguments(OtpSchema)
    @blp.response(204)
    @login_required()
    def post(self, body: dict[str, Any]) -> None:
        """Confirm the enrolled TOTP secret with a code from it."""
        confirm_totp(db.session(), current_user(), body["otp"])


@blp.route("/mfa/disable")
class MfaDisable(MethodView):
    @blp.doc(
        security=BEARER,
        description="Grid workers, handlers and department admins, with their password and a "
        "current code; roles that sign in with a second factor (command center, hotline, "
        "supervisors, administrators) get a 403.",
    )
    @blp.arguments(DisableMfaSchema)
    @blp.response(204)
    @login_required()
    def post(self, body: dict[str, Any]) -> None:
        """Turn the TOTP second factor off (解绑)."""
        disable_totp(db.session(), current_user(), body["password"], body["otp"])


class AdminUserSchema(MeSchema):
    active = fields.Boolean()
    mfa = fields.Boolean(attribute="mfa_enrolled", metadata={"description": "TOTP in force."})
    locked_until = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class UserPageSchema(StrictSchema):
    items = fields.List(fields.Nested(AdminUserSchema))
    next_cursor = Text(allow_none=True)


class UserListArgs(StrictSchema):
    role = Text(load_default=None, validate=validate.OneOf(ROLES))
    active = fields.Boolean(load_default=None)
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 500))
    cursor = Text(
        load_default=None,
        validate=validate.Length(max=200),
        metadata={"description": "From `next_cursor`."},
    )


class UserCreateSchema(StrictSchema):
    username = Text(required=True, validate=validate.Length(1, 64))
    password = Text(
        load_default=None,
        load_only=True,
        validate=NEW_PASSWORD,
        metadata={"description": "Omit it to have one generated and shown once."},
    )
    role = Text(required=True, validate=validate.OneOf(ROLES))
    display_name = Text(load_default="", validate=validate.Length(max=120))
    department = Text(load_default=None, validate=validate.Length(max=40))
    district = Text(load_default=None, validate=validate.Length(max=20))
    grids = fields.List(
        Text(validate=validate.Length(max=20)),
        load_default=list,
        validate=validate.Length(max=5000),
    )


class UserPatchSchema(StrictSchema):
    role = Text(validate=validate.OneOf(ROLES))
    display_name = Text(validate=validate.Length(max=120))
    department = Text(allow_none=True, validate=validate.Length(max=40))
    district = Text(allow_none=True, validate=validate.Length(max=20))
    grids = fields.List(Text(validate=validate.Length(max=20)), validate=validate.Length(max=5000))
    active = fields.Boolean()


class PasswordResetSchema(StrictSchema):
    password = Text(
        load_default=None,
        load_only=True,
        validate=NEW_PASSWORD,
        metadata={"description": "Omit it to have one generated and shown once."},
    )
    totp = fields.Boolean(
        load_default=False,
        metadata={"description": "Also a new TOTP secret, shown once (a lost phone)."},
    )


class CredentialsSchema(StrictSchema):
    user = fields.Nested(AdminUserSchema)
    one_time_password = Text(
        allow_none=True, metadata={"description": "The generated password, shown only now."}
    )
    totp_secret = Text(
        allow_none=True, metadata={"description": "The TOTP secret, shown only now."}
    )
    otpauth_uri = Text(attribute="totp_uri", allow_none=True)


class SessionSchema(StrictSchema):
    id = Text()
    user_id = fields.Integer()
    started_at = fields.DateTime()
    last_refreshed_at = fields.DateTime()
    expires_at = fields.DateTime()
    revoked_at = fields.DateTime(allow_none=True)
    active = fields.Boolean()


ONLY_SECURITY = "Security admins only; anyone else gets a 403."


@users_blp.route("/users")
class Users(MethodView):
    @login_required(SECURITY_ADMIN)
    @users_blp.doc(security=BEARER, description=ONLY_SECURITY + " In id order, a page at a time.")
    @users_blp.arguments(UserListArgs, location="query")
    @users_blp.response(200, UserPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List users."""
        items, next_cursor = list_users(db.session(), **args)
        return {"items": items, "next_cursor": next_cursor}

    @login_required(SECURITY_ADMIN)
    @users_blp.doc(
        security=BEARER,
        description=ONLY_SECURITY + " Without `password`, one is generated; roles that sign in "
        "with a second factor get a TOTP secret. Both are in this answer only.",
    )
    @users_blp.arguments(UserCreateSchema)
    @users_blp.response(201, CredentialsSchema)
    def post(self, body: dict[str, Any]) -> NewCredentials:
        """Create a user."""
        return admin_create_user(db.session(), **body)


@users_blp.route("/users/<int:user_id>")
class UserItem(MethodView):
    @login_required(SECURITY_ADMIN)
    @users_blp.doc(security=BEARER, description=ONLY_SECURITY)
    @users_blp.response(200, AdminUserSchema)
    def get(self, user_id: int) -> User:
        """Show one user."""
        return get_user(db.session(), user_id)

    @login_required(SECURITY_ADMIN)
    @users_blp.doc(
        security=BEARER,
        description=ONLY_SECURITY + " Change role, department, grids, district, name or "
        "`active`; disabling a user, or changing their role, ends their sessions at once.",
    )
    @users_blp.arguments(UserPatchSchema)
    @users_blp.response(200, AdminUserSchema)
    def patch(self, body: dict[str, Any], user_id: int) -> User:
        """Change a user's role, scope or whether they may sign in."""
        return update_user(
            db.session(), current_app.config["GRIDAPP"], current_user(), user_id, body
        )


@users_blp.route("/users/<int:user_id>/password")
class UserPassword(MethodView):
    @login_required(SECURITY_ADMIN)
    @users_blp.doc(
        security=BEARER,
        description=ONLY_SECURITY + " Sets the given password (12 to 128 characters) or "
        "generates one, shown in this answer only; the user's sessions end. With `totp`, or "
        "when the role needs a second factor the user lacks, a new TOTP secret comes too.",
    )
    @users_blp.arguments(PasswordResetSchema)
    @users_blp.response(200, CredentialsSchema)
    def post(self, body: dict[str, Any], user_id: int) -> NewCredentials:
        """Reset a user's password."""
        return reset_password(
            db.session(), current_app.config["GRIDAPP"], user_id, body["password"], body["totp"]
        )


@users_blp.route("/users/<int:user_id>/sessions")
class UserSessions(MethodView):
    @login_required(SECURITY_ADMIN)
    @users_blp.doc(
        security=BEARER,
        description=ONLY_SECURITY + " Every sign-in of the user, newest first, live or ended.",
    )
    @users_blp.response(200, SessionSchema(many=True))
    def get(self, user_id: int) -> list[SignInSession]:
        """List a user's sign-in sessions."""
        return list_user_sessions(db.session(), user_id)


@users_blp.route("/sessions/<string(maxlength=64):session_id>")
class SessionItem(MethodView):
    @login_required(SECURITY_ADMIN)
    @users_blp.doc(
        security=BEARER,
        description=ONLY_SECURITY + " The session's access and refresh tokens stop working "
        "at once.",
    )
    @users_blp.response(204)
    def delete(self, session_id: str) -> None:
        """Revoke a sign-in session."""
        revoke_session(db.session(), current_app.config["GRIDAPP"], session_id)


class AuditArgs(StrictSchema):
    action = fields.String(
        load_default=None,
        validate=validate.Length(max=60),
        metadata={"description": "An action (`auth.login`) or a prefix (`auth`, `admin.user`)."},
    )
    actor = fields.Integer(load_default=None, validate=validate.Range(1, 2**31 - 1))
    target_type = fields.String(load_default=None, validate=validate.Length(max=40))
    target_id = fields.String(load_default=None, validate=validate.Length(max=80))
    since = UtcDateTime(load_default=None, metadata={"description": "From this instant."})
    until = UtcDateTime(load_default=None, metadata={"description": "Before this instant."})
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 500))
    cursor = fields.String(
        load_default=None,
        validate=validate.Length(max=200),
        metadata={"description": "From `next_cursor`."},
    )


class AuditEntrySchema(StrictSchema):
    id = fields.Integer()
    at = fields.DateTime()
    actor_id = fields.Integer(allow_none=True)
    actor_role = fields.String(allow_none=True)
    action = fields.String()
    target_type = fields.String(allow_none=True)
    target_id = fields.String(allow_none=True)
    result = fields.String()
    source_ip = fields.String(allow_none=True)
    details = fields.Dict()
    hash = fields.String()


class AuditPageSchema(StrictSchema):
    items = fields.List(fields.Nested(AuditEntrySchema))
    next_cursor = fields.String(allow_none=True)


@users_blp.route("/audit")
class Audit(MethodView):
    @login_required(AUDIT_ADMIN)
    @users_blp.doc(
        security=BEARER,
        description="Audit admins only; anyone else, the system and security admins "
        "included, gets a 403. Newest first, a page at a time.",
    )
    @users_blp.arguments(AuditArgs, location="query")
    @users_blp.response(200, AuditPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Read the audit trail (审计日志)."""
        items: list[AuditEntry]
        items, next_cursor = list_audit_entries(db.session(), **args)
        return {"items": items, "next_cursor": next_cursor}


class AuditChainSchema(StrictSchema):
    intact = fields.Boolean()
    entries = fields.Integer()
    first_broken_id = fields.Integer(allow_none=True)
    reason = fields.String(allow_none=True)


@users_blp.route("/audit/verify")
class AuditVerify(MethodView):
    @login_required(AUDIT_ADMIN)
    @users_blp.doc(
        security=BEARER,
        description="Audit admins only. The oldest kept entry anchors the chain (the nightly "
        "prune removes entries past AUDIT_RETENTION_DAYS); `flask audit verify` also checks "
        "every case's history.",
    )
    @users_blp.response(200, AuditChainSchema)
    def get(self) -> AuditChainReport:
        """Recompute the audit trail's hash chain and say where it first breaks, if anywhere."""
        return verify_audit_chain(db.session())
