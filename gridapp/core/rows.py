"""Rows written by one cached Core statement, the session's objects kept as a flush keeps them.

An ORM bulk ``INSERT … RETURNING <entity>`` builds its statement, compiles its cache key and
loads every returned row through the ORM's loading machinery: profiled on an action, about
four times the cost of a Core INSERT of the same row on a statement built once. Here the
statement is built once per table, only the new ids come back, and each object is made from
the values that were written (every column given, so nothing is left to load) and attached
to the session as a query would have loaded it.

`update_loaded` is the same for a loaded object whose columns changed: one UPDATE of those
columns on a statement built once per set of columns, instead of the unit of work's flush of
one object (profiled on a dispatch: several times the cost of the UPDATE it sends).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import Column, Insert, Table, Update, bindparam, insert, inspect, update
from sqlalchemy.orm import (
    ColumnProperty,
    DeclarativeBase,
    Mapper,
    Session,
    make_transient_to_detached,
)
from sqlalchemy.orm.base import PASSIVE_NO_INITIALIZE

M = TypeVar("M", bound=DeclarativeBase)

_INSERTS: dict[Table, tuple[Insert, str, frozenset[str]]] = {}


def _insert_of(model: type[DeclarativeBase]) -> tuple[Insert, str, frozenset[str]]:
    table = cast(Table, model.__table__)
    found = _INSERTS.get(table)
    if found is None:
        (key,) = table.primary_key.columns.keys()
        statement = insert(table).returning(table.c[key], sort_by_parameter_order=True)
        columns = frozenset(c.key for c in table.columns if not c.primary_key)
        found = _INSERTS[table] = (statement, key, columns)
    return found


def insert_loaded(session: Session, model: type[M], rows: Sequence[Mapping[str, Any]]) -> list[M]:
    """Insert ``rows`` of ``model``'s table in one statement; return them as persistent objects.

    Each row names every column but the primary key (a column left to its default would be
    unknown to the object, and read back by a query when touched).
    """
    if not rows:
        return []
    statement, key, columns = _insert_of(model)
    for row in rows:
        if row.keys() != columns:
            raise ValueError(f"{model.__name__} rows must name exactly {sorted(columns)}")
    if len(rows) == 1:
        ids = [session.scalar(statement, rows[0])]
    else:
        ids = list(session.scalars(statement, rows))
    manager = inspect(model).class_manager
    made: list[M] = []
    for row, new_id in zip(rows, ids, strict=True):
        # Filled as a query's loading fills it: no constructor, no attribute events.
        obj = cast(M, manager.new_instance())
        obj.__dict__.update(row)
        obj.__dict__[key] = new_id
        make_transient_to_detached(obj)
        session.add(obj)
        made.append(obj)
    return made


_UPDATES: dict[tuple[Table, frozenset[str]], Update] = {}
# The primary key's parameter, named so that no column's can take it.
_KEY = "_row_key"


def update_loaded(session: Session, obj: DeclarativeBase) -> None:
    """Write the changed columns of a loaded object in one UPDATE; it is then clean.

    What the flush would write, by the same history: the columns whose value changed since the
    object was loaded. An object this path does not cover (not persistent, partly expired, a
    relationship or a column outside its one table changed, a version counter or a column
    updated by default) is flushed by the session, as before; so is everything else pending in
    the session first, so the order of the writes stays the flush's. No flush hook sees the
    object: the caller applies what one would (a case: `gridapp.cases.clock.keep_warn_at`).
    """
    state = inspect(obj)
    mapper = state.mapper
    table = cast(Table, mapper.local_table)
    if not state.persistent or state.expired_attributes or not _covered(mapper):
        # Partly expired: what changed is then known only by the flush's reading.
        session.flush()
        return
    values: dict[str, Any] = {}
    for key in state.committed_state:
        prop = mapper.attrs.get(key)
        columns = prop.columns if isinstance(prop, ColumnProperty) else []
        column = columns[0] if len(columns) == 1 else None
        if not isinstance(column, Column) or column.table is not table:
            session.flush()
            return
        history = state.manager[key].impl.get_history(state, state.dict, PASSIVE_NO_INITIALIZE)
        if history.added:
            values[column.key] = history.added[0]
    if session.new or session.deleted or any(o is not obj for o in session.dirty):
        session.flush()
        if not state.committed_state:
            return  # the flush wrote it with the rest
    if values:
        statement = _update_of(table, frozenset(values))
        (row_key,) = state.identity or ()  # persistent: its identity is known
        session.connection().execute(statement, {**values, _KEY: row_key})
    # As a flush leaves it (`Session._register_persistent`): what was written is the committed
    # value, and the transaction knows the object changed, so rolling it (or a savepoint)
    # back expires the object instead of leaving it holding what was undone.
    state._commit_all(state.dict, session.identity_map)
    session._register_altered([state])


@functools.cache
def _covered(mapper: Mapper[Any]) -> bool:
    """Whether the mapper's writes are plain UPDATEs of one table (read once per mapper)."""
    table = mapper.local_table
    return (
        mapper.version_id_col is None
        and mapper.inherits is None
        and not any(c.onupdate is not None or c.server_onupdate is not None for c in table.c)
    )


def _update_of(table: Table, columns: frozenset[str]) -> Update:
    found = _UPDATES.get((table, columns))
    if found is None:
        (key_column,) = table.primary_key.columns
        found = _UPDATES[(table, columns)] = (
            update(table)
            .where(key_column == bindparam(_KEY))
            .values({name: bindparam(name) for name in sorted(columns)})
        )
    return found
