"""Sign-in, token refresh, sign-out and who-am-I."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from marshmallow import fields, validate

from gridapp.accounts.models import ROLES, User
from gridapp.accounts.sessions import (
    TokenPair,
    authenticate_user,
    refresh_tokens,
    revoke_refresh_token,
)
from gridapp.core.extensions import db
from gridapp.core.limits import rate_limit
from gridapp.core.principal import BEARER, current_user, login_required
from gridapp.core.rest import Blueprint
from gridapp.core.schemas import StrictSchema

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Sign-in and tokens")


class LoginSchema(StrictSchema):
    username = fields.String(required=True)
    password = fields.String(required=True, load_only=True)
    otp = fields.String(load_default=None, metadata={"description": "TOTP code (6 digits)."})


class RefreshSchema(StrictSchema):
    refresh_token = fields.String(required=True)


class MeSchema(StrictSchema):
    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    role = fields.String(validate=validate.OneOf(ROLES))
    department = fields.String(attribute="department_code", allow_none=True)
    grids = fields.List(fields.String(), attribute="grid_codes")
    district = fields.String(attribute="district_code", allow_none=True)


class TokenSchema(StrictSchema):
    access_token = fields.String()
    access_expires_at = fields.DateTime()
    refresh_token = fields.String()
    refresh_expires_at = fields.DateTime()
    token_type = fields.String(dump_default="Bearer")
    user = fields.Nested(MeSchema)


@blp.route("/login")
class Login(MethodView):
    @blp.doc(
        description="Anyone may call. Acceptors, dispatchers, shift leaders, hotline "
        "operators, supervisors and admins also send `otp`, the current TOTP code; without it, "
        "or with a wrong one, the answer is a 401 with `mfa_required: true` and no token. A "
        "wrong username or password is a 401; repeated failures lock the account for a while "
        "(401 with `locked_until`). Send the `access_token` as `Authorization: Bearer …` (it "
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
            )
        except Exception:
            # A failed sign-in still counts against the lockout: keep the counter.
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
        description="Any signed-in user, with the refresh token of their own sign-in; another "
        "user's token or an unknown one changes nothing (still 204). The access token keeps "
        "working until it expires: forget it on the device.",
    )
    @blp.arguments(RefreshSchema)
    @blp.response(204)
    @login_required()
    def post(self, body: dict[str, Any]) -> None:
        """Sign out: the refresh token and its family stop working."""
        revoke_refresh_token(db.session(), body["refresh_token"], current_user())


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
