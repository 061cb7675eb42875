"""The SQLAlchemy models; importing this package registers every table on ``Base.metadata``."""

from gridapp.models.area import AREA_LEVELS, Area, Setting
from gridapp.models.base import Base
from gridapp.models.case import Attachment, Case, CaseEvent
from gridapp.models.catalogue import Category, Component, Department, ResponsibilityRule
from gridapp.models.ops import (
    CalendarEntry,
    Counter,
    EvaluationSnapshot,
    Notification,
    OutboxMessage,
    PatrolPoint,
)
from gridapp.models.user import ROLES, RefreshToken, User, UserGrid

__all__ = [
    "AREA_LEVELS",
    "ROLES",
    "Area",
    "Attachment",
    "Base",
    "CalendarEntry",
    "Case",
    "CaseEvent",
    "Category",
    "Component",
    "Counter",
    "Department",
    "EvaluationSnapshot",
    "Notification",
    "OutboxMessage",
    "PatrolPoint",
    "RefreshToken",
    "ResponsibilityRule",
    "Setting",
    "User",
    "UserGrid",
]
