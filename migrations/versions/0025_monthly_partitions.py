"""PostgreSQL: ``case`` and ``case_event`` partitioned by month of ``created_at`` (按月分区).

A partitioned table's primary key and unique constraints must contain the partition key, and a
foreign key must point at a unique constraint: so what the plain schema guaranteed by
``UNIQUE (number)``, ``UNIQUE (reporter_id, client_id)`` (exactly-once submissions),
``UNIQUE (case_id, seq)`` (one link per place in a hash chain) and the foreign keys to
``case(id)`` and ``case_event(id)`` moves to two small plain tables, ``case_key`` and
``case_event_key``: each holds a row's ``id`` (primary key) and the columns of the table's
unique constraints, under the constraints' own names. Row triggers on the partitioned tables
keep them in step (insert, update of those columns, delete, and the delete-then-insert of an
UPDATE that moves a row to another month), and the foreign keys that pointed at ``case`` or
``case_event`` point at the key tables. The partitioned tables' primary keys are ``(id,
created_at)``, and each unique constraint's columns keep a plain index there
(``uq_case_event_case_id_seq_lookup``…): those indexes were also how a case's history, a case
by number and a resubmission are found.

Partitions are Asia/Shanghai calendar months (the dashboard's and evaluation's months, so a
month's query reads one partition), named ``case_p202611``, plus ``case_default`` for rows
outside every month. ``gridapp_ensure_partitions(ahead)`` (SECURITY DEFINER, executable by
``gridapp_writer``) creates the current month and ``ahead`` more; the nightly
``partition-ensure`` job and ``flask db partitions`` call it. Rows the DEFAULT partition took
for a month move into that month's partition when it is made. Partitions carry no grants: the
app reaches them through their parent, whose grants migration 0008's append-only rule keeps.

The conversion is generic: it copies whatever columns, CHECK constraints, indexes (partial
ones included), foreign keys, grants and sequence ownership the plain tables have (columns
added by later migrations of the chain come along), and the downgrade does the same the other
way. SQLite has no partitioning: there this migration does nothing.

Revision ID: 0025
Revises: 0020
Create Date: 2026-11-26
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLE = "gridapp_writer"
# The months of workflow.LOCAL_ZONE (a migration keeps its own copy).
ZONE = "Asia/Shanghai"
# Months made ahead of today by the migration (the nightly job keeps the same margin).
AHEAD = 3
# At most this many months before the newest data get a partition; older rows go to DEFAULT
# (a stray 1970 timestamp must not make six hundred partitions).
MAX_MONTHS = 120
# Parent first: an event's foreign key points at its case's key.
TABLES = ("case", "case_event")
KEY = "created_at"
# The suffix of the partitioned tables' plain indexes on a unique constraint's columns.
LOOKUP = "_lookup"


def _key_table(table: str) -> str:
    return f"{table}_key"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    _create_functions()
    for table in TABLES:
        _run(f'LOCK TABLE public."{table}" IN ACCESS EXCLUSIVE MODE')
    incoming = _drop_incoming((*TABLES,))
    first, last = _month_range()
    shapes = {table: _shape(table) for table in TABLES}
    for table in TABLES:
        _to_partitioned(table, shapes[table], first, last)
    for fk in incoming:
        target = _key_table(fk.target)
        _run(
            f'ALTER TABLE public."{fk.table}" ADD CONSTRAINT "{fk.name}" '
            + _retarget(fk.definition, fk.target, target)
        )
    for table in TABLES:
        _run(f'DROP TABLE public."{table}_plain"')
        _run(f'ANALYZE public."{table}"')
        _run(f'ANALYZE public."{_key_table(table)}"')


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for table in TABLES:
        _run(f'LOCK TABLE public."{table}" IN ACCESS EXCLUSIVE MODE')
    incoming = _drop_incoming(tuple(_key_table(t) for t in TABLES))
    shapes = {table: _shape(table) for table in TABLES}
    for table in TABLES:
        _to_plain(table, shapes[table])
    for fk in incoming:
        table = fk.target.removesuffix("_key")
        _run(
            f'ALTER TABLE public."{fk.table}" ADD CONSTRAINT "{fk.name}" '
            + _retarget(fk.definition, fk.target, table)
        )
    for table in reversed(TABLES):
        _run(f'DROP TABLE public."{table}_parted"')
        _run(f'DROP TABLE public."{_key_table(table)}"')
    for table in TABLES:
        _run(f"DROP FUNCTION public.gridapp_{table}_key()")
        _run(f'ANALYZE public."{table}"')
    _run("DROP FUNCTION public.gridapp_default_rows(text)")
    _run("DROP FUNCTION public.gridapp_ensure_partitions(integer)")
    _run("DROP FUNCTION public.gridapp_add_month_partition(text, date)")


class ForeignKey(NamedTuple):
    table: str
    name: str
    target: str
    definition: str


class Shape(NamedTuple):
    """What a table has besides its columns, read from the catalogue before it is rebuilt."""

    primary_key: tuple[str, str]  # name, column list ("id")
    uniques: list[tuple[str, str]]  # name, definition ("UNIQUE (number)")
    foreign_keys: list[tuple[str, str]]  # name, definition (outgoing, to other tables)
    indexes: list[tuple[str, str]]  # name, CREATE INDEX statement (no constraint's own)
    grants: list[tuple[str, str]]  # grantee, privilege
    sequences: list[tuple[str, str]]  # sequence, column


def _run(statement: str) -> None:
    # psycopg reads "%" as a placeholder once SQLAlchemy hands it parameters (plpgsql's
    # format() and RAISE use it).
    op.get_bind().exec_driver_sql(statement.replace("%", "%%"))


def _rows(sql: str, **params: object) -> list[sa.Row[tuple[str, ...]]]:
    return list(op.get_bind().execute(sa.text(sql), params).all())


def _shape(table: str) -> Shape:
    """Read a table's constraints, indexes, grants and owned sequences (the key table's
    uniques when the table is partitioned: they live there)."""
    partitioned = _is_partitioned(table)
    constraints = _rows(
        "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = CAST(:t AS regclass) AND contype IN ('p', 'u', 'f') ORDER BY conname",
        t=f'public."{table}"',
    )
    pk = next((name, _columns(d)) for name, kind, d in constraints if kind == "p")
    if partitioned:
        uniques = [
            (name, d)
            for name, kind, d in _rows(
                "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = CAST(:t AS regclass) AND contype = 'u' ORDER BY conname",
                t=f'public."{_key_table(table)}"',
            )
        ]
        # The partition key leaves the primary key again.
        pk = (pk[0], ", ".join(c for c in pk[1].split(", ") if c != KEY))
    else:
        uniques = [(name, d) for name, kind, d in constraints if kind == "u"]
    foreign_keys = [(name, d) for name, kind, d in constraints if kind == "f"]
    lookups = {f"{name}{LOOKUP}" for name, _ in uniques}
    indexes = [
        (name, re.sub(r" ON ONLY ", " ON ", definition))
        for name, definition in _rows(
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid "
            "WHERE x.indrelid = CAST(:t AS regclass) AND NOT EXISTS ("
            "  SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid"
            "  AND c.conrelid = x.indrelid) ORDER BY i.relname",
            t=f'public."{table}"',
        )
        if name not in lookups
    ]
    return Shape(pk, uniques, foreign_keys, indexes, _grants(table), _sequences(table))


def _columns(definition: str) -> str:
    match = re.search(r"\(([^)]*)\)", definition)
    assert match is not None, definition
    return match.group(1)


def _is_partitioned(table: str) -> bool:
    return bool(
        op.get_bind().scalar(
            sa.text("SELECT relkind = 'p' FROM pg_class WHERE oid = CAST(:t AS regclass)"),
            {"t": f'public."{table}"'},
        )
    )


def _grants(table: str) -> list[tuple[str, str]]:
    """Every grant on ``table`` but its owner's own (0 is PUBLIC)."""
    return [
        (grantee, privilege)
        for grantee, privilege in _rows(
            "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' "
            "  ELSE quote_ident(pg_get_userbyid(a.grantee)) END, a.privilege_type "
            "FROM pg_class c, aclexplode(c.relacl) a "
            "WHERE c.oid = CAST(:t AS regclass) AND a.grantee <> c.relowner "
            "ORDER BY 1, 2",
            t=f'public."{table}"',
        )
    ]


def _sequences(table: str) -> list[tuple[str, str]]:
    return [
        (sequence, column)
        for sequence, column in _rows(
            "SELECT s.relname, a.attname FROM pg_depend d "
            "JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
            "JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid "
            "WHERE d.refobjid = CAST(:t AS regclass) AND d.deptype IN ('a', 'i')",
            t=f'public."{table}"',
        )
    ]


def _set_grants(table: str, grants: list[tuple[str, str]]) -> None:
    """Give ``table`` exactly ``grants`` (default privileges gave a new table others)."""
    for grantee in sorted({grantee for grantee, _ in _grants(table)}):
        _run(f'REVOKE ALL ON public."{table}" FROM {grantee}')
    for grantee, privilege in grants:
        _run(f'GRANT {privilege} ON public."{table}" TO {grantee}')


def _drop_incoming(targets: tuple[str, ...]) -> list[ForeignKey]:
    """Drop every foreign key pointing at one of ``targets``; return them to make again."""
    found = [
        ForeignKey(table, name, target, definition)
        for table, name, target, definition in _rows(
            "SELECT c.conrelid::regclass::text, c.conname, c.confrelid::regclass::text, "
            "pg_get_constraintdef(c.oid) FROM pg_constraint c "
            "WHERE c.contype = 'f' AND c.confrelid = ANY(CAST(:targets AS regclass[])) "
            # A partition's copy of its parent's foreign key goes with the parent's.
            "AND c.conparentid = 0 ORDER BY 1, 2",
            targets=[f'public."{t}"' for t in targets],
        )
    ]
    for fk in found:
        _run(f'ALTER TABLE public.{fk.table} DROP CONSTRAINT "{fk.name}"')
    return [
        ForeignKey(fk.table.strip('"'), fk.name, fk.target.strip('"'), fk.definition)
        for fk in found
    ]


def _retarget(definition: str, old: str, new: str) -> str:
    """``FOREIGN KEY (case_id) REFERENCES "case"(id)`` → ``... REFERENCES case_key(id)``."""
    pattern = rf'REFERENCES (public\.)?("{re.escape(old)}"|{re.escape(old)})\('
    retargeted, count = re.subn(pattern, f'REFERENCES public."{new}"(', definition)
    assert count == 1, definition
    return retargeted


def _month_range() -> tuple[str, str]:
    """The first and last months (YYYY-MM-01, local) of the cases' and events' ``created_at``,
    from ``MAX_MONTHS`` before the newest at most, to ``AHEAD`` months after today at least."""
    first, last = (
        op.get_bind()
        .execute(
            sa.text(
                "WITH bounds AS ("
                '  SELECT min(created_at) AS lo, max(created_at) AS hi FROM public."case" '
                "  UNION ALL SELECT min(created_at), max(created_at) FROM public.case_event), "
                "months AS (SELECT "
                "  date_trunc('month', coalesce(min(lo), now()) AT TIME ZONE :zone)::date AS lo, "
                "  greatest(date_trunc('month', max(hi) AT TIME ZONE :zone), "
                "    date_trunc('month', now() AT TIME ZONE :zone) + make_interval(months => :ahead)"
                "  )::date AS hi FROM bounds) "
                "SELECT greatest(lo, (hi - make_interval(months => :max))::date)::text, hi::text "
                "FROM months"
            ),
            {"zone": ZONE, "ahead": AHEAD, "max": MAX_MONTHS - 1},
        )
        .one()
    )
    return str(first), str(last)


def _to_partitioned(table: str, shape: Shape, first: str, last: str) -> None:
    bind = op.get_bind()
    plain, key = f"{table}_plain", _key_table(table)
    _run(f'ALTER TABLE public."{table}" RENAME TO "{plain}"')
    # Their names are the schema's: free them for the new table's copies.
    for name, _ in shape.indexes:
        _run(f'DROP INDEX public."{name}"')
    for name, _ in (*shape.uniques, (shape.primary_key[0], "")):
        _run(f'ALTER TABLE public."{plain}" DROP CONSTRAINT "{name}"')
    for sequence, _ in shape.sequences:
        _run(f'ALTER SEQUENCE public."{sequence}" OWNED BY NONE')
    _run(
        f'CREATE TABLE public."{table}" (LIKE public."{plain}" INCLUDING DEFAULTS '
        "INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS) "
        f"PARTITION BY RANGE ({KEY})"
    )
    _run(f'CREATE TABLE public."{table}_default" PARTITION OF public."{table}" DEFAULT')
    bind.execute(
        sa.text(
            "SELECT public.gridapp_add_month_partition(:t, m::date) "
            "FROM generate_series(CAST(:first AS date), CAST(:last AS date), "
            "interval '1 month') AS m"
        ),
        {"t": table, "first": first, "last": last},
    )
    _run(f'INSERT INTO public."{table}" SELECT * FROM public."{plain}"')
    key_columns = _key_columns(shape)
    _run(f'CREATE TABLE public."{key}" AS SELECT {", ".join(key_columns)} FROM public."{plain}"')
    _run(
        f'ALTER TABLE public."{key}" ADD CONSTRAINT "pk_{key}" PRIMARY KEY ({shape.primary_key[1]})'
    )
    for (column,) in _rows(
        "SELECT attname FROM pg_attribute WHERE attrelid = CAST(:t AS regclass) "
        "AND attnum > 0 AND attnotnull AND attname = ANY(:columns)",
        t=f'public."{plain}"',
        columns=key_columns,
    ):
        _run(f'ALTER TABLE public."{key}" ALTER COLUMN "{column}" SET NOT NULL')
    for name, definition in shape.uniques:
        _run(f'ALTER TABLE public."{key}" ADD CONSTRAINT "{name}" {definition}')
    _run(
        f'ALTER TABLE public."{table}" ADD CONSTRAINT "{shape.primary_key[0]}" '
        f"PRIMARY KEY ({shape.primary_key[1]}, {KEY})"
    )
    for _, statement in shape.indexes:
        _run(statement)
    # The unique constraints' indexes were also how rows are found (a case's history by
    # case_id and seq, a case by number, a resubmission by reporter and client id): the
    # partitioned table keeps a plain index on the same columns, each month its own.
    for name, definition in shape.uniques:
        _run(f'CREATE INDEX "{name}{LOOKUP}" ON public."{table}" ({_columns(definition)})')
    for name, definition in shape.foreign_keys:
        _run(f'ALTER TABLE public."{table}" ADD CONSTRAINT "{name}" {definition}')
    _create_key_trigger(table, key_columns)
    _set_grants(table, shape.grants)
    _set_grants(key, shape.grants)
    for partition in _partitions(table):
        _set_grants(partition, [])
    for sequence, column in shape.sequences:
        _run(f'ALTER SEQUENCE public."{sequence}" OWNED BY public."{table}".{column}')


def _to_plain(table: str, shape: Shape) -> None:
    parted, key = f"{table}_parted", _key_table(table)
    _run(f'ALTER TABLE public."{table}" RENAME TO "{parted}"')
    _run(f'DROP TRIGGER "{table}_key" ON public."{parted}"')
    _run(f'DROP TRIGGER "{table}_key_update" ON public."{parted}"')
    for name, _ in shape.indexes:
        _run(f'DROP INDEX public."{name}"')
    _run(f'ALTER TABLE public."{parted}" DROP CONSTRAINT "{shape.primary_key[0]}"')
    for name, _ in shape.uniques:
        _run(f'ALTER TABLE public."{key}" DROP CONSTRAINT "{name}"')
    for sequence, _ in shape.sequences:
        _run(f'ALTER SEQUENCE public."{sequence}" OWNED BY NONE')
    _run(
        f'CREATE TABLE public."{table}" (LIKE public."{parted}" INCLUDING DEFAULTS '
        "INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS)"
    )
    _run(f'INSERT INTO public."{table}" SELECT * FROM public."{parted}"')
    _run(
        f'ALTER TABLE public."{table}" ADD CONSTRAINT "{shape.primary_key[0]}" '
        f"PRIMARY KEY ({shape.primary_key[1]})"
    )
    for name, definition in shape.uniques:
        _run(f'ALTER TABLE public."{table}" ADD CONSTRAINT "{name}" {definition}')
    for _, statement in shape.indexes:
        _run(statement)
    for name, definition in shape.foreign_keys:
        target = re.search(r'REFERENCES (?:public\.)?"?(\w+)"?\(', definition)
        if target is not None and target.group(1) in {_key_table(t) for t in TABLES}:
            definition = _retarget(definition, target.group(1), target.group(1)[: -len("_key")])
        _run(f'ALTER TABLE public."{table}" ADD CONSTRAINT "{name}" {definition}')
    _set_grants(table, shape.grants)
    for sequence, column in shape.sequences:
        _run(f'ALTER SEQUENCE public."{sequence}" OWNED BY public."{table}".{column}')


def _key_columns(shape: Shape) -> list[str]:
    """The primary key's columns, then every unique constraint's, each once."""
    columns: list[str] = []
    for listed in (shape.primary_key[1], *(_columns(d) for _, d in shape.uniques)):
        for column in listed.split(", "):
            if column not in columns:
                columns.append(column)
    return columns


def _partitions(table: str) -> list[str]:
    return [
        name
        for (name,) in _rows(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = CAST(:t AS regclass) ORDER BY 1",
            t=f'public."{table}"',
        )
    ]


def _create_key_trigger(table: str, columns: list[str]) -> None:
    """The row trigger that keeps ``<table>_key`` in step with ``table``.

    An UPDATE that changes ``created_at`` across a month moves the row: PostgreSQL deletes it
    from one partition and inserts it in another, and fires the DELETE and INSERT triggers
    (not UPDATE's), the DELETE's first, after both rows are written. So a DELETE whose id is
    still in the table keeps its key, and an INSERT whose key exists while the id is in the
    table once refreshes it; an INSERT of an id the table then holds twice is a duplicate, and
    the key's primary key refuses it.
    """
    key = _key_table(table)
    quoted = ", ".join(columns)
    new = ", ".join(f"NEW.{c}" for c in columns)
    id_column = columns[0]
    _run(
        f"""
        CREATE FUNCTION public.gridapp_{table}_key() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                IF NOT EXISTS (SELECT 1 FROM public."{table}" WHERE {id_column} = OLD.{id_column})
                THEN
                    DELETE FROM public."{key}" WHERE {id_column} = OLD.{id_column};
                END IF;
            ELSIF TG_OP = 'UPDATE' THEN
                UPDATE public."{key}" SET ({quoted}) = ROW({new})
                WHERE {id_column} = OLD.{id_column};
            ELSIF EXISTS (SELECT 1 FROM public."{key}" WHERE {id_column} = NEW.{id_column})
                AND (SELECT count(*) FROM public."{table}"
                     WHERE {id_column} = NEW.{id_column}) = 1 THEN
                UPDATE public."{key}" SET ({quoted}) = ROW({new})
                WHERE {id_column} = NEW.{id_column};
            ELSE
                INSERT INTO public."{key}" ({quoted}) VALUES ({new});
            END IF;
            RETURN NULL;
        END $$
        """
    )
    changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in columns)
    _run(
        f'CREATE TRIGGER "{table}_key" AFTER INSERT OR DELETE ON public."{table}" '
        f"FOR EACH ROW EXECUTE FUNCTION public.gridapp_{table}_key()"
    )
    _run(
        f'CREATE TRIGGER "{table}_key_update" AFTER UPDATE OF {quoted} ON public."{table}" '
        f"FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION public.gridapp_{table}_key()"
    )


def _create_functions() -> None:
    # SECURITY DEFINER: making a partition takes the parent's owner; the app's role may ask
    # for the months ahead (the nightly job) but gets no other right from it.
    _run(
        f"""
        CREATE FUNCTION public.gridapp_add_month_partition(parent text, month date)
        RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        DECLARE
            name text := parent || '_p' || to_char(month, 'YYYYMM');
            lo timestamptz := date_trunc('month', month::timestamp) AT TIME ZONE '{ZONE}';
            hi timestamptz := (date_trunc('month', month::timestamp) + interval '1 month')
                AT TIME ZONE '{ZONE}';
            fallback text := parent || '_default';
            grantee text;
            moved boolean;
        BEGIN
            IF parent NOT IN ('case', 'case_event') THEN
                RAISE EXCEPTION 'no monthly partitions for table %', parent;
            END IF;
            IF to_regclass(format('public.%I', name)) IS NOT NULL THEN
                RETURN NULL;
            END IF;
            EXECUTE format('SELECT EXISTS (SELECT 1 FROM public.%I '
                           'WHERE created_at >= $1 AND created_at < $2)', fallback)
                INTO moved USING lo, hi;
            IF moved THEN
                -- The month's rows leave DEFAULT for their partition: a plain table filled,
                -- then attached. Their keys stay, so the key triggers sit this move out.
                EXECUTE format('CREATE TABLE public.%I (LIKE public.%I INCLUDING DEFAULTS '
                               'INCLUDING CONSTRAINTS INCLUDING STORAGE)', name, parent);
                EXECUTE format('ALTER TABLE public.%I DISABLE TRIGGER USER', fallback);
                EXECUTE format('WITH rows AS (DELETE FROM public.%I WHERE created_at >= $1 '
                               'AND created_at < $2 RETURNING *) '
                               'INSERT INTO public.%I SELECT * FROM rows', fallback, name)
                    USING lo, hi;
                EXECUTE format('ALTER TABLE public.%I ENABLE TRIGGER USER', fallback);
                EXECUTE format('ALTER TABLE public.%I ATTACH PARTITION public.%I '
                               'FOR VALUES FROM (%L) TO (%L)', parent, name, lo, hi);
            ELSE
                EXECUTE format('CREATE TABLE public.%I PARTITION OF public.%I '
                               'FOR VALUES FROM (%L) TO (%L)', name, parent, lo, hi);
            END IF;
            -- Default privileges gave the new table the app's rights; it is reached through
            -- its parent only (whose grants keep the history append-only).
            FOR grantee IN
                SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                                     ELSE quote_ident(pg_get_userbyid(a.grantee)) END
                FROM pg_class c, aclexplode(c.relacl) a
                WHERE c.oid = format('public.%I', name)::regclass AND a.grantee <> c.relowner
            LOOP
                EXECUTE format('REVOKE ALL ON public.%I FROM %s', name, grantee);
            END LOOP;
            RETURN name;
        END $$
        """
    )
    _run(
        f"""
        CREATE FUNCTION public.gridapp_ensure_partitions(ahead integer DEFAULT {AHEAD})
        RETURNS SETOF text LANGUAGE plpgsql SECURITY DEFINER
        SET search_path = public, pg_temp AS $$
        DECLARE
            this_month date := date_trunc('month', now() AT TIME ZONE '{ZONE}')::date;
            parent text;
            made text;
        BEGIN
            IF ahead < 0 OR ahead > 24 THEN
                RAISE EXCEPTION 'months ahead must be 0 to 24, not %', ahead;
            END IF;
            FOR step IN 0..ahead LOOP
                FOREACH parent IN ARRAY ARRAY['case', 'case_event'] LOOP
                    made := public.gridapp_add_month_partition(
                        parent, (this_month + make_interval(months => step))::date);
                    IF made IS NOT NULL THEN
                        RETURN NEXT made;
                    END IF;
                END LOOP;
            END LOOP;
        END $$
        """
    )
    _run("REVOKE ALL ON FUNCTION public.gridapp_add_month_partition(text, date) FROM PUBLIC")
    # The app's role reads the partitions through their parents only; how full DEFAULT is
    # (the nightly job warns when it holds rows) it asks this.
    _run(
        """
        CREATE FUNCTION public.gridapp_default_rows(parent text) RETURNS bigint
        LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        DECLARE found bigint;
        BEGIN
            IF parent NOT IN ('case', 'case_event') THEN
                RAISE EXCEPTION 'no monthly partitions for table %', parent;
            END IF;
            EXECUTE format('SELECT count(*) FROM public.%I', parent || '_default') INTO found;
            RETURN found;
        END $$
        """
    )
    _run("REVOKE ALL ON FUNCTION public.gridapp_ensure_partitions(integer) FROM PUBLIC")
    _run("REVOKE ALL ON FUNCTION public.gridapp_default_rows(text) FROM PUBLIC")
    _run(
        f"DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}') THEN "
        "EXECUTE 'GRANT EXECUTE ON FUNCTION public.gridapp_ensure_partitions(integer), "
        f"public.gridapp_default_rows(text) TO {ROLE}'; END IF; END $$"
    )
