"""README's Settings table lists exactly the environment variables the code reads, and defaults.

The code is scanned rather than a list kept beside it, so a setting added with ``env.get("X")``
fails here until README names it.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from gridapp.core.config import PROJECT_ROOT

SOURCES = ("gridapp", "mobile-api/mobile_api", "wsgi.py")
# Names that hold the process environment, or a mapping of it, wherever settings are read.
ENVIRON_NAMES = frozenset({"env", "environ"})
NO_DEFAULT = object()


def _is_environ(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id in ENVIRON_NAMES
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "environ"
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    )


def _constant(node: ast.expr | None) -> object:
    """Return a default made of literals (``15 * 1024 * 1024`` too), else NO_DEFAULT."""
    # An empty default reads as "unset" (``env.get("GRIDAPP_ENV", "")``).
    if node is None or (isinstance(node, ast.Constant) and node.value == ""):
        return NO_DEFAULT
    allowed = (ast.Expression, ast.Constant, ast.BinOp, ast.operator)
    expression = ast.Expression(node)
    if not all(isinstance(n, allowed) for n in ast.walk(expression)):
        return NO_DEFAULT
    # Only literals and arithmetic on them reach eval (checked just above).
    return eval(compile(expression, "<default>", "eval"))


def _reads(tree: ast.AST) -> Iterator[tuple[str, object]]:
    """Yield (name, literal default or NO_DEFAULT) of every environment variable read."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
            if _is_environ(node.value) and isinstance(node.slice, ast.Constant):
                yield str(node.slice.value), NO_DEFAULT
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            # env.get("X", default), os.getenv("X", default)
            getter = isinstance(func, ast.Attribute) and (
                (func.attr == "get" and _is_environ(func.value))
                or (func.attr == "getenv" and isinstance(func.value, ast.Name))
            )
            # helper(env, "X", ...), e.g. _truthy(env, "DEMO")
            helper = len(node.args) >= 2 and _is_environ(node.args[0])
            name = node.args[1] if helper else node.args[0] if getter else None
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                default = node.args[1] if getter and len(node.args) > 1 else None
                yield name.value, _constant(default)


def settings_read() -> dict[str, object]:
    found: dict[str, object] = {}
    for source in SOURCES:
        root = PROJECT_ROOT / source
        for path in [root] if root.is_file() else sorted(root.rglob("*.py")):
            for name, default in _reads(ast.parse(path.read_text(), str(path))):
                found[name] = default
    return found


def documented_settings(readme: Path = PROJECT_ROOT / "README.md") -> dict[str, str]:
    """Return README's Settings table as {name: default cell}."""
    section = re.search(r"^## Settings\n(.*?)(?=^## )", readme.read_text(), re.S | re.M)
    assert section is not None, "README has no '## Settings' section"
    rows = re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \| (.*?) \|", section.group(1), re.M)
    return dict(rows)


def test_the_scan_finds_settings_read_in_each_way():
    found = settings_read()

    # env.get with a default, a helper taking env, os.environ.get at module level.
    assert found["ACCESS_TOKEN_MINUTES"] == 15
    assert found["MAX_UPLOAD_BYTES"] == 15 * 1024 * 1024
    assert "DEMO" in found
    assert found["GRIDAPP_BIND"] == "127.0.0.1:5000"


def test_readme_lists_every_setting_the_code_reads():
    missing = sorted(set(settings_read()) - set(documented_settings()))

    assert missing == [], f"README's Settings table lacks {', '.join(missing)}"


def test_readme_lists_no_setting_the_code_does_not_read():
    stale = sorted(set(documented_settings()) - set(settings_read()))

    assert stale == [], f"README's Settings table lists {', '.join(stale)}, which nothing reads"


def test_readme_gives_the_literal_defaults_the_code_has():
    documented = documented_settings()

    wrong = {
        name: (default, documented[name])
        for name, default in settings_read().items()
        if default is not NO_DEFAULT and name in documented
        if f"`{default}`" not in documented[name]
    }

    assert wrong == {}
