"""Column types that work the same on SQLite and PostGIS."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import shapely
from geoalchemy2 import Geometry as PostGISGeometry
from geoalchemy2.elements import WKBElement
from shapely.geometry.base import BaseGeometry
from sqlalchemy import JSON, DateTime, LargeBinary
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

SRID = 4326


class Geometry(TypeDecorator[BaseGeometry]):
    """A shapely geometry: PostGIS ``geometry(kind, 4326)`` or WKB bytes on SQLite.

    GeoAlchemy2's ``Geometry.with_variant(LargeBinary, "sqlite")`` still fires SpatiaLite DDL on
    SQLite, hence this decorator choosing the implementation per dialect instead.
    """

    impl = LargeBinary
    cache_ok = True
    # GeoAlchemy2's PostgreSQL DDL listener reads it; the GiST indexes are declared explicitly.
    spatial_index = False

    def __init__(self, kind: str = "GEOMETRY") -> None:
        super().__init__()
        self.kind = kind.upper()

    def load_dialect_impl(self, dialect: Dialect | None) -> TypeEngine[Any]:
        if dialect is not None and dialect.name == "postgresql":
            return dialect.type_descriptor(
                PostGISGeometry(self.kind, srid=SRID, spatial_index=False)
            )
        return LargeBinary() if dialect is None else dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value: BaseGeometry | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        wkb = shapely.to_wkb(value)
        if dialect.name == "postgresql":
            return WKBElement(wkb, srid=SRID)
        return wkb

    def process_result_value(self, value: Any, dialect: Dialect) -> BaseGeometry | None:
        if value is None:
            return None
        if isinstance(value, WKBElement):
            data = value.data
            return shapely.from_wkb(bytes(data) if not isinstance(data, str) else data)
        if isinstance(value, memoryview):
            value = value.tobytes()
        return shapely.from_wkb(value)

    def __repr__(self) -> str:
        return f"Geometry({self.kind!r})"


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored in UTC; SQLite keeps no offset, so it is added back on load."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def __repr__(self) -> str:
        return "UTCDateTime()"


JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)
