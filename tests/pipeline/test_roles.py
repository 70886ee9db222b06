"""Least privilege on Postgres: the pipeline loads and builds as a role that owns only its
schemas, and the BI role reads the marts (also after dbt replaced them) and nothing else."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg2
import pytest

from pipelines import load
from pipelines.roles import Role, setup_roles
from pipelines.transform import run_dbt
from sources.wirelane.errors import WirelaneConfigError
from tests.pipeline.conftest import Workspace
from tests.postgres_server import PostgresServer

LOADER = Role("wl_loader", "loader-password-1")
BI = Role("wl_bi", "bi-password-12345")


@pytest.fixture
def roles_database(postgres: PostgresServer) -> Iterator[str]:
    """A database of its own (the other Postgres tests work as the superuser in theirs)."""
    con = psycopg2.connect(postgres.dsn)
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute("drop database if exists roles_test")
        cur.execute("create database roles_test")
    yield postgres.dsn.rsplit("/", 1)[0] + "/roles_test"
    with con.cursor() as cur:
        cur.execute("drop database if exists roles_test with (force)")
        for role in (LOADER, BI):
            cur.execute("select 1 from pg_roles where rolname = %s", (role.name,))
            if cur.fetchone():
                cur.execute(f"drop owned by {role.name} cascade; drop role {role.name}")
    con.close()


def as_role(admin_dsn: str, role: Role) -> str:
    rest = admin_dsn.split("@", 1)[1]
    return f"postgresql://{role.name}:{role.password}@{rest}"


def denied(dsn: str, statement: str) -> bool:
    with psycopg2.connect(dsn) as con, con.cursor() as cur:
        try:
            cur.execute(statement)
        except psycopg2.errors.InsufficientPrivilege:
            return True
    return False


@pytest.mark.slow
def test_loader_owns_only_its_schemas_and_bi_reads_only_marts(
    workspace: Workspace, roles_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup_roles(roles_database, LOADER, BI)
    with psycopg2.connect(roles_database) as con, con.cursor() as cur:
        cur.execute(
            "create schema finance; create table finance.salaries (amount int); insert into finance.salaries values (1)"
        )

    loader_dsn = as_role(roles_database, LOADER)
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", loader_dsn)
    load.run("postgres")
    run_dbt("postgres")

    bi_dsn = as_role(roles_database, BI)
    with psycopg2.connect(bi_dsn) as con, con.cursor() as cur:
        cur.execute("select count(*) from marts.fct_charging_sessions")
        row = cur.fetchone()
        assert row is not None and row[0] > 0
    for statement in (
        "select count(*) from wirelane_raw.sessions",
        "select count(*) from staging.stg_wirelane__members",
        "select count(*) from finance.salaries",
        "create table marts.mine (x int)",
        "delete from marts.fct_charging_sessions",
    ):
        assert denied(bi_dsn, statement), statement
    for statement in ("select count(*) from finance.salaries", "create schema elsewhere"):
        assert denied(loader_dsn, statement), statement

    # dbt replaces every mart table on a rebuild: the BI role can still read the new ones
    run_dbt("postgres")
    with psycopg2.connect(bi_dsn) as con, con.cursor() as cur:
        cur.execute("select count(*) from marts.mart_revenue_monthly")
    # running it again is harmless (it is how passwords are rotated)
    assert setup_roles(roles_database, LOADER, BI)


def test_bad_role_settings_are_refused(roles_database: str) -> None:
    with pytest.raises(WirelaneConfigError, match="too short"):
        setup_roles(roles_database, Role("wl_loader", "short"), BI)
    with pytest.raises(WirelaneConfigError, match="letters, digits"):
        setup_roles(roles_database, Role("wl; drop", "long-enough-password"), BI)
    with pytest.raises(WirelaneConfigError, match="different roles"):
        setup_roles(roles_database, LOADER, Role(LOADER.name, BI.password))
