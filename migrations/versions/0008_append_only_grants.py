"""PostgreSQL: the app's role may append to the case history and the audit trail, never change
or delete them.

Makes the role ``gridapp_writer`` (NOLOGIN; the app's login role is granted it, or the app
switches to it with ``DATABASE_ROLE``): every right on every table of the schema, now and for
tables later migrations create, except UPDATE, DELETE and TRUNCATE on ``case_event`` and
``audit_log``. Pruning the audit trail goes through ``gridapp_prune_audit(cutoff)``, which runs
with the owner's rights and refuses a cutoff younger than 180 days. SQLite has no roles: there
the hash chains alone detect tampering.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLE = "gridapp_writer"
APPEND_ONLY = "case_event, audit_log"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # Roles are cluster-wide: another database of the cluster may have made it already, and a
    # migrating role without CREATEROLE cannot: then the DBA makes it (docs/deployment.md) and
    # the grants below wait for it (a notice says so) rather than failing the migration.
    op.execute(
        f"""
        DO $$ BEGIN
            CREATE ROLE {ROLE} NOLOGIN;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN NULL;
            WHEN insufficient_privilege THEN
                RAISE NOTICE 'cannot create role {ROLE}: ask the DBA to create it, then grant';
        END $$;
        """
    )
    grants = (
        f"GRANT USAGE ON SCHEMA public TO {ROLE}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {ROLE}",
        f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {ROLE}",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {ROLE}",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {ROLE}",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON {APPEND_ONLY} FROM {ROLE}",
    )
    _when_role_exists(grants)
    op.execute(
        """
        CREATE FUNCTION gridapp_prune_audit(cutoff timestamptz) RETURNS bigint
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        DECLARE pruned bigint;
        BEGIN
            IF cutoff > clock_timestamp() - interval '180 days' THEN
                RAISE EXCEPTION 'audit entries are kept at least 180 days (cutoff %)', cutoff;
            END IF;
            DELETE FROM audit_log WHERE at < cutoff;
            GET DIAGNOSTICS pruned = ROW_COUNT;
            RETURN pruned;
        END $$;
        """
    )
    op.execute("REVOKE ALL ON FUNCTION gridapp_prune_audit(timestamptz) FROM PUBLIC")
    _when_role_exists((f"GRANT EXECUTE ON FUNCTION gridapp_prune_audit(timestamptz) TO {ROLE}",))


def _when_role_exists(statements: Sequence[str]) -> None:
    body = "\n".join(f"EXECUTE {_literal(statement)};" for statement in statements)
    op.execute(
        f"""
        DO $$ BEGIN
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}') THEN
                {body}
            END IF;
        END $$;
        """
    )


def _literal(statement: str) -> str:
    return "'" + statement.replace("'", "''") + "'"


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION gridapp_prune_audit(timestamptz)")
    _when_role_exists(
        (
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM {ROLE}",
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {ROLE}",
            f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {ROLE}",
            f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {ROLE}",
            f"REVOKE USAGE ON SCHEMA public FROM {ROLE}",
        )
    )
