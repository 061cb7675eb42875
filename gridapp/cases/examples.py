"""Request examples for the case API's OpenAPI document (the worked examples' bodies).

Their texts are what a Chinese user types, so they live with the demo data
(``gridapp/data/openapi_examples.json``).
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

_EXAMPLES: dict[str, dict[str, Any]] = json.loads(
    files("gridapp.data").joinpath("openapi_examples.json").read_text(encoding="utf-8")
)
DESK_INTAKE: dict[str, Any] = _EXAMPLES["desk_intake"]
DISPATCH_BODY: dict[str, Any] = _EXAMPLES["dispatch"]
