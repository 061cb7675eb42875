"""Security headers on every answer (安全响应头).

One policy for everything the app serves, with one exception:

* API answers and the Vite-built console (``/console/``): scripts, styles, images and calls only
  from this origin, no inline script, never framed; API answers are never stored by a cache.
* Swagger UI (``/docs``) starts itself with one inline script: its exact text is allowed by its
  SHA-256 (nothing else inline runs), and its inline styles are allowed.

HSTS is sent on answers served over HTTPS, as the request sees it (behind nginx, set
``PROXIES=1`` so ``X-Forwarded-Proto`` counts).
"""

from __future__ import annotations

import base64
import hashlib
import re

from flask import Flask, Response, current_app, request

# Vite's build emits module scripts and stylesheets as files; map tiles and photo previews are
# images from this origin, data: or blob: URLs.
CONSOLE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; worker-src 'self' blob:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.S)
API_PREFIX = "/api/"
DOCS_PATH = "/docs"


def _script_hashes(html: bytes) -> str:
    """The CSP source of each inline script in a page: 'sha256-…'."""
    return " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(html)
    )


def _policy(response: Response) -> str:
    if request.path == DOCS_PATH and response.mimetype == "text/html":
        return DOCS_POLICY.format(hashes=_script_hashes(response.get_data()))
    return CONSOLE_POLICY


def add_security_headers(response: Response) -> Response:
    """Set the headers on one answer (errors included)."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", _policy(response))
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.path.startswith(API_PREFIX) and "Cache-Control" not in headers:
        # Answers hold cases, names and locations: no shared or browser cache keeps them.
        headers["Cache-Control"] = "no-store"
    seconds = current_app.config["GRIDAPP"].hsts_seconds
    if request.is_secure and seconds > 0:
        headers.setdefault("Strict-Transport-Security", f"max-age={seconds}; includeSubDomains")
    return response


def register_security_headers(app: Flask) -> None:
    """Add the security headers to every answer the app makes."""
    app.after_request(add_security_headers)
