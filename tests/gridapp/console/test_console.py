"""The console is served by gridapp itself, from its own files, with no outside request."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.gridapp.console.build import built_console

# Text in the bundles that names a host without ever requesting it: XML namespaces, and the
# libraries' documentation links inside their developer warnings. Placeholders end in .example.
NEVER_REQUESTED = {
    "www.w3.org",
    "element-plus.org",
    "vuejs.org",
    "github.com",
    "maplibre.org",
}
URL = re.compile(r"https?://([A-Za-z0-9.-]+)")
LOADS = re.compile(r"""(?:src|href)\s*=\s*["']?(https?:)?//""", re.I)


@pytest.fixture(scope="module")
def static() -> Path:
    return built_console()


def test_the_built_page_names_no_outside_host(static: Path) -> None:
    files = [p for p in static.rglob("*") if p.suffix in {".html", ".js", ".css"}]
    assert any(p.suffix == ".js" for p in files)
    outside = set()
    for path in files:
        for host in URL.findall(path.read_text(encoding="utf-8", errors="replace")):
            if host not in NEVER_REQUESTED and not host.endswith(".example"):
                outside.add((path.name, host))
    assert not outside, f"the built console names outside hosts: {sorted(outside)}"
    index = (static / "index.html").read_text(encoding="utf-8")
    assert not LOADS.search(index), "index.html loads something from another host"
    css = "".join(p.read_text(encoding="utf-8") for p in files if p.suffix == ".css")
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", css), "a style sheet loads from outside"


def test_console_is_served_at_console_with_its_routes(client, static: Path) -> None:
    page = client.get("/console/")
    assert page.status_code == 200
    assert "text/html" in page.content_type
    html = page.get_data(as_text=True)
    assert '<div id="app">' in html
    assets = re.findall(r'(?:src|href)="(/console/assets/[^"]+)"', html)
    assert assets
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert "immutable" in response.headers["Cache-Control"]
    # The console's own routes (history mode) answer the page; a missing asset is a 404.
    assert client.get("/console/cases/12").get_data(as_text=True) == html
    assert client.get("/console/assets/nothing.js").status_code == 404


def test_root_sends_the_visitor_to_the_console(client) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/console/")


def test_console_api_types_are_generated_from_the_checked_in_document(static: Path) -> None:
    """console/src/api/schema.d.ts is openapi-typescript's output for mobile-api/openapi.json."""
    import subprocess

    from tests.drift import assert_no_drift
    from tests.gridapp.console.build import ROOT

    console = ROOT / "console"
    generated = subprocess.run(
        ["npx", "--no-install", "openapi-typescript", "../mobile-api/openapi.json"],
        cwd=console,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert_no_drift(
        (console / "src" / "api" / "schema.d.ts").read_text(encoding="utf-8"),
        generated,
        ("console/src/api/schema.d.ts", "openapi-typescript"),
        "The console's API types are out of date: cd console && npm run api-types",
    )
