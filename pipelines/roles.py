"""Least-privilege Postgres roles: a loader that owns only the pipeline's schemas, and a BI role
that can read the published marts and nothing else.

The loader gets no right on the database beyond CONNECT: its schemas are created for it (owned
by it), so it can build, replace and drop inside them and cannot touch any other schema. dbt
replaces mart tables on every build, so the BI role's SELECT comes from default privileges on
the loader's future tables in `marts`, not from grants on today's tables alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg2
from psycopg2 import sql

from sources.wirelane.errors import WirelaneConfigError, WirelaneError

RAW_SCHEMA = "wirelane_raw"
# dlt merges through a staging dataset named after the raw one; dbt writes staging and marts
LOADER_SCHEMAS = (RAW_SCHEMA, f"{RAW_SCHEMA}_staging", "staging", "marts")
BI_SCHEMA = "marts"


@dataclass(frozen=True)
class Role:
    name: str
    password: str


def _check(role: Role, what: str) -> None:
    if not role.name.replace("_", "").isalnum() or not role.name[0].isalpha():
        raise WirelaneConfigError(f"the {what} role name {role.name!r} must be letters, digits and _")
    if len(role.password) < 12:
        raise WirelaneConfigError(f"the {what} role's password is too short: use at least 12 characters")


def _upsert_role(cur: psycopg2.extensions.cursor, role: Role) -> None:
    cur.execute("select 1 from pg_roles where rolname = %s", (role.name,))
    verb = "alter" if cur.fetchone() else "create"
    cur.execute(
        sql.SQL(verb + " role {} login nosuperuser nocreatedb nocreaterole noinherit password %s").format(
            sql.Identifier(role.name)
        ),
        (role.password,),
    )


def setup_roles(admin_dsn: str, loader: Role, bi: Role) -> list[str]:
    """Creates or updates both roles in the DSN's database; returns what it did, one line each.
    Idempotent: run it again to rotate a password."""
    _check(loader, "loader")
    _check(bi, "BI")
    if loader.name == bi.name:
        raise WirelaneConfigError("the loader and BI roles must be different roles")
    done: list[str] = []
    try:
        with psycopg2.connect(admin_dsn) as con, con.cursor() as cur:
            cur.execute("select current_database()")
            row = cur.fetchone()
            database = sql.Identifier(str(row[0] if row else ""))
            loader_id, bi_id = sql.Identifier(loader.name), sql.Identifier(bi.name)
            for role in (loader, bi):
                _upsert_role(cur, role)
                cur.execute(sql.SQL("grant connect on database {} to {}").format(database, sql.Identifier(role.name)))
            done.append(f"roles {loader.name} (loader) and {bi.name} (BI): login, no other rights on the database")
            cur.execute(sql.SQL("revoke create on schema public from public"))
            for schema in LOADER_SCHEMAS:
                schema_id = sql.Identifier(schema)
                cur.execute(sql.SQL("create schema if not exists {} authorization {}").format(schema_id, loader_id))
                cur.execute(sql.SQL("alter schema {} owner to {}").format(schema_id, loader_id))
                # objects an earlier owner created there move to the loader too
                cur.execute(
                    "select format('alter %%s %%I.%%I owner to %%I', case c.relkind when 'v' then 'view' "
                    "when 'S' then 'sequence' else 'table' end, n.nspname, c.relname, %s) "
                    "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                    "where n.nspname = %s and c.relkind in ('r', 'v', 'p', 'S')",
                    (loader.name, schema),
                )
                for (statement,) in cur.fetchall():
                    cur.execute(statement)
            done.append(f"schemas {', '.join(LOADER_SCHEMAS)}: owned by {loader.name}")
            marts = sql.Identifier(BI_SCHEMA)
            cur.execute(sql.SQL("grant usage on schema {} to {}").format(marts, bi_id))
            cur.execute(sql.SQL("grant select on all tables in schema {} to {}").format(marts, bi_id))
            cur.execute(
                sql.SQL("alter default privileges for role {} in schema {} grant select on tables to {}").format(
                    loader_id, marts, bi_id
                )
            )
            done.append(f"{bi.name}: read-only on {BI_SCHEMA}, today's tables and every table dbt builds there later")
    except psycopg2.Error as error:
        reason = (error.pgerror or str(error)).strip().splitlines()[0]
        raise WirelaneError(f"could not set up the Postgres roles: {reason}") from None
    return done
