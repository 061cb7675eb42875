"""Request examples for the case API's OpenAPI document (the worked examples' bodies)."""

from __future__ import annotations

from typing import Any

DESK_INTAKE: dict[str, Any] = {
    "category": "RX8004",
    "description": "市民来电：小区门口路灯不亮已三天",
    "source": "hotline",
    "address": "开云镇建设路12号",
    "caller": {"name": "张先生", "phone": "13800000000"},
}
DISPATCH_BODY: dict[str, Any] = {"department": "urban-enforcement", "comment": "请尽快处置"}
