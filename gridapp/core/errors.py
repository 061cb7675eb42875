"""The gridapp exception family, mapped to RFC 9457 problem+json in ``gridapp.core.problems``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class GridappError(Exception):
    """Base of every error the application raises on purpose."""

    status = 400
    title = "Bad request"
    type_slug = "bad-request"

    def __init__(
        self,
        detail: str,
        *,
        errors: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        # Kept as given (strings, lists or nested fields): problem() flattens them in one place.
        self.errors: dict[str, Any] = dict(errors or {})
        self.extra = dict(extra or {})


class ConfigurationError(GridappError):
    status = 500
    title = "Configuration error"
    type_slug = "configuration"


class ValidationFailed(GridappError):
    status = 422
    title = "Invalid input"
    type_slug = "validation"


class NotFound(GridappError):
    status = 404
    title = "Not found"
    type_slug = "not-found"


class Conflict(GridappError):
    status = 409
    title = "Conflict"
    type_slug = "conflict"


class PreconditionFailed(GridappError):
    status = 412
    title = "Precondition failed"
    type_slug = "stale-version"


class PreconditionRequired(GridappError):
    status = 428
    title = "Precondition required"
    type_slug = "if-match-required"


class AuthenticationFailed(GridappError):
    status = 401
    title = "Authentication failed"
    type_slug = "unauthenticated"


class Forbidden(GridappError):
    status = 403
    title = "Forbidden"
    type_slug = "forbidden"


# Raised by the rate limit of Open311 integrator keys (the channels issue); nothing else yet.
class TooManyRequests(GridappError):
    status = 429
    title = "Too many requests"
    type_slug = "too-many-requests"


class PayloadTooLarge(GridappError):
    status = 413
    title = "Payload too large"
    type_slug = "payload-too-large"


class UnsupportedMedia(GridappError):
    status = 415
    title = "Unsupported media type"
    type_slug = "unsupported-media"
