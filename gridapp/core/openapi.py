"""Print the OpenAPI document (``make openapi`` writes it to ``mobile-api/openapi.json``)."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from flask import Flask

from gridapp.core.openapi_examples import with_examples

CHECKED_IN = Path(__file__).resolve().parents[2] / "mobile-api" / "openapi.json"


def document(app: Flask) -> dict[str, Any]:
    """Return the document as ``/openapi.json`` serves it: the spec with its worked examples."""
    from gridapp.core.extensions import api

    with app.app_context():
        spec: dict[str, Any] = api.spec.to_dict()
    return with_examples(spec)


def render(spec: dict[str, Any]) -> str:
    return json.dumps(spec, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def main() -> int:
    from gridapp import create_app

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            {"var_dir": Path(tmp), "database_url": f"sqlite:///{tmp}/x.db", "testing": True}
        )
        sys.stdout.write(render(document(app)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
