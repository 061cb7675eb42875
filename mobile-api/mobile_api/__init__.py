"""The mobile contract: blueprints and schemas the phone apps use, under /api/v1/mobile."""

from __future__ import annotations

from flask_smorest import Api


def register(api: Api) -> None:
    """Attach the mobile blueprints to gridapp's API (called by ``create_app`` only)."""
    from mobile_api import media, patrol, views

    for blueprint in views.BLUEPRINTS:
        api.register_blueprint(blueprint)
    api.register_blueprint(media.blp)
    api.register_blueprint(patrol.blp)
