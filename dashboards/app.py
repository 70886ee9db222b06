"""The Wirelane dashboard: revenue, sessions, utilization and data quality over the dbt marts.

Started by `wirelane-sync dashboard`, which names the warehouse through the environment
(WIRELANE_DASHBOARD_DESTINATION, and dlt's DESTINATION__DUCKDB__CREDENTIALS or
DESTINATION__POSTGRES__CREDENTIALS), so the page reads exactly the warehouse the pipeline
loads, resolved by `pipelines.warehouse.locate` like every other command. Every figure comes
from `dashboards.queries`; this file only lays them out. Queries are cached for a minute: each
refresh opens one short read-only connection, so a DuckDB load is never kept waiting for long.
"""

from __future__ import annotations

import os
from datetime import date
from decimal import Decimal
from typing import Any, cast

import streamlit as st

from dashboards import queries
from pipelines.destinations import Destination
from pipelines.status import Status, collect
from pipelines.warehouse import Warehouse, WarehouseBusy, WarehouseMissing, locate
from sources.wirelane.errors import WirelaneError

CACHE_SECONDS = 60
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
BREAKDOWN_TITLES = {"tariff": "Tariff", "identification_type": "Identification type", "roaming_provider": "Roaming"}


def money(value: Decimal, currency: str) -> str:
    return f"{value:,.2f} {currency}"


def kwh(value: Decimal) -> str:
    return f"{value:,.2f} kWh"


def percent(value: Decimal | float | None) -> str:
    return "–" if value is None else f"{float(value) * 100:.1f} %"


def _plain(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows for the charts and tables: decimals as floats, dates as ISO strings."""

    def convert(value: Any) -> Any:
        if isinstance(value, Decimal):
            return float(value)
        if isinstance(value, date):
            return value.isoformat()
        return value

    return [{key: convert(value) for key, value in row.items()} for row in rows]


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def _options(warehouse: Warehouse) -> queries.Options:
    with queries.connect(warehouse) as db:
        queries.check_marts(db)
        return queries.options(db)


@st.cache_data(ttl=CACHE_SECONDS, show_spinner="Reading the marts…")
def _page(warehouse: Warehouse, filters: queries.Filters, grain: queries.Grain) -> queries.Page:
    with queries.connect(warehouse) as db:
        return queries.page(db, filters, grain)


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def _status(destination: Destination) -> Status:
    return collect(destination)


def _filters(options: queries.Options) -> queries.Filters:
    sidebar = st.sidebar
    sidebar.header("Filters")
    organizations = sidebar.multiselect("Organization", options.organizations, key="organizations")
    first = options.first_day or date.today()
    last = options.last_day or first
    picked = sidebar.date_input(
        "Date range", value=(first, last), min_value=first, max_value=last, key="dates", format="YYYY-MM-DD"
    )
    days = [day for day in (picked if isinstance(picked, tuple) else (picked,)) if isinstance(day, date)]
    start, end = (days[0], days[-1]) if days else (first, last)  # one day picked so far: that day alone
    cities = sidebar.multiselect("City", options.cities, key="cities")
    charging_types = sidebar.multiselect(
        "Charging type", queries.CHARGING_TYPES, key="charging_types", help="AC: no DC connector; DC: at least one."
    )
    sidebar.caption(
        "Revenue counts a session on its local end date, sessions on their local start date; "
        "city and charging type select stations (`dim_charging_stations`)."
    )
    return queries.Filters(start, end, tuple(organizations), tuple(cities), tuple(charging_types))


def _kpis(page: queries.Page) -> None:
    for totals in page.revenue or [queries.RevenueTotals("EUR", 0, Decimal(0), Decimal(0), Decimal(0), Decimal(0))]:
        suffix = f" ({totals.currency})" if len(page.revenue) > 1 else ""
        columns = st.columns(4)
        columns[0].metric(f"Net revenue{suffix}", money(totals.revenue_net, totals.currency))
        columns[1].metric(f"VAT{suffix}", money(totals.revenue_vat, totals.currency))
        columns[2].metric(f"Gross revenue{suffix}", money(totals.revenue_gross, totals.currency))
        columns[3].metric(f"Billed energy{suffix}", kwh(totals.energy_kwh))
    sessions = page.sessions
    columns = st.columns(4)
    columns[0].metric("Sessions", f"{sessions.sessions:,}")
    columns[1].metric("Successful sessions", f"{sessions.successful_sessions:,}")
    columns[2].metric("Success rate", percent(sessions.success_rate))
    columns[3].metric("Failed sessions", f"{sessions.failed_sessions:,}")


def _time_series(page: queries.Page, grain: queries.Grain) -> None:
    revenue = _plain(page.revenue_series)
    long = [
        {"period": row["period"], "part": part, "amount": row[column], "currency": row["currency"]}
        for row in revenue
        for part, column in (("net", "revenue_net"), ("VAT", "revenue_vat"))
    ]
    left, right = st.columns(2)
    left.subheader(f"Revenue per {grain}")
    left.vega_lite_chart(
        long,
        {
            "mark": {"type": "bar", "tooltip": True},
            "encoding": {
                "x": {"field": "period", "type": "temporal", "timeUnit": "yearmonthdate", "title": None},
                "y": {"field": "amount", "type": "quantitative", "aggregate": "sum", "title": "net + VAT = gross"},
                "color": {"field": "part", "type": "nominal", "title": None},
            },
        },
        width="stretch",
    )
    right.subheader(f"Billed energy per {grain}")
    right.vega_lite_chart(
        revenue,
        {
            "mark": {"type": "line", "point": True, "tooltip": True},
            "encoding": {
                "x": {"field": "period", "type": "temporal", "timeUnit": "yearmonthdate", "title": None},
                "y": {"field": "energy_kwh", "type": "quantitative", "aggregate": "sum", "title": "kWh"},
            },
        },
        width="stretch",
    )
    st.subheader(f"Sessions and success rate per {grain}")
    st.vega_lite_chart(
        _plain(page.session_series),
        {
            "encoding": {"x": {"field": "period", "type": "temporal", "timeUnit": "yearmonthdate", "title": None}},
            "layer": [
                {
                    "mark": {"type": "bar", "opacity": 0.7, "tooltip": True},
                    "encoding": {"y": {"field": "sessions", "type": "quantitative", "title": "sessions"}},
                },
                {
                    "mark": {"type": "line", "color": "#d62728", "point": True, "tooltip": True},
                    "encoding": {
                        "y": {
                            "field": "success_rate",
                            "type": "quantitative",
                            "title": "success rate",
                            "axis": {"format": ".0%"},
                            "scale": {"domain": [0, 1]},
                        }
                    },
                },
            ],
            "resolve": {"scale": {"y": "independent"}},
        },
        width="stretch",
    )


def _heatmap(page: queries.Page) -> None:
    st.subheader("Utilization by weekday and hour")
    st.caption("Occupied over available hours (`mart_utilization_hour_of_day`, whole months of the range).")
    cells = [{**row, "day": WEEKDAYS[int(row["weekday"]) - 1]} for row in _plain(page.heatmap)]
    st.vega_lite_chart(
        cells,
        {
            "mark": {"type": "rect", "tooltip": True},
            "encoding": {
                "x": {"field": "hour", "type": "ordinal", "title": "local hour"},
                "y": {"field": "day", "type": "ordinal", "sort": list(WEEKDAYS), "title": None},
                "color": {
                    "field": "occupancy_rate",
                    "type": "quantitative",
                    "title": "occupancy",
                    "legend": {"format": ".0%"},
                },
            },
        },
        width="stretch",
    )


def _stations(page: queries.Page) -> None:
    rows = _plain(page.stations)
    shown = [
        {
            "station": row["station_label"],
            "organization": row["organization_id"],
            "city": row["city"],
            "type": row["power_class"],
            "net revenue": row["revenue_net"],
            "energy kWh": row["energy_kwh"],
            "sessions": row["sessions"],
            "occupancy": row["occupancy_rate"],
        }
        for row in rows
    ]
    config = {"occupancy": st.column_config.NumberColumn(format="percent")}
    left, right = st.columns(2)
    left.subheader("Top stations by net revenue")
    left.dataframe(shown[:10], hide_index=True, column_config=config, width="stretch")
    right.subheader("Bottom stations by net revenue")
    right.dataframe(list(reversed(shown[-10:])), hide_index=True, column_config=config, width="stretch")
    st.subheader("Stations by net revenue")
    located = [row for row in rows if row["latitude"] is not None and row["longitude"] is not None]
    top = max((row["revenue_net"] for row in located), default=0.0) or 1.0
    points = [
        {
            "lat": row["latitude"],
            "lon": row["longitude"],
            "size": 2000 + 18000 * (row["revenue_net"] / top) ** 0.5,  # area in proportion to revenue
        }
        for row in located
    ]
    st.map(points, latitude="lat", longitude="lon", size="size", width="stretch")


def _breakdowns(page: queries.Page) -> None:
    st.subheader("Revenue by tariff, identification type and roaming provider")
    for column, (breakdown, rows) in zip(st.columns(3), page.breakdowns.items(), strict=True):
        column.markdown(f"**{BREAKDOWN_TITLES[breakdown]}**")
        column.vega_lite_chart(
            _plain(rows),
            {
                "mark": {"type": "bar", "tooltip": True},
                "encoding": {
                    "y": {"field": "label", "type": "nominal", "sort": "-x", "title": None},
                    "x": {"field": "revenue_net", "type": "quantitative", "title": "net revenue"},
                },
            },
            width="stretch",
        )


def _reconciliation(page: queries.Page) -> None:
    st.subheader("Price reconciliation")
    st.caption("Billed prices against those recomputed from the price models (`fct_session_price_reconciliation`).")
    columns = st.columns(3)
    for column, status, label in zip(
        columns,
        ("exact", "mismatch", "not_computable"),
        ("Exact prices", "Mismatches", "Not computable"),
        strict=True,
    ):
        column.metric(label, f"{page.reconciliation.get(status, 0):,}")
    if page.mismatches:
        st.dataframe(_plain(page.mismatches), hide_index=True, width="stretch")
    else:
        st.success("No billed price differs from its recomputation in this selection.")


def _freshness(destination: Destination) -> None:
    st.subheader("Data freshness")
    status = _status(destination)
    if status.warehouse_state != "readable":
        st.warning(f"Cannot read the load history: {status.problem}")
        return
    columns = st.columns(3)
    last = status.last_load or {}
    loaded_at = str(last.get("loaded_at") or "never")
    columns[0].metric("Last load", loaded_at.replace("T", " ").replace("+00:00", " UTC"))
    age = status.freshness.age_hours
    columns[1].metric("Age", "–" if age is None else f"{age:.1f} h")
    columns[2].metric("Freshness", status.freshness.status)
    cursors = [
        {"resource": resource.name, "organization": org, "cursor": value}
        for resource in status.resources
        for org, value in sorted((resource.cursor or {}).items())
    ]
    if cursors:
        st.dataframe(cursors, hide_index=True, width="stretch")
    st.caption(f"Completed loads: {status.loads:,}; state read from the {status.state_from or 'nowhere'}.")


def main() -> None:
    st.set_page_config(page_title="Wirelane dashboard", layout="wide")
    st.title("Wirelane charging dashboard")
    destination = cast(Destination, os.environ.get("WIRELANE_DASHBOARD_DESTINATION", "duckdb"))
    try:
        warehouse = locate(destination)
        options = _options(warehouse)
    except WarehouseMissing as error:
        st.info(str(error))
        return
    except WarehouseBusy as error:
        st.warning(f"{error}; refresh in a moment.")
        return
    except WirelaneError as error:
        st.error(str(error))
        return
    st.caption(f"Marts of {warehouse.label}")
    filters = _filters(options)
    grain = st.radio("Grain", queries.GRAINS, horizontal=True, key="grain")
    try:
        page = _page(warehouse, filters, grain)
    except WarehouseBusy as error:
        st.warning(f"{error}; refresh in a moment.")
        return
    _kpis(page)
    _time_series(page, grain)
    _heatmap(page)
    _stations(page)
    _breakdowns(page)
    _reconciliation(page)
    _freshness(destination)


main()
