"""Every figure the dashboard shows, as SQL over the dbt marts (schema `marts`).

Kept apart from the Streamlit page so the numbers can be tested without a browser, and so the
same SQL runs on DuckDB and on Postgres: plain ANSI SQL, `?` placeholders (rewritten to `%s`
for psycopg2), no `%` anywhere in a statement.

The figures are sums of the marts' own columns, never re-derived from raw rows: revenue from
`mart_revenue_daily` (by the session's local end date), sessions from `mart_sessions_daily` (by
local start date), utilization from `mart_station_utilization_daily` and
`mart_utilization_hour_of_day`, rates as ratios of sums (the marts' docs say never to average
rates). Filters on city and charging type select stations through `dim_charging_stations`; a
station's charging type is AC when it has no DC connector (`power_class = 'AC'`), DC otherwise.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal, Protocol

from pipelines.warehouse import Warehouse
from pipelines.warehouse import connection as warehouse_connection
from sources.wirelane.errors import WirelaneError

Grain = Literal["day", "week", "month"]
GRAINS: tuple[Grain, ...] = ("day", "week", "month")
Breakdown = Literal["tariff", "identification_type", "roaming_provider"]
BREAKDOWNS: tuple[Breakdown, ...] = ("tariff", "identification_type", "roaming_provider")
CHARGING_TYPES = ("AC", "DC")
REQUIRED_MARTS = frozenset(
    {
        "mart_revenue_daily", "mart_sessions_daily", "mart_station_utilization_daily", "mart_utilization_hour_of_day",
        "dim_charging_stations", "dim_tariffs", "fct_charging_sessions", "fct_session_price_reconciliation",
    }
)  # fmt: skip
_CHARGING_TYPE = "case when s.power_class = 'AC' then 'AC' else 'DC' end"


class MartsMissing(WirelaneError):
    """The warehouse has no (or not all) marts: dbt has not built them yet."""


class Db(Protocol):
    def rows(self, sql: str, params: Sequence[object] = ()) -> list[dict[str, Any]]: ...


class _Db:
    """Rows as dicts by column name, over a DB-API cursor of either warehouse."""

    def __init__(self, connection: Any, placeholder: str) -> None:
        self._connection = connection
        self._placeholder = placeholder

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[dict[str, Any]]:
        cursor = self._connection.cursor()
        try:
            cursor.execute(sql.replace("?", self._placeholder), list(params))
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        finally:
            cursor.close()


@contextlib.contextmanager
def connect(warehouse: Warehouse) -> Iterator[Db]:
    """A read-only connection for the block, closed right after: a DuckDB reader holds a lock
    that keeps the loader out, so the page opens one per refresh, not one per session."""
    with warehouse_connection(warehouse, "wirelane-sync dashboard") as (opened, placeholder):
        yield _Db(opened, placeholder)


@dataclass(frozen=True)
class Filters:
    """What the sidebar selected; an empty tuple means no restriction. Dates are inclusive."""

    start: date
    end: date
    organizations: tuple[str, ...] = ()
    cities: tuple[str, ...] = ()
    charging_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class Options:
    """The choices the filters offer, from the marts themselves."""

    organizations: tuple[str, ...]
    cities: tuple[str, ...]
    first_day: date | None
    last_day: date | None


@dataclass(frozen=True)
class RevenueTotals:
    currency: str
    billable_sessions: int
    energy_kwh: Decimal
    revenue_net: Decimal
    revenue_vat: Decimal
    revenue_gross: Decimal


@dataclass(frozen=True)
class SessionTotals:
    sessions: int
    successful_sessions: int
    failed_sessions: int
    energy_kwh: Decimal

    @property
    def success_rate(self) -> Decimal | None:
        """Successful over all sessions (closed with energy > 0), as `mart_sessions_daily` defines it."""
        if not self.sessions:
            return None
        return Decimal(self.successful_sessions) / Decimal(self.sessions)


@dataclass(frozen=True)
class Page:
    """Everything one rendering of the page shows, read in one short connection."""

    revenue: list[RevenueTotals]
    sessions: SessionTotals
    revenue_series: list[dict[str, Any]]
    session_series: list[dict[str, Any]]
    heatmap: list[dict[str, Any]]
    stations: list[dict[str, Any]]
    breakdowns: dict[str, list[dict[str, Any]]]
    reconciliation: dict[str, int]
    mismatches: list[dict[str, Any]] = field(default_factory=list)


def _in(column: str, values: Sequence[str]) -> tuple[str, list[object]]:
    return f"{column} in ({', '.join('?' for _ in values)})", list(values)


def _station_conditions(filters: Filters) -> tuple[list[str], list[object]]:
    """The city and charging-type filters over `dim_charging_stations` aliased `s`."""
    conditions: list[str] = []
    params: list[object] = []
    for column, chosen in (("s.city", filters.cities), (_CHARGING_TYPE, filters.charging_types)):
        if chosen:
            sql, values = _in(column, chosen)
            conditions.append(sql)
            params += values
    return conditions, params


def _where(filters: Filters, date_column: str, *, whole_months: bool = False) -> tuple[str, list[object]]:
    """The filter as a WHERE clause over a mart aliased `t` (with organization_id, station_id)."""
    start: date = filters.start.replace(day=1) if whole_months else filters.start
    conditions = [f"t.{date_column} between ? and ?"]
    params: list[object] = [start, filters.end]
    if filters.organizations:
        sql, values = _in("t.organization_id", filters.organizations)
        conditions.append(sql)
        params += values
    if filters.cities or filters.charging_types:
        by_station, values = _station_conditions(filters)
        station_conditions = ["s.organization_id = t.organization_id", "s.station_id = t.station_id", *by_station]
        params += values
        conditions.append(
            f"exists (select 1 from marts.dim_charging_stations as s where {' and '.join(station_conditions)})"
        )
    return " and ".join(conditions), params


def _period(column: str, grain: Grain) -> str:
    if grain not in GRAINS:  # inlined into the SQL, so only ever one of ours
        raise ValueError(f"unknown grain {grain!r}")
    return f"cast(date_trunc('{grain}', {column}) as date)"


def check_marts(db: Db) -> None:
    """MartsMissing unless every mart the page reads exists."""
    found = {
        str(row["table_name"])
        for row in db.rows("select table_name from information_schema.tables where table_schema = 'marts'")
    }
    missing = sorted(REQUIRED_MARTS - found)
    if missing:
        raise MartsMissing(f"the marts are not built ({', '.join(missing)} missing); run `wirelane-sync transform`")


def options(db: Db) -> Options:
    organizations = db.rows(
        "select organization_id from marts.dim_charging_stations union "
        "select organization_id from marts.mart_revenue_daily order by 1"
    )
    cities = db.rows("select distinct city from marts.dim_charging_stations where city is not null order by 1")
    bounds = db.rows(
        "select min(d) as first_day, max(d) as last_day from ("
        " select local_end_date as d from marts.mart_revenue_daily"
        " union all select local_start_date from marts.mart_sessions_daily) as days"
    )[0]
    return Options(
        tuple(str(r["organization_id"]) for r in organizations),
        tuple(str(r["city"]) for r in cities),
        bounds["first_day"],
        bounds["last_day"],
    )


def revenue_totals(db: Db, filters: Filters) -> list[RevenueTotals]:
    """Net, VAT and gross revenue and energy of billed sessions, per currency (never summed across)."""
    where, params = _where(filters, "local_end_date")
    rows = db.rows(
        "select t.currency, sum(t.billable_sessions) as billable_sessions, sum(t.energy_kwh) as energy_kwh,"
        " sum(t.revenue_net) as revenue_net, sum(t.revenue_vat) as revenue_vat, sum(t.revenue_gross) as revenue_gross"
        f" from marts.mart_revenue_daily as t where {where} group by t.currency order by t.currency",
        params,
    )
    return [
        RevenueTotals(
            str(r["currency"]),
            int(r["billable_sessions"]),
            Decimal(r["energy_kwh"]),
            Decimal(r["revenue_net"]),
            Decimal(r["revenue_vat"]),
            Decimal(r["revenue_gross"]),
        )
        for r in rows
    ]


def session_totals(db: Db, filters: Filters) -> SessionTotals:
    where, params = _where(filters, "local_start_date")
    row = db.rows(
        "select coalesce(sum(t.sessions), 0) as sessions, coalesce(sum(t.successful_sessions), 0) as successful,"
        " coalesce(sum(t.failed_sessions), 0) as failed, coalesce(sum(t.energy_kwh), 0) as energy_kwh"
        f" from marts.mart_sessions_daily as t where {where}",
        params,
    )[0]
    return SessionTotals(int(row["sessions"]), int(row["successful"]), int(row["failed"]), Decimal(row["energy_kwh"]))


def revenue_series(db: Db, filters: Filters, grain: Grain) -> list[dict[str, Any]]:
    """Revenue and energy per day, week (ISO, from Monday) or month of the local end date."""
    where, params = _where(filters, "local_end_date")
    period = _period("t.local_end_date", grain)
    return db.rows(
        f"select {period} as period, t.currency, sum(t.billable_sessions) as billable_sessions,"
        " sum(t.energy_kwh) as energy_kwh, sum(t.revenue_net) as revenue_net, sum(t.revenue_vat) as revenue_vat,"
        " sum(t.revenue_gross) as revenue_gross"
        f" from marts.mart_revenue_daily as t where {where} group by 1, 2 order by 1, 2",
        params,
    )


def session_series(db: Db, filters: Filters, grain: Grain) -> list[dict[str, Any]]:
    where, params = _where(filters, "local_start_date")
    period = _period("t.local_start_date", grain)
    rows = db.rows(
        f"select {period} as period, sum(t.sessions) as sessions, sum(t.successful_sessions) as successful_sessions,"
        " sum(t.failed_sessions) as failed_sessions"
        f" from marts.mart_sessions_daily as t where {where} group by 1 order by 1",
        params,
    )
    for row in rows:
        row["success_rate"] = Decimal(row["successful_sessions"]) / row["sessions"] if row["sessions"] else None
    return rows


def utilization_heatmap(db: Db, filters: Filters) -> list[dict[str, Any]]:
    """Occupancy per local weekday (1 = Monday) and hour, over the whole months the range touches
    (`mart_utilization_hour_of_day` is monthly)."""
    where, params = _where(filters, "month", whole_months=True)
    return db.rows(
        "select t.local_iso_weekday as weekday, t.local_hour as hour, sum(t.available_hours) as available_hours,"
        " sum(t.occupied_hours) as occupied_hours, sum(t.charging_hours) as charging_hours,"
        " sum(t.sessions_started) as sessions_started,"
        " case when sum(t.available_hours) > 0 then sum(t.occupied_hours) / sum(t.available_hours) end"
        " as occupancy_rate"
        f" from marts.mart_utilization_hour_of_day as t where {where} group by 1, 2 order by 1, 2",
        params,
    )


def stations(db: Db, filters: Filters) -> list[dict[str, Any]]:
    """Every station the filters select (deleted ones only when they earned in the range), with its
    revenue, energy, sessions and occupancy in the range; the best first."""
    revenue_where, revenue_params = _where(filters, "local_end_date")
    sessions_where, sessions_params = _where(filters, "local_start_date")
    use_where, use_params = _where(filters, "local_date")
    conditions: list[str] = []
    params: list[object] = []
    if filters.organizations:
        sql, values = _in("s.organization_id", filters.organizations)
        conditions.append(sql)
        params += values
    by_station, values = _station_conditions(filters)
    conditions += by_station
    params += values
    conditions.append("(not s.is_deleted or r.revenue_net is not null)")
    return db.rows(
        "with r as ("
        " select t.organization_id, t.station_id, t.currency, sum(t.revenue_net) as revenue_net,"
        " sum(t.revenue_gross) as revenue_gross, sum(t.energy_kwh) as energy_kwh,"
        " sum(t.billable_sessions) as billable_sessions"
        f" from marts.mart_revenue_daily as t where {revenue_where} group by 1, 2, 3"
        "), n as ("
        " select t.organization_id, t.station_id, sum(t.sessions) as sessions,"
        " sum(t.successful_sessions) as successful_sessions"
        f" from marts.mart_sessions_daily as t where {sessions_where} group by 1, 2"
        "), u as ("
        " select t.organization_id, t.station_id,"
        " case when sum(t.available_hours) > 0 then sum(t.occupied_hours) / sum(t.available_hours) end"
        " as occupancy_rate"
        f" from marts.mart_station_utilization_daily as t where {use_where} group by 1, 2"
        ")"
        " select s.organization_id, s.station_id, s.station_label, s.city, s.latitude, s.longitude,"
        f" {_CHARGING_TYPE} as charging_type, s.power_class, r.currency,"
        " coalesce(r.revenue_net, 0) as revenue_net, coalesce(r.revenue_gross, 0) as revenue_gross,"
        " coalesce(r.energy_kwh, 0) as energy_kwh, coalesce(n.sessions, 0) as sessions,"
        " coalesce(n.successful_sessions, 0) as successful_sessions, u.occupancy_rate"
        " from marts.dim_charging_stations as s"
        " left join r on r.organization_id = s.organization_id and r.station_id = s.station_id"
        " left join n on n.organization_id = s.organization_id and n.station_id = s.station_id"
        " left join u on u.organization_id = s.organization_id and u.station_id = s.station_id"
        f" where {' and '.join(conditions)}"
        " order by revenue_net desc, energy_kwh desc, s.organization_id, s.station_id",
        [*revenue_params, *sessions_params, *use_params, *params],
    )


def revenue_by(db: Db, filters: Filters, breakdown: Breakdown) -> list[dict[str, Any]]:
    """Revenue per tariff (its current English name), identification type or roaming provider."""
    where, params = _where(filters, "local_end_date")
    if breakdown == "tariff":
        # tariffs belong to one organization: the name, and whose it is
        label = "coalesce(d.name, t.tariff_id, '(no tariff)') || ' (' || t.organization_id || ')'"
        join = (
            " left join marts.dim_tariffs as d on d.organization_id = t.organization_id"
            " and d.tariff_id = t.tariff_id and d.is_current_version"
        )
    elif breakdown in ("identification_type", "roaming_provider"):
        label, join = f"coalesce(t.{breakdown}, '(none)')", ""
    else:
        raise ValueError(f"unknown breakdown {breakdown!r}")
    return db.rows(
        f"select {label} as label, t.currency, sum(t.billable_sessions) as billable_sessions,"
        " sum(t.energy_kwh) as energy_kwh, sum(t.revenue_net) as revenue_net, sum(t.revenue_gross) as revenue_gross"
        f" from marts.mart_revenue_daily as t{join} where {where} group by 1, 2 order by revenue_net desc, 1",
        params,
    )


def reconciliation(db: Db, filters: Filters) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Closed sessions by reconciliation status (exact, mismatch, not_computable), and the
    sessions whose billed price differs from the one recomputed from their price model (largest first)."""
    where, params = _where(filters, "local_end_date")  # over the session (t), by its local end date
    base = (
        " from marts.fct_session_price_reconciliation as p"
        " inner join marts.fct_charging_sessions as t on t.session_id = p.session_id"
        f" where {where}"
    )
    counts = {
        str(r["recon_status"]): int(r["sessions"])
        for r in db.rows(f"select p.recon_status, count(*) as sessions{base} group by 1", params)
    }
    mismatches = db.rows(
        "select p.session_id, p.organization_id, t.station_id, t.local_end_date, p.billed_excl_vat,"
        " p.recomputed_excl_vat, p.diff_excl_vat, p.billed_vat, p.recomputed_vat, p.diff_vat"
        f"{base} and p.recon_status = 'mismatch' order by abs(p.diff_excl_vat) desc, p.session_id limit 200",
        params,
    )
    return counts, mismatches


def page(db: Db, filters: Filters, grain: Grain) -> Page:
    counts, mismatches = reconciliation(db, filters)
    return Page(
        revenue=revenue_totals(db, filters),
        sessions=session_totals(db, filters),
        revenue_series=revenue_series(db, filters, grain),
        session_series=session_series(db, filters, grain),
        heatmap=utilization_heatmap(db, filters),
        stations=stations(db, filters),
        breakdowns={breakdown: revenue_by(db, filters, breakdown) for breakdown in BREAKDOWNS},
        reconciliation=counts,
        mismatches=mismatches,
    )
