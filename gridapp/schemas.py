"""Marshmallow schemas shared by the views (the OpenAPI document is generated from them)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

CRS_NAMES = ("wgs84", "gcj02", "bd09", "cgcs2000")
# Row ids are 64-bit signed integers in both databases; a larger number can name nothing.
MAX_ID = 2**63 - 1


def record_id(**kwargs: object) -> fields.Integer:
    """An id of a stored row (a case, a user, a photo): a positive 64-bit integer."""
    return fields.Integer(
        validate=validate.Range(1, MAX_ID, error="Not an id: ids are whole numbers from 1."),
        **kwargs,  # type: ignore[arg-type]
    )


class StrictSchema(Schema):
    """Unknown fields are errors, so a misspelt field never passes silently."""

    class Meta:
        ordered = True


class PointSchema(StrictSchema):
    lon = fields.Float(required=True, validate=validate.Range(-180, 180))
    lat = fields.Float(required=True, validate=validate.Range(-90, 90))


class PointWithCrsSchema(PointSchema):
    crs = fields.String(load_default="wgs84", validate=validate.OneOf(CRS_NAMES))


class AreaRefSchema(StrictSchema):
    code = fields.String()
    name = fields.String()


class CursorPageArgs(StrictSchema):
    cursor = fields.String(load_default=None, metadata={"description": "From `next_cursor`."})
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
