"""Extensions created unbound; ``create_app`` attaches them."""

from __future__ import annotations

from flask_smorest import Api

from gridapp.db import Database
from gridapp.queue import RedisProvider

db = Database()
redis = RedisProvider()
api = Api()
