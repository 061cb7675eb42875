"""One gate for what clients send: JSON bodies, path and query text (输入校验).

Every JSON body is read here (the REST parser and the phone's multipart ``data`` field alike), so
one set of rules holds everywhere: valid UTF-8, at most ``MAX_JSON_DEPTH`` levels of nesting, no
number the parser would choke on (a 5,000-digit integer, ``NaN``, ``1e999``), and no text that the
database cannot store (a NUL character) or that is not Unicode at all (a lone surrogate from a
``\\ud800`` escape). Path segments and query values get the text rule before any view runs.
Refusals are 400 (not JSON) or 422 naming the field, never a 500 further down.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

from flask import Flask, request

from gridapp.core.errors import GridappError, ValidationFailed
from gridapp.core.i18n import _

# Deeper than any body the API defines (a report is 3 levels); json's C scanner would recurse
# a thousand levels deep before it gives up with a RecursionError.
MAX_JSON_DEPTH = 32
# An integer longer than this cannot be an id, a version or a score.
MAX_INTEGER_DIGITS = 20
# A lone surrogate is not a character: no encoder (UTF-8, psycopg, SQLite) accepts one.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
ASCII_DIGITS = re.compile(r"[0-9]+", re.ASCII)


class MalformedBody(GridappError):
    """A body that is not the JSON it claims to be."""

    status = 400
    type_slug = "malformed-body"


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise ValueError("integer too long")
    return int(text)


def _parse_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError("number out of range")
    return number


def _refuse_constant(text: str) -> Any:
    raise ValueError(f"{text} is not a JSON number")


def load_json_text(raw: bytes | str) -> Any:
    """Parse a JSON document by the rules above; raise MalformedBody or ValidationFailed."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        data = json.loads(
            text,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_refuse_constant,
        )
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError too
        raise MalformedBody(_("The body is not valid JSON.")) from exc
    check_json_value(data)
    return data


def check_json_value(data: Any) -> None:
    """Refuse a parsed document nested too deeply or holding text the database cannot store."""
    bad: dict[str, str] = {}
    for path, depth, value in _walk(data):
        if depth > MAX_JSON_DEPTH:
            raise MalformedBody(
                _("The body is nested deeper than %(depth)s levels.", depth=MAX_JSON_DEPTH)
            )
        if isinstance(value, str) and _UNSTORABLE.search(value):
            bad.setdefault(path or "_schema", _unstorable_message())
    if bad:
        raise ValidationFailed(_("The request has invalid fields."), errors=bad)


def _walk(data: Any) -> Iterator[tuple[str, int, Any]]:
    """Yield (dotted path, depth, value) of every node and key, without recursion."""
    stack: list[tuple[str, int, Any]] = [("", 0, data)]
    while stack:
        path, depth, value = stack.pop()
        yield path, depth, value
        if isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{key}" if path else str(key)
                # A key is text too; report it under its parent's path.
                yield path, depth + 1, key
                stack.append((child, depth + 1, item))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                stack.append((f"{path}.{i}" if path else str(i), depth + 1, item))


def _unstorable_message() -> str:
    return _("Text must not hold NUL characters or lone surrogates.")


def check_request_text() -> None:
    """Refuse a path or query value the database could not store (before any view runs)."""
    bad: dict[str, str] = {}
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str) and _UNSTORABLE.search(value):
            bad[name] = _unstorable_message()
    for name, value in request.args.items(multi=True):
        if _UNSTORABLE.search(value) or _UNSTORABLE.search(name):
            bad[name if not _UNSTORABLE.search(name) else "_schema"] = _unstorable_message()
    if bad:
        raise ValidationFailed(_("The request has invalid fields."), errors=bad)


def ascii_digits(text: str) -> bool:
    """Tell whether ``text`` is made only of 0-9 (``str.isdigit`` also takes ٣, ３ and ²)."""
    return ASCII_DIGITS.fullmatch(text) is not None


def register_input_checks(app: Flask) -> None:
    """Check path and query text before any view runs."""
    app.before_request(check_request_text)
