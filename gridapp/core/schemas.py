"""Marshmallow schemas shared by the views (the OpenAPI document is generated from them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate

import geo
from gridapp.core.i18n import N_
from gridapp.core.inputs import ascii_digits

CRS_NAMES = tuple(crs.value for crs in geo.CRS)
# Row ids are INTEGER columns: 32-bit signed on PostgreSQL, the narrower of the two backends.
# A larger number can name nothing, so it is refused before it reaches the database.
MAX_ID = 2**31 - 1


class Integer(fields.Integer):
    """A whole number written with the digits 0-9 (``int()`` would also read ٣ or ３ as 3)."""

    def _validated(self, value: Any) -> int:
        if isinstance(value, str) and not ascii_digits(value.strip().removeprefix("-")):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class Float(fields.Float):
    """A number written in ASCII (``float()`` would also read full-width digits)."""

    def _validated(self, value: Any) -> float:
        if isinstance(value, str) and not value.isascii():
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


def record_id(**kwargs: object) -> fields.Integer:
    """An id of a stored row (a case, a user, a photo): a positive 64-bit integer."""
    return Integer(
        validate=validate.Range(1, MAX_ID, error=N_("Not an id: ids are whole numbers from 1.")),
        **kwargs,  # type: ignore[arg-type]
    )


class UtcDateTime(fields.AwareDateTime):
    """An ISO 8601 time with offset, read as UTC; one that UTC cannot hold is a field error."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(UTC)
        except OverflowError as exc:
            raise ValidationError(N_("Not a time UTC can hold (year 1 to 9999).")) from exc


class CrsField(fields.String):
    """A coordinate reference system's name, in any letter case ("GCJ02" reads as gcj02)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("load_default", geo.CRS.wgs84.value)
        metadata = {"description": "Case-insensitive (`GCJ02` reads as `gcj02`)."}
        metadata.update(kwargs.pop("metadata", {}))
        super().__init__(validate=validate.OneOf(CRS_NAMES), metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        # Lower-cased before OneOf sees it: phone SDKs and integrators spell it "GCJ02".
        return super()._deserialize(value, attr, data, **kwargs).strip().lower()


class RoundedFloat(Float):
    """A number shown to so many decimals (a map's bbox, an area in km²)."""

    def __init__(self, places: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.places = places

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> float | None:
        number = super()._serialize(value, attr, obj, **kwargs)
        return None if number is None else round(float(number), self.places)


class StrictSchema(Schema):
    """Unknown fields are errors, so a misspelt field never passes silently."""

    class Meta:
        ordered = True


class PointSchema(StrictSchema):
    lon = Float(required=True, validate=validate.Range(-180, 180))
    lat = Float(required=True, validate=validate.Range(-90, 90))


class PointWithCrsSchema(PointSchema):
    crs = CrsField()


class AreaRefSchema(StrictSchema):
    code = fields.String()
    name = fields.String()


class ProblemSchema(Schema):
    """An RFC 9457 problem, the body of every error answer (``application/problem+json``)."""

    class Meta:
        ordered = True
        unknown = INCLUDE  # extension members: mfa_required, current_version, locked_until …

    type = fields.String(metadata={"description": "A URI naming the kind of problem."})
    title = fields.String(metadata={"description": "A short summary of that kind."})
    status = fields.Integer(metadata={"description": "The HTTP status code."})
    detail = fields.String(metadata={"description": "What went wrong this time."})
    instance = fields.String(metadata={"description": "The path that was called."})
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={
            "description": "For invalid input (every 422): dotted field path (`location.lon`, "
            "`photos.0`; `_schema` for the body as a whole) → messages."
        },
    )
