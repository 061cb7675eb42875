"""The gunicorn entry point: ``gunicorn wsgi:app``."""

import gc

from gridapp import create_app

app = create_app()
# What the app holds from start-up (modules, the process definitions, SQLAlchemy's mappers) lives
# as long as the worker: out of the collector's reach, a full collection no longer walks it on
# a request (profiled: collections inside the write path cost ~1.5 ms per statement's result).
gc.freeze()
