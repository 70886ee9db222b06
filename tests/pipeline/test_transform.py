"""dbt on the loaded warehouse: the marts equal totals computed straight from the API's answers,
on DuckDB and on Postgres alike."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import duckdb
import psycopg2
import pytest

from pipelines import load
from pipelines.transform import BUILD, PROJECT_DIR, UNIT_TESTS, run_dbt
from sources.wirelane.errors import WirelaneError
from tests.pipeline.conftest import Workspace
from tests.pipeline.test_load import api_sessions
from tests.postgres_server import PostgresServer

MONTHLY = (
    "select cast(month as text), organization_id, currency, billable_sessions, energy_kwh, revenue_net, revenue_vat, revenue_gross "
    "from marts.mart_revenue_monthly order by 1, 2, 3"
)


def expected_monthly(ws: Workspace) -> list[tuple[Any, ...]]:
    """Sum of every closed session's price by the month of its local end date, from the raw API."""
    totals: dict[tuple[str, str, str], list[Any]] = defaultdict(
        lambda: [0, Decimal(0), Decimal(0), Decimal(0), Decimal(0)]
    )
    stations_of: dict[str, str] = {}
    for session in api_sessions(ws).values():
        if session["status"] != "closed" or "totalPrice" not in session:
            continue
        price = session["totalPrice"]
        org = session["location"]["owner"]
        stations_of[org] = org
        # the API writes local (Europe/Berlin = Europe/Paris) time: its month is the local month
        key = (session["session_end"][:7] + "-01", _organization(ws, session), price["currency"])
        row = totals[key]
        row[0] += 1
        row[1] += Decimal(repr(session["kwh"]))
        row[2] += Decimal(repr(price["netAmount"]))
        row[3] += Decimal(repr(price["taxAmount"]))
        row[4] += Decimal(repr(price["grossAmount"]))
    return [(*key, *values) for key, values in sorted(totals.items())]


def _organization(ws: Workspace, session: dict[str, Any]) -> str:
    tenants = {org.tenant: org.id for org in ws.simulator.world.organizations}
    return tenants[session["location"]["owner"]]


def test_marts_on_duckdb_equal_the_api(workspace: Workspace) -> None:
    load.run("duckdb")
    summary = run_dbt("duckdb")
    assert summary.results.get("error", 0) == 0 and summary.results.get("fail", 0) == 0
    assert summary.results["success"] >= 5
    units = run_dbt("duckdb", UNIT_TESTS)  # left out of scheduled builds, so run here
    assert units.results.get("pass", 0) >= 5 and set(units.results) == {"pass"}
    assert workspace.query(MONTHLY) == expected_monthly(workspace)
    sessions = workspace.query("select count(*), count(distinct session_id) from marts.fct_charging_sessions")
    assert sessions == [(len(api_sessions(workspace)),) * 2]
    assert workspace.query("select count(*) from marts.fct_charging_sessions where dq_power_above_rating") == [(0,)]
    # every billed price is what its price model gives (the simulator bills by the documented
    # rules and its late corrections reprice too, so nothing may differ)
    statuses = dict(
        workspace.query("select recon_status, count(*) from marts.fct_session_price_reconciliation group by 1")
    )
    closed_priced = sum(1 for s in api_sessions(workspace).values() if s["status"] == "closed" and "totalPrice" in s)
    assert statuses == {"exact": closed_priced}


def test_dimensions_and_daily_sessions(workspace: Workspace) -> None:
    load.run("duckdb")
    run_dbt("duckdb")
    totals = workspace.api.admin("GET", "stats").json()["totals"]
    assert workspace.query("select sum(sessions) from marts.mart_sessions_daily") == [(totals["sessions"],)]
    assert workspace.query("select count(*), sum(connectors) from marts.dim_charging_stations") == [
        (totals["charging_stations"], totals["connectors"])
    ]
    assert workspace.query("select count(*) from marts.dim_members") == [(totals["members"],)]
    member_values = workspace.query("select * from marts.dim_members")
    assert not any("@" in str(value) for row in member_values for value in row), "no raw e-mail address in a mart"
    rapid = workspace.query("select count(*) from marts.dim_charging_stations where is_rapid and power_class = 'AC'")
    assert rapid == [(0,)]
    current = "where is_current_version"
    assert workspace.query(f"select count(*) from marts.dim_tariffs {current}") == [(totals["tariffs"],)]
    assert workspace.query(f"select count(*) from marts.dim_price_models {current}") == [(totals["price_models"],)]
    priced_with = workspace.query(
        "select count(*) from marts.fct_charging_sessions f left join marts.dim_price_models p "
        "on p.price_id = f.price_model_id and p.is_current_version where f.price_model_id is not null and p.price_id is null"
    )
    assert priced_with == [(0,)], "every session's price model is in the dimension"


def comparable(row: tuple[Any, ...]) -> str:
    """A row as text both drivers agree on (they attach different tzinfo objects to UTC)."""
    return repr(tuple(value.astimezone(UTC).isoformat() if isinstance(value, datetime) else value for value in row))


MARTS = (
    "fct_charging_sessions", "mart_revenue_daily", "mart_revenue_monthly", "mart_sessions_daily",
    "fct_session_price_reconciliation", "dim_charging_stations", "dim_members", "dim_tariffs", "dim_price_models",
    "fct_evse_hourly", "mart_station_utilization_daily", "mart_utilization_hour_of_day",
)  # fmt: skip
INCREMENTAL = frozenset(
    {"fct_charging_sessions", "fct_session_price_reconciliation", "fct_evse_hourly", "mart_station_utilization_daily",
     "mart_utilization_hour_of_day", "mart_revenue_daily", "mart_sessions_daily"}
)  # fmt: skip
WHEN_COLUMNS = ("valid_from", "valid_to", "built_at", "loaded_in")


def every_mart(workspace: Workspace) -> dict[str, list[tuple[Any, ...]]]:
    """Every mart's rows, sorted, without `built_at` (which says when a build wrote a row, so it
    differs between an incremental build and a full refresh by design)."""
    marts = {}
    for mart in MARTS:
        columns = [c for (c,) in workspace.query(f"select column_name from (describe marts.{mart})")]
        assert (mart in INCREMENTAL) == ("built_at" in columns), mart
        selected = ", ".join(sorted(c for c in columns if c != "built_at"))  # by name: appended columns come last
        marts[mart] = sorted(map(comparable, workspace.query(f"select {selected} from marts.{mart}")))
    return marts


@pytest.mark.slow
def test_marts_on_postgres_equal_duckdb(
    workspace: Workspace, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    load.run("duckdb")
    run_dbt("duckdb")
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", postgres.dsn)
    with psycopg2.connect(postgres.dsn) as con, con.cursor() as cur:
        cur.execute(
            "drop schema if exists wirelane_raw cascade; drop schema if exists marts cascade; drop schema if exists staging cascade"
        )
    load.run("postgres")
    run_dbt("postgres")
    with psycopg2.connect(postgres.dsn) as con, con.cursor() as cur:
        cur.execute(MONTHLY)
        on_postgres = cur.fetchall()
        cur.execute(
            "select session_id, cast(local_end_date as text), price_incl_vat, energy_kwh from marts.fct_charging_sessions order by 1"
        )
        facts_pg = cur.fetchall()
        cur.execute(
            "select session_id, recomputed_excl_vat, recomputed_vat, recon_status from marts.fct_session_price_reconciliation order by 1"
        )
        recon_pg = cur.fetchall()
    assert on_postgres == workspace.query(MONTHLY)
    facts_duck = workspace.query(
        "select session_id, cast(local_end_date as text), price_incl_vat, energy_kwh from marts.fct_charging_sessions order by 1"
    )
    assert facts_pg == facts_duck
    recon_duck = workspace.query(
        "select session_id, recomputed_excl_vat, recomputed_vat, recon_status from marts.fct_session_price_reconciliation order by 1"
    )
    assert recon_pg == recon_duck and {row[3] for row in recon_pg} == {"exact"}
    with psycopg2.connect(postgres.dsn) as con, con.cursor() as cur:
        for mart in MARTS:
            cur.execute(f"select * from marts.{mart} limit 0")
            # when each warehouse loaded a version (SCD2 validity, load id) or built a row may differ
            columns = ", ".join(d[0] for d in cur.description if d[0] not in WHEN_COLUMNS)
            cur.execute(f"select {columns} from marts.{mart}")
            on_postgres_rows = sorted(map(comparable, cur.fetchall()))
            on_duckdb_rows = sorted(map(comparable, workspace.query(f"select {columns} from marts.{mart}")))
            assert on_postgres_rows == on_duckdb_rows, mart


@pytest.mark.slow
def test_incremental_rebuild_equals_a_full_refresh(workspace: Workspace) -> None:
    load.run("duckdb")
    run_dbt("duckdb")
    workspace.api.admin("POST", "advance", {"minutes": 36 * 60})
    load.run("duckdb")
    run_dbt("duckdb")

    incremental = every_mart(workspace)
    assert len(incremental["fct_charging_sessions"]) == len(api_sessions(workspace))
    # the second build rewrote what the second load brought (and open sessions turning stuck), not everything
    rewritten, loaded, total = workspace.query(
        "select count(*) filter (where built_at = (select max(built_at) from marts.fct_charging_sessions)), "
        "count(*) filter (where loaded_in = (select max(loaded_in) from marts.fct_charging_sessions)), count(*) "
        "from marts.fct_charging_sessions"
    )[0]
    assert 0 < loaded <= rewritten < total
    hours = workspace.query(
        "select count(*) filter (where built_at = (select max(built_at) from marts.fct_evse_hourly)), count(*) "
        "from marts.fct_evse_hourly"
    )[0]
    assert 0 < hours[0] < hours[1]
    # the advance changed prices too: every session is still priced by the version in force at its start
    statuses = workspace.query("select distinct recon_status from marts.fct_session_price_reconciliation")
    assert statuses == [("exact",)]
    run_dbt("duckdb", (*BUILD, "--full-refresh"))
    full = every_mart(workspace)
    for mart in MARTS:
        assert incremental[mart] == full[mart], mart


def test_utilization_accounts_for_every_session(workspace: Workspace) -> None:
    """Energy and session starts spread over EVSE hours add up to the API's sessions, hours on
    maintenance are not available, and stations with opening hours are closed outside them."""
    load.run("duckdb")
    run_dbt("duckdb")
    started = [s for s in api_sessions(workspace).values() if s.get("session_begin")]
    energy, starts = workspace.query("select sum(energy_kwh), sum(sessions_started) from marts.fct_evse_hourly")[0]
    assert starts == len(started)
    assert energy == sum(Decimal(repr(s["kwh"])) for s in started)
    daily = workspace.query(
        "select sum(sessions_started), sum(energy_kwh), sum(maintenance_hours) from marts.mart_station_utilization_daily"
    )
    assert daily[0][:2] == (starts, energy)
    maintained = workspace.query(
        "select count(*) from marts.fct_evse_hourly where maintenance_minutes = 60 and available_minutes > 0"
    )
    assert maintained == [(0,)]
    closed_hours = workspace.query(
        "select count(*), count(case when h.available_minutes > 0 then 1 end) from marts.fct_evse_hourly h "
        "join marts.dim_charging_stations s using (station_id) where not s.is_open_24_7 and h.local_hour < 6"
    )
    assert closed_hours[0][0] > 0 and closed_hours[0][1] == 0, "stations with opening hours are closed at night"
    # both marts regroup the same EVSE hours: equal up to each row's rounding to 1/10,000 hour
    minutes = workspace.query("select sum(occupied_minutes), sum(available_minutes) from marts.fct_evse_hourly")[0]
    exact = (minutes[0] / 60, minutes[1] / 60)
    for mart in ("mart_utilization_hour_of_day", "mart_station_utilization_daily"):
        rows, occupied, available = workspace.query(
            f"select count(*), sum(occupied_hours), sum(available_hours) from marts.{mart}"
        )[0]
        tolerance = rows * Decimal("0.00005")
        assert abs(occupied - exact[0]) <= tolerance and abs(available - exact[1]) <= tolerance, mart


@pytest.mark.slow
def test_source_freshness_reads_completed_loads(workspace: Workspace) -> None:
    load.run("duckdb")
    run_dbt("duckdb", ("source", "freshness"))
    results = json.loads((PROJECT_DIR / "target" / "sources.json").read_text())["results"]
    (loads,) = [r for r in results if r["unique_id"].endswith("._dlt_loads")]
    assert loads["status"] == "pass"
    # a warehouse whose last completed load is two days old is stale: freshness fails loudly
    with duckdb.connect(str(workspace.duckdb_file)) as con:
        con.execute("update wirelane_raw._dlt_loads set inserted_at = inserted_at - interval 48 hours")
    with pytest.raises(WirelaneError, match="freshness"):
        run_dbt("duckdb", ("source", "freshness"))
