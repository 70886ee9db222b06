"""Views whose SQL is unchanged are kept by a build, not replaced (macros/materializations/view.sql),
on DuckDB and on Postgres: a view with the fingerprint of this build's SQL stays as it is, one
with another fingerprint is replaced, and a full refresh replaces every one.

To tell a kept view from a replaced one, the test puts a stand-in behind dbt's back: a view of
another shape that carries the fingerprint dbt wrote. Kept, the stand-in survives the build."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb
import psycopg2
import pytest

from pipelines import load
from pipelines.destinations import Destination
from pipelines.transform import run_dbt
from tests.pipeline.conftest import Workspace
from tests.postgres_server import PostgresServer

VIEW = "staging.stg_wirelane__members"
BUILD_VIEW = ("run", "--select", "stg_wirelane__members")


def _duckdb(workspace: Workspace) -> Callable[[str], list[tuple[Any, ...]]]:
    def execute(sql: str) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(workspace.duckdb_file)) as con:
            result = con.execute(sql)
            return result.fetchall() if result.description else []

    return execute


def _postgres(server: PostgresServer) -> Callable[[str], list[tuple[Any, ...]]]:
    def execute(sql: str) -> list[tuple[Any, ...]]:
        with psycopg2.connect(server.dsn) as con, con.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall() if cur.description else []

    return execute


COMMENT = {
    "duckdb": "select comment from duckdb_views() where schema_name = 'staging' and view_name = 'stg_wirelane__members'",
    "postgres": f"select obj_description(to_regclass('{VIEW}'), 'pg_class')",
}


@pytest.mark.parametrize("destination", ["duckdb", "postgres"])
@pytest.mark.slow
def test_a_view_is_kept_while_its_sql_is_unchanged(
    destination: Destination, workspace: Workspace, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    if destination == "postgres":
        monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", postgres.dsn)
        execute = _postgres(postgres)
        execute("drop schema if exists wirelane_raw cascade; drop schema if exists staging cascade")
    else:
        execute = _duckdb(workspace)
    load.run(destination, resources=["members"])
    run_dbt(destination, BUILD_VIEW)
    [(fingerprint,)] = execute(COMMENT[destination])
    assert fingerprint.startswith("dbt view ")
    members = execute(f"select count(*) from {VIEW}")
    assert members[0][0] > 0

    def put_stand_in(comment: str) -> None:
        execute(f"drop view {VIEW}")
        execute(f"create view {VIEW} as select 1 as stand_in")
        execute(f"comment on view {VIEW} is '{comment}'")

    def columns() -> list[str]:
        return [
            name
            for (name,) in execute(
                "select column_name from information_schema.columns "
                "where table_schema = 'staging' and table_name = 'stg_wirelane__members' order by ordinal_position"
            )
        ]

    put_stand_in(fingerprint)
    run_dbt(destination, BUILD_VIEW)
    assert columns() == ["stand_in"]  # the fingerprint matched: kept

    put_stand_in("dbt view of other SQL")
    run_dbt(destination, BUILD_VIEW)
    assert "stand_in" not in columns() and execute(f"select count(*) from {VIEW}") == members
    assert execute(COMMENT[destination]) == [(fingerprint,)]

    put_stand_in(fingerprint)
    run_dbt(destination, (*BUILD_VIEW, "--full-refresh"))
    assert "stand_in" not in columns() and execute(f"select count(*) from {VIEW}") == members
