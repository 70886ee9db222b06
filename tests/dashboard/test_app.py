"""The dashboard's figures against the marts: its queries directly, then the page in Streamlit's
AppTest (filters applied through the widgets). The expected numbers are computed here with SQL
of their own over the marts, not with `dashboards.queries`."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboards import queries
from pipelines.warehouse import Warehouse as Location
from tests.dashboard.conftest import Warehouse

APP = str(Path(__file__).resolve().parents[2] / "dashboards" / "app.py")


def location(wh: Warehouse) -> Location:
    return Location("duckdb", str(wh.duckdb_file), duckdb_path=wh.duckdb_file)


def expected_revenue(wh: Warehouse, where: str = "true", params: list[object] | None = None) -> tuple[Decimal, ...]:
    """Net, VAT, gross and energy of mart_revenue_daily rows joined to their station."""
    [row] = wh.query(
        "select sum(r.revenue_net), sum(r.revenue_vat), sum(r.revenue_gross), sum(r.energy_kwh), sum(r.billable_sessions) "
        "from marts.mart_revenue_daily r join marts.dim_charging_stations s using (organization_id, station_id) "
        f"where {where}",
        params,
    )
    return tuple(Decimal(value) for value in row)


def test_queries_equal_the_marts(warehouse: Warehouse) -> None:
    with queries.connect(location(warehouse)) as db:
        queries.check_marts(db)
        options = queries.options(db)
        assert options.first_day is not None and options.last_day is not None
        everything = queries.Filters(options.first_day, options.last_day)
        page = queries.page(db, everything, "month")
        # one selection of every kind: organization, city, charging type, a date range
        org = options.organizations[0]
        [(city,)] = warehouse.query(
            "select city from marts.dim_charging_stations where organization_id = ? group by city order by count(*) desc, city limit 1",
            [org],
        )
        start, end = date(2026, 10, 1), date(2026, 10, 20)
        narrow = queries.Filters(start, end, (org,), (city,), ("AC", "DC"))
        narrow_page = queries.page(db, narrow, "week")
        dc_only = queries.revenue_totals(db, queries.Filters(start, end, charging_types=("DC",)))

    # the whole range: totals equal mart_revenue_monthly, month by month too
    [totals] = page.revenue
    monthly = warehouse.query(
        "select month, sum(revenue_net), sum(revenue_vat), sum(revenue_gross), sum(energy_kwh) "
        "from marts.mart_revenue_monthly group by month order by month"
    )
    assert [
        (r["period"], r["revenue_net"], r["revenue_vat"], r["revenue_gross"], r["energy_kwh"])
        for r in page.revenue_series
    ] == monthly
    assert (totals.revenue_net, totals.revenue_vat, totals.revenue_gross, totals.energy_kwh) == tuple(
        sum((row[i] for row in monthly), Decimal(0)) for i in range(1, 5)
    )
    [(sessions, successful)] = warehouse.query(
        "select sum(sessions), sum(successful_sessions) from marts.mart_sessions_daily"
    )
    assert (page.sessions.sessions, page.sessions.successful_sessions) == (sessions, successful)
    assert page.sessions.success_rate == Decimal(successful) / Decimal(sessions)
    # every breakdown splits the same total
    for breakdown, rows in page.breakdowns.items():
        assert sum((r["revenue_net"] for r in rows), Decimal(0)) == totals.revenue_net, breakdown
    assert sum(r["revenue_net"] for r in page.stations) == totals.revenue_net
    [(occupied,)] = warehouse.query("select sum(occupied_hours) from marts.mart_utilization_hour_of_day")
    assert sum(r["occupied_hours"] for r in page.heatmap) == occupied
    [(closed,)] = warehouse.query("select count(*) from marts.fct_session_price_reconciliation")
    assert sum(page.reconciliation.values()) == closed

    # the narrow selection
    where = "r.organization_id = ? and s.city = ? and r.local_end_date between ? and ?"
    net, vat, gross, energy, billed = expected_revenue(warehouse, where, [org, city, start, end])
    [narrow_totals] = narrow_page.revenue
    assert (narrow_totals.revenue_net, narrow_totals.revenue_vat, narrow_totals.revenue_gross) == (net, vat, gross)
    assert (narrow_totals.energy_kwh, narrow_totals.billable_sessions) == (energy, billed)
    assert 0 < net < totals.revenue_net
    assert {r["city"] for r in narrow_page.stations} == {city}
    [(narrow_sessions,)] = warehouse.query(
        "select sum(d.sessions) from marts.mart_sessions_daily d join marts.dim_charging_stations s "
        "using (organization_id, station_id) where d.organization_id = ? and s.city = ? "
        "and d.local_start_date between ? and ?",
        [org, city, start, end],
    )
    assert narrow_page.sessions.sessions == narrow_sessions
    # charging type by the station's connectors: DC stations are those with a DC connector
    [dc] = dc_only
    assert (
        dc.revenue_net
        == expected_revenue(warehouse, "s.dc_connectors > 0 and r.local_end_date between ? and ?", [start, end])[0]
    )


def page_metrics(at: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


def test_page_shows_the_marts_and_follows_the_filters(warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in warehouse.env.items():
        monkeypatch.setenv(name, value)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception and not at.error
    net, vat, gross, energy, _ = expected_revenue(warehouse)
    [(sessions, successful)] = warehouse.query(
        "select sum(sessions), sum(successful_sessions) from marts.mart_sessions_daily"
    )
    shown = page_metrics(at)
    assert shown["Net revenue"] == f"{net:,.2f} EUR"
    assert shown["VAT"] == f"{vat:,.2f} EUR"
    assert shown["Gross revenue"] == f"{gross:,.2f} EUR"
    assert shown["Billed energy"] == f"{energy:,.2f} kWh"
    assert shown["Sessions"] == f"{sessions:,}"
    assert shown["Success rate"] == f"{successful / sessions * 100:.1f} %"
    assert shown["Freshness"] == "pass"  # read by pipelines.status from the load just made
    assert shown["Mismatches"] == "0"

    org = at.sidebar.multiselect(key="organizations").options[0]
    at.sidebar.multiselect(key="organizations").select(org).run()
    at.sidebar.date_input(key="dates").set_value((date(2026, 10, 5), date(2026, 10, 25))).run()
    at.radio(key="grain").set_value("day").run()
    assert not at.exception
    net, vat, gross, energy, _ = expected_revenue(
        warehouse,
        "r.organization_id = ? and r.local_end_date between ? and ?",
        [org, date(2026, 10, 5), date(2026, 10, 25)],
    )
    shown = page_metrics(at)
    assert (shown["Net revenue"], shown["Gross revenue"]) == (f"{net:,.2f} EUR", f"{gross:,.2f} EUR")

    at.sidebar.multiselect(key="charging_types").select("DC").run()
    dc_net = expected_revenue(
        warehouse,
        "r.organization_id = ? and r.local_end_date between ? and ? and s.power_class <> 'AC'",
        [org, date(2026, 10, 5), date(2026, 10, 25)],
    )[0]
    assert page_metrics(at)["Net revenue"] == f"{dc_net:,.2f} EUR"


def test_page_says_when_nothing_is_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(tmp_path / "none.duckdb"))
    monkeypatch.setenv("WIRELANE_DASHBOARD_DESTINATION", "duckdb")
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    assert "run `wirelane-sync run` first" in at.info[0].value


def test_dashboard_refuses_a_taken_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "pipelines.cli", "dashboard", "--port", str(port)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 2, done.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "choose another --port" in done.stderr
