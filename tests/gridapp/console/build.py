"""The built console for the tests: built by `make console` (or here, when it is missing)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
STATIC = ROOT / "gridapp" / "console" / "static"


def built_console() -> Path:
    """Return the build's folder, building it first when it is missing (as `make run` does)."""
    if not (STATIC / "index.html").is_file():
        subprocess.run(["bash", str(ROOT / "scripts" / "build-console.sh")], check=True)
    return STATIC
