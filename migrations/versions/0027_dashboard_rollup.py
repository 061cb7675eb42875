"""The dashboard's daily roll-up (每日汇总): closed days' counts, and the days it holds.

``dashboard_rollup`` holds, per Asia/Shanghai day and district, the day's counts summed per
street, per category, per source and in all (``dimension`` ``day``): cases reported, filed and
closed that day, closed without the SLA sweep's 督办, and (``day`` rows) the cases that entered
``closed`` that day by their events (the dashboard's trend). ``dashboard_rollup_day`` lists the
days whose rows are complete; only those are read (``gridapp.evaluation.rollup``).

Triggers on ``case`` and ``case_event`` keep that list honest on both backends: a write that
changes what a listed day counts takes the day off the list in the same transaction, so the
dashboard counts it from the cases again until the nightly job rebuilds it. A day's counts
change only when a case is added or removed with a time on that day, a case's created, filed
or closed time moves into or out of it, a case counted on it changes its district, street,
category or source, an event into ``closed`` is written with a time on it, or the SLA sweep's
督办 is added to a case closed on it. Filing or closing a case now counts on today, which is
never on the list: the usual write leaves every past day alone.

Revision ID: 0027
Revises: 0026
Create Date: 2026-11-26
"""

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from alembic import op

import gridapp.core.types
import workflow

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What a change to each column makes stale: the days the case is counted on through it.
ATTRIBUTES = ("district_code", "street_code", "category_code", "source", "created_at")
TIMES = ("created_at", "filed_at", "closed_at")


def upgrade() -> None:
    op.create_table(
        "dashboard_rollup",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("district_code", sa.String(length=20), nullable=True),
        sa.Column("dimension", sa.String(length=10), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=True),
        sa.Column("reported", sa.Integer(), nullable=False),
        sa.Column("filed", sa.Integer(), nullable=False),
        sa.Column("closed", sa.Integer(), nullable=False),
        sa.Column("closed_on_time", sa.Integer(), nullable=False),
        sa.Column("closed_events", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_rollup")),
    )
    op.create_index(
        "ix_dashboard_rollup_day", "dashboard_rollup", ["day", "district_code"], unique=False
    )
    op.create_table(
        "dashboard_rollup_day",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("built_at", gridapp.core.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_dashboard_rollup_day")),
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgres_triggers()
    else:
        _sqlite_triggers()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, table in _POSTGRES_TRIGGERS:
            op.execute(f'DROP TRIGGER "{name}" ON public."{table}"')
        op.execute("DROP FUNCTION public.gridapp_dashboard_stale()")
    else:
        for name, _ in _SQLITE_TRIGGERS:
            op.execute(f'DROP TRIGGER "{name}"')
    op.drop_table("dashboard_rollup_day")
    op.drop_index("ix_dashboard_rollup_day", table_name="dashboard_rollup")
    op.drop_table("dashboard_rollup")


_POSTGRES_TRIGGERS = (
    ("dashboard_stale_case", "case"),
    ("dashboard_stale_case_attributes", "case"),
    ("dashboard_stale_case_filed", "case"),
    ("dashboard_stale_case_closed", "case"),
    ("dashboard_stale_event", "case_event"),
)


def _distinct(columns: Sequence[str]) -> str:
    return " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in columns)


def _postgres_triggers() -> None:
    zone = workflow.LOCAL_ZONE.key

    def day(value: str) -> str:
        return f"(timezone('{zone}', {value}))::date"

    # TG_ARGV[0] says which of the case's days the change touches (not TG_TABLE_NAME: on
    # partitioned tables that names the month's partition). SECURITY DEFINER: the app's
    # role writes cases; the list of days is the job's, but a write must be able to strike a
    # day off it.
    op.execute(
        f"""
        CREATE FUNCTION public.gridapp_dashboard_stale() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        DECLARE days date[];
        BEGIN
            IF TG_ARGV[0] = 'event' THEN
                IF NEW.to_state = '{workflow.State.closed.value}' THEN
                    days := ARRAY[{day("NEW.created_at")}];
                END IF;
                IF NEW.role = 'system' AND NEW.action = '{workflow.Action.supervise.value}' THEN
                    days := days || ARRAY(SELECT {day("closed_at")} FROM public."case"
                                          WHERE id = NEW.case_id AND closed_at IS NOT NULL);
                END IF;
            ELSIF TG_ARGV[0] = 'filed' THEN
                days := ARRAY[{day("OLD.filed_at")}, {day("NEW.filed_at")}];
            ELSIF TG_ARGV[0] = 'closed' THEN
                days := ARRAY[{day("OLD.closed_at")}, {day("NEW.closed_at")}];
            ELSE
                IF TG_OP <> 'INSERT' THEN
                    days := ARRAY[{day("OLD.created_at")}, {day("OLD.filed_at")},
                                  {day("OLD.closed_at")}]
                            || ARRAY(SELECT {day("created_at")} FROM public.case_event
                                     WHERE case_id = OLD.id
                                       AND to_state = '{workflow.State.closed.value}');
                END IF;
                IF TG_OP <> 'DELETE' THEN
                    days := days || ARRAY[{day("NEW.created_at")}, {day("NEW.filed_at")},
                                          {day("NEW.closed_at")}];
                END IF;
            END IF;
            IF days IS NOT NULL THEN
                DELETE FROM public.dashboard_rollup_day WHERE day = ANY(days);
            END IF;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        'CREATE TRIGGER "dashboard_stale_case" AFTER INSERT OR DELETE ON public."case" '
        "FOR EACH ROW EXECUTE FUNCTION public.gridapp_dashboard_stale('row')"
    )
    op.execute(
        'CREATE TRIGGER "dashboard_stale_case_attributes" AFTER UPDATE OF '
        f'{", ".join(ATTRIBUTES)} ON public."case" FOR EACH ROW WHEN ({_distinct(ATTRIBUTES)}) '
        "EXECUTE FUNCTION public.gridapp_dashboard_stale('row')"
    )
    for column in ("filed", "closed"):
        op.execute(
            f'CREATE TRIGGER "dashboard_stale_case_{column}" AFTER UPDATE OF {column}_at '
            f'ON public."case" FOR EACH ROW WHEN ({_distinct([f"{column}_at"])}) '
            f"EXECUTE FUNCTION public.gridapp_dashboard_stale('{column}')"
        )
    op.execute(
        'CREATE TRIGGER "dashboard_stale_event" AFTER INSERT ON public.case_event '
        f"FOR EACH ROW WHEN (NEW.to_state = '{workflow.State.closed.value}' OR "
        f"(NEW.role = 'system' AND NEW.action = '{workflow.Action.supervise.value}')) "
        "EXECUTE FUNCTION public.gridapp_dashboard_stale('event')"
    )


_SQLITE_TRIGGERS = (
    ("dashboard_stale_case_insert", "case"),
    ("dashboard_stale_case_delete", "case"),
    ("dashboard_stale_case_attributes", "case"),
    ("dashboard_stale_case_filed", "case"),
    ("dashboard_stale_case_closed", "case"),
    ("dashboard_stale_event_closed", "case_event"),
    ("dashboard_stale_event_supervised", "case_event"),
)


def _sqlite_triggers() -> None:
    # SQLite has no time zones: the zone's offset, fixed at +08:00 since 1991 (as the
    # dashboard's own day arithmetic on SQLite).
    offset = datetime(2000, 1, 1, tzinfo=workflow.LOCAL_ZONE).utcoffset() or timedelta(0)
    shift = f"'{int(offset.total_seconds()):+d} seconds'"

    def days(row: str, columns: Sequence[str] = TIMES) -> str:
        return ", ".join(f"date({row}.{column}, {shift})" for column in columns)

    def strike(values: str) -> str:
        return f"DELETE FROM dashboard_rollup_day WHERE day IN ({values});"

    supervised_closing_day = f'SELECT date(closed_at, {shift}) FROM "case" WHERE id = NEW.case_id'
    closing_days = (
        f"SELECT date(created_at, {shift}) FROM case_event WHERE case_id = OLD.id "
        f"AND to_state = '{workflow.State.closed.value}'"
    )
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in ATTRIBUTES)
    statements = (
        f'CREATE TRIGGER dashboard_stale_case_insert AFTER INSERT ON "case" '
        f"BEGIN {strike(days('NEW'))} END",
        f'CREATE TRIGGER dashboard_stale_case_delete AFTER DELETE ON "case" '
        f"BEGIN {strike(days('OLD'))} {strike(closing_days)} END",
        f"CREATE TRIGGER dashboard_stale_case_attributes AFTER UPDATE OF "
        f'{", ".join(ATTRIBUTES)} ON "case" WHEN {changed} '
        f"BEGIN {strike(days('OLD') + ', ' + days('NEW'))} {strike(closing_days)} END",
        f'CREATE TRIGGER dashboard_stale_case_filed AFTER UPDATE OF filed_at ON "case" '
        f"WHEN OLD.filed_at IS NOT NEW.filed_at "
        f"BEGIN {strike(days('OLD', ['filed_at']) + ', ' + days('NEW', ['filed_at']))} END",
        f'CREATE TRIGGER dashboard_stale_case_closed AFTER UPDATE OF closed_at ON "case" '
        f"WHEN OLD.closed_at IS NOT NEW.closed_at "
        f"BEGIN {strike(days('OLD', ['closed_at']) + ', ' + days('NEW', ['closed_at']))} END",
        f"CREATE TRIGGER dashboard_stale_event_closed AFTER INSERT ON case_event "
        f"WHEN NEW.to_state = '{workflow.State.closed.value}' "
        f"BEGIN {strike(days('NEW', ['created_at']))} END",
        f"CREATE TRIGGER dashboard_stale_event_supervised AFTER INSERT ON case_event "
        f"WHEN NEW.role = 'system' AND NEW.action = '{workflow.Action.supervise.value}' "
        f"BEGIN {strike(supervised_closing_day)} END",
    )
    for statement in statements:
        op.execute(statement)
