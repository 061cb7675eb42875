"""The reader's language: Simplified Chinese by default, English when ``Accept-Language`` asks.

Texts are English msgids marked with ``gettext`` (``_``), ``ngettext``, ``pgettext`` or ``N_``
(a marker for texts translated later, where they are shown), with named placeholders; the
catalogues are ``gridapp/translations/<locale>/LC_MESSAGES/messages.po`` (``make messages``).
Labels of states, actions and roles are not in the catalogues: in Chinese they are the process
definitions' own, in English the enum's value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from contextlib import AbstractContextManager
from pathlib import Path

import flask_babel
from babel import Locale
from flask import has_request_context, request

import workflow

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"
DEFAULT_LOCALE = "zh_Hans"
# Accept-Language tags we answer, best match first, and the catalogue each one reads.
LANGUAGES = {"zh": DEFAULT_LOCALE, "en": "en"}
# Texts outside a request (CLI commands, logs) stay the msgids: operators type English commands.
# Notifications are stored texts and are written in DEFAULT_LOCALE wherever they are made.
OUTSIDE_REQUEST_LOCALE = "en"


def gettext(message: str, **variables: object) -> str:
    """Translate ``message`` into the reader's language and fill its ``%(name)s``."""
    return str(flask_babel.gettext(message, **variables))


_ = gettext


def ngettext(singular: str, plural: str, num: int, **variables: object) -> str:
    """Translate the form of a message for ``num`` (``%(num)d``) and fill its placeholders."""
    return str(flask_babel.ngettext(singular, plural, num, **variables))


def pgettext(context: str, message: str, **variables: object) -> str:
    """Translate ``message`` in a context (the same English may read differently)."""
    return str(flask_babel.pgettext(context, message, **variables))


def N_(message: str) -> str:  # noqa: N802 (the name every extractor knows)
    """Mark a text for the catalogue; it is translated where it is shown (``gettext(text)``)."""
    return message


# Each catalogue's locale parsed once: Babel parses a name it is given afresh every time, and
# the locale is chosen on every request (profiled: a few percent of a phone's report).
_PARSED = {name: Locale.parse(name) for name in {*LANGUAGES.values(), OUTSIDE_REQUEST_LOCALE}}


def select_locale() -> Locale:
    """Return the catalogue for this request: the best ``Accept-Language`` match, else Chinese."""
    if not has_request_context():
        return _PARSED[OUTSIDE_REQUEST_LOCALE]
    # Werkzeug falls back to the primary tag, so zh-CN, zh-Hans and zh-TW all read Chinese.
    best = request.accept_languages.best_match(tuple(LANGUAGES))
    return _PARSED[LANGUAGES[best] if best else DEFAULT_LOCALE]


def stored_language() -> AbstractContextManager[None]:
    """Make texts that are stored (notifications) in the default language, Chinese.

    They are written once, at the time of the action, and read later by people whose
    ``Accept-Language`` is not known then.
    """
    context: AbstractContextManager[None] = flask_babel.force_locale(_PARSED[DEFAULT_LOCALE])
    return context


def reads_chinese() -> bool:
    """Return whether the texts now being made are Chinese."""
    locale = flask_babel.get_locale()
    return locale is not None and locale.language == "zh"


# How the OpenAPI document describes a label field.
LABEL_DESCRIPTION = (
    "The label in the reader's language: the definition's Chinese one by default, the name "
    "in words with `Accept-Language: en`."
)


def _humanised(value: str) -> str:
    return value.replace("_", " ")


def state_label(
    state: workflow.State | str, definition: workflow.ProcessDefinition | None = None
) -> str:
    """Return a state's label: the (process's) definition's Chinese one, or the value in English."""
    state = workflow.State(state)
    if not reads_chinese():
        return _humanised(state.value)
    return definition.state_label(state) if definition else workflow.STATE_LABELS[state]


def action_label(action: workflow.Action | str) -> str:
    """Return an action's label: the definitions' Chinese one, or the value in English."""
    action = workflow.Action(action)
    return workflow.ACTION_LABELS[action] if reads_chinese() else _humanised(action.value)


def role_label(role: workflow.Role | str) -> str:
    """Return a role's label: the definitions' Chinese one, or the value in English."""
    role = workflow.Role(role)
    return workflow.ROLE_LABELS[role] if reads_chinese() else _humanised(role.value)


def join_or(items: Iterable[str]) -> str:
    """Join ``a, b or c`` (``a、b或c``)."""
    words = list(items)
    if len(words) < 2:
        return "".join(words)
    head = pgettext("list separator", ", ").join(words[:-1])
    return gettext("%(items)s or %(last)s", items=head, last=words[-1])


def join_clauses(items: Iterable[str]) -> str:
    """Join whole clauses: ``a; b`` (``a；b``)."""
    return pgettext("clause separator", "; ").join(items)


# What the libraries say to clients (marshmallow's and webargs' field messages, werkzeug's
# titles and descriptions, geo's): their English texts are the msgids. A ``%(name)s`` stands
# for the part the library fills in.
LIBRARY_MESSAGES = (
    # marshmallow
    N_("Missing data for required field."),
    N_("Field may not be null."),
    N_("Unknown field."),
    N_("Invalid input type."),
    N_("Invalid type."),
    N_("Invalid value."),
    N_("Invalid input."),
    N_("Not a valid string."),
    N_("Not a valid utf-8 string."),
    N_("Not a valid integer."),
    N_("Not a valid number."),
    N_("Not a valid boolean."),
    N_("Not a valid list."),
    N_("Not a valid mapping type."),
    N_("Not a valid datetime."),
    N_("Not a valid date."),
    N_("Not a valid aware datetime."),
    N_("Not a valid naive datetime."),
    N_("Not a valid UUID."),
    N_("Not a valid URL."),
    N_("Not a valid email address."),
    N_("Number too large."),
    N_("Special numeric values (nan or infinity) are not permitted."),
    N_("String does not match expected pattern."),
    N_('"%(input)s" cannot be formatted as a datetime.'),
    N_("Must be one of: %(choices)s."),
    N_("Must be greater than or equal to %(min)s and less than or equal to %(max)s."),
    N_("Must be greater than %(min)s and less than %(max)s."),
    N_("Must be greater than or equal to %(min)s and less than %(max)s."),
    N_("Must be greater than %(min)s and less than or equal to %(max)s."),
    N_("Must be greater than or equal to %(min)s."),
    N_("Must be greater than %(min)s."),
    N_("Must be less than or equal to %(max)s."),
    N_("Must be less than %(max)s."),
    N_("Length must be between %(min)s and %(max)s."),
    N_("Length must be %(equal)s."),
    N_("Shorter than minimum length %(min)s."),
    N_("Longer than maximum length %(max)s."),
    # webargs
    N_("Invalid JSON body."),
    # geo
    N_("Point (%(lon)s, %(lat)s) is outside the jurisdiction"),
    N_("Unknown CRS %(crs)s; use one of %(valid)s"),
)
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _pattern(msgid: str) -> re.Pattern[str]:
    parts = _PLACEHOLDER.split(msgid)
    # split() alternates literal text and placeholder names.
    regex = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts)
    )
    return re.compile(regex + r"\Z", re.DOTALL)


_TEMPLATES = tuple((_pattern(m), m) for m in LIBRARY_MESSAGES if "%(" in m)


def translate_message(message: str) -> str:
    """Return a library's (or a marked) message in the reader's language.

    A text not in the catalogue comes back as it is.
    """
    if not message:
        return message  # gettext("") is the catalogue's header
    translated = gettext(message)
    if translated != message or "%(" in message:
        return translated
    for pattern, msgid in _TEMPLATES:
        found = pattern.match(message)
        if found:
            return gettext(msgid, **found.groupdict())
    return message
