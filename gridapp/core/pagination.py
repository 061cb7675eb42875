"""One cursor format and one page helper for every list (keyset pagination).

A cursor is the sort key of the last row a page showed, as URL-safe base64 of a JSON list;
clients treat it as opaque and send it back as ``cursor`` (or ``since``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from gridapp.core.errors import ValidationFailed
from gridapp.core.i18n import _
from gridapp.core.inputs import check_json_value

# A real cursor is a few timestamps and ids; anything much longer is not one of ours.
MAX_CURSOR_LENGTH = 512
# Ids and sequence numbers in a cursor are row ids: INTEGER columns (see schemas.MAX_ID).
_MAX_KEY = 2**31 - 1

T = TypeVar("T")


def encode_cursor(*values: Any) -> str:
    """Return an opaque cursor for a row's sort key (datetimes as ISO 8601)."""
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    raw = json.dumps(plain, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, size: int, field: str = "cursor") -> list[Any] | None:
    """Return the sort key a cursor carries (``size`` values), or None for the first page."""
    if not cursor:
        return None
    if len(cursor) > MAX_CURSOR_LENGTH or not cursor.isascii():
        raise ValidationFailed(_("Invalid cursor."), errors={field: _("Use next_cursor.")})
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        check_json_value(values)
    except (ValueError, UnicodeDecodeError, ValidationFailed, RecursionError) as exc:
        raise ValidationFailed(_("Invalid cursor."), errors={field: _("Use next_cursor.")}) from exc
    if not isinstance(values, list) or len(values) != size:
        raise ValidationFailed(_("Invalid cursor."), errors={field: _("Use next_cursor.")})
    if any(isinstance(v, list | dict) for v in values):
        raise ValidationFailed(_("Invalid cursor."), errors={field: _("Use next_cursor.")})
    return values


def cursor_datetime(value: Any, field: str = "cursor") -> datetime | None:
    """Read a datetime a cursor carries (None stays None)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.isascii():
        raise ValidationFailed(_("Invalid cursor."), errors={field: _("Use next_cursor.")})
    try:
        moment = datetime.fromisoformat(value)
        # Ours are UTC; one that UTC cannot hold (year 9999 at -14:00) is no cursor of ours.
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError) as exc:
        raise ValidationFailed(_("Invalid cursor."), errors={field: _("Use next_cursor.")}) from exc


def cursor_int(value: Any, field: str = "cursor") -> int:
    """Read a row id a cursor carries."""
    if not isinstance(value, int) or isinstance(value, bool) or not -_MAX_KEY <= value <= _MAX_KEY:
        raise ValidationFailed(_("Invalid cursor."), errors={field: _("Use next_cursor.")})
    return value


def paginate(
    rows: Sequence[T], limit: int, key: Callable[[T], Sequence[Any]]
) -> tuple[list[T], str | None]:
    """Cut ``limit + 1`` fetched rows to a page and the cursor of the next one (None: last)."""
    page = list(rows[:limit])
    if len(rows) > limit and page:
        return page, encode_cursor(*key(page[-1]))
    return page, None
