"""The gridapp exception family, mapped to RFC 9457 problem+json in ``gridapp.core.problems``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gridapp.core.i18n import N_


class GridappError(Exception):
    """Base of every error the application raises on purpose.

    ``detail`` and the ``errors`` messages are in the reader's language (made with gettext);
    ``title`` is the English one, translated when the problem is answered.
    """

    status = 400
    title = N_("Bad request")
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
    title = N_("Configuration error")
    type_slug = "configuration"


class ValidationFailed(GridappError):
    status = 422
    title = N_("Invalid input")
    type_slug = "validation"


class NotFound(GridappError):
    status = 404
    title = N_("Not found")
    type_slug = "not-found"


class OutOfScope(NotFound):
    """An object that exists outside the caller's scope: answered as a 404 like a missing one
    (its existence stays hidden), and audited as a denial, which a missing one is not."""

    def __init__(self, detail: str, *, target_type: str, target_id: object) -> None:
        super().__init__(detail)
        self.target_type = target_type
        self.target_id = target_id


class Conflict(GridappError):
    status = 409
    title = N_("Conflict")
    type_slug = "conflict"


class PreconditionFailed(GridappError):
    status = 412
    title = N_("Precondition failed")
    type_slug = "stale-version"


class PreconditionRequired(GridappError):
    status = 428
    title = N_("Precondition required")
    type_slug = "if-match-required"


class AuthenticationFailed(GridappError):
    status = 401
    title = N_("Authentication failed")
    type_slug = "unauthenticated"


class Forbidden(GridappError):
    status = 403
    title = N_("Forbidden")
    type_slug = "forbidden"


# Raised by the rate limit of Open311 integrator keys (the channels issue); nothing else yet.
class TooManyRequests(GridappError):
    status = 429
    title = N_("Too many requests")
    type_slug = "too-many-requests"


class PayloadTooLarge(GridappError):
    status = 413
    title = N_("Payload too large")
    type_slug = "payload-too-large"


class UnsupportedMedia(GridappError):
    status = 415
    title = N_("Unsupported media type")
    type_slug = "unsupported-media"
