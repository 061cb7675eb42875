"""One cursor format and one page helper for every list (keyset pagination).

A cursor is the sort key of the last row a page showed, as URL-safe base64 of a JSON list;
clients treat it as opaque and send it back as ``cursor`` (or ``since``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from gridapp.core.errors import ValidationFailed
from gridapp.core.i18n import _

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
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed(_("Invalid cursor."), errors={field: _("Use next_cursor.")}) from exc
    if not isinstance(values, list) or len(values) != size:
        raise ValidationFailed(_("Invalid cursor."), errors={field: _("Use next_cursor.")})
    return values


def cursor_datetime(value: Any, field: str = "cursor") -> datetime | None:
    """Read a datetime a cursor carries (None stays None)."""
    if value is None:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise ValidationFailed(_("Invalid cursor."), errors={field: _("Use next_cursor.")}) from exc


def cursor_int(value: Any, field: str = "cursor") -> int:
    """Read a row id a cursor carries."""
    if not isinstance(value, int) or isinstance(value, bool):
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
