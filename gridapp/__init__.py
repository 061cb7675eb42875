"""gridapp: grid-based urban and social governance (数字城管 / 网格化服务管理)."""

from gridapp.core.app import create_app

__all__ = ["create_app"]
