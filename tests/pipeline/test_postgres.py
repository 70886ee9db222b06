"""The same load on a real PostgreSQL 15 server that the test set-up starts itself."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg2
import pytest

from pipelines import load
from tests.pipeline.api_equality import LOADED_CONNECTOR_STATUSES, listed_connector_statuses
from tests.pipeline.conftest import Workspace
from tests.pipeline.test_load import api_sessions
from tests.postgres_server import PostgresServer


def query(server: PostgresServer, sql: str) -> list[tuple[Any, ...]]:
    with psycopg2.connect(server.dsn) as con, con.cursor() as cur:
        cur.execute(sql)
        rows: list[tuple[Any, ...]] = cur.fetchall()
        return rows


@pytest.fixture
def pg_workspace(workspace: Workspace, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", postgres.dsn)
    query(
        postgres,
        "drop schema if exists wirelane_raw cascade; drop schema if exists wirelane_raw_staging cascade; select 1",
    )
    return workspace


def test_full_and_incremental_load_on_postgres(pg_workspace: Workspace, postgres: PostgresServer) -> None:
    load.run("postgres")
    totals = pg_workspace.api.admin("GET", "stats").json()["totals"]
    for table, key in (
        ("sessions", "sessions"),
        ("charging_stations", "charging_stations"),
        ("members", "members"),
        ("station_cases", "station_cases"),
        ("charging_stations__connectors", "connectors"),
    ):
        assert query(postgres, f"select count(*) from wirelane_raw.{table}") == [(totals[key],)], table
    assert query(postgres, "select count(*) from wirelane_raw.tariffs where _dlt_valid_to is null") == [
        (totals["tariffs"],)
    ]
    pg_workspace.api.admin("POST", "advance", {"minutes": 180})
    load.run("postgres", resources=["sessions"])
    api = api_sessions(pg_workspace)
    rows = query(postgres, "select session_id, update_date, kwh, total_price__net_amount from wirelane_raw.sessions")
    assert len(rows) == len({r[0] for r in rows}) == len(api)
    for session_id, update_date, kwh, net in rows:
        doc = api[session_id]
        assert update_date == datetime.strptime(doc["update_date"], "%Y-%m-%dT%H:%M:%S%z")
        assert kwh == Decimal(repr(doc["kwh"]))
        expected = doc.get("totalPrice", {}).get("netAmount")
        assert (net is None and expected is None) or net == Decimal(repr(expected))
    types = dict(
        query(
            postgres,
            "select column_name, data_type from information_schema.columns where table_schema = 'wirelane_raw' and table_name = 'sessions'",
        )
    )
    assert types["update_date"] == "timestamp with time zone"
    assert types["total_price__net_amount"] == "numeric"


def test_connector_statuses_are_written_from_the_listing_on_postgres(
    pg_workspace: Workspace, postgres: PostgresServer
) -> None:
    """Status changes alone read no station detail; the UPDATE that writes them from the
    listing (pipelines/connector_status.py) runs on Postgres as on DuckDB."""
    load.run("postgres")
    before = listed_connector_statuses(pg_workspace.api)
    for _ in range(6):  # until some connector status changed
        pg_workspace.api.admin("POST", "advance", {"minutes": 90}).raise_for_status()
        if listed_connector_statuses(pg_workspace.api) != before:
            break
    load.run("postgres")
    loaded = query(postgres, LOADED_CONNECTOR_STATUSES)
    now = listed_connector_statuses(pg_workspace.api)
    assert now != before
    assert set(loaded) == now


def test_an_unreachable_destination_is_one_clear_error(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from simulator.server import free_port
    from sources.wirelane.errors import WirelaneError

    monkeypatch.setenv(
        "DESTINATION__POSTGRES__CREDENTIALS", f"postgresql://loader:secret@127.0.0.1:{free_port()}/warehouse"
    )
    with pytest.raises(WirelaneError, match="check that the destination is up") as failure:
        load.run("postgres", resources=["members"])
    assert "\n" not in str(failure.value) and "secret" not in str(failure.value)
