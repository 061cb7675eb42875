"""The gunicorn entry point: ``gunicorn wsgi:app``."""

import gc

from gridapp import create_app
from gridapp.core.app import warm_worker

app = create_app()
# Before the first request, not during it: at a city's map the index takes seconds to build.
warm_worker(app)
# What the app holds from start-up (modules, the process definitions, SQLAlchemy's mappers, the
# grid index) lives as long as the worker: out of the collector's reach, a full collection no
# longer walks it on a request (profiled: collections inside the write path cost ~1.5 ms per
# statement's result). The map's load leaves garbage in reference cycles: collected first, not
# frozen for good. (The index has no cycles: a map change frees the old one.)
gc.collect()
gc.freeze()
