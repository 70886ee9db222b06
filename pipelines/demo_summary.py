"""What the demo reports at its end: read from the DuckDB file it built, then rendered as text.

Every figure is read back from `wirelane.duckdb` (the raw tables dlt loaded and the dbt marts)
rather than carried over from the run, so the summary shows what a person querying the file
will find, and the demo's test can check each printed number against the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

RAW_SCHEMA = "wirelane_raw"

# The one query the summary suggests; it must run as printed in the DuckDB CLI and in Python
# (no single quotes, so it fits in a shell's single-quoted `python -c '…'`).
EXAMPLE_QUERY = (
    "select month, sum(billable_sessions) as sessions, sum(energy_kwh) as kwh, sum(revenue_gross) as gross "
    "from marts.mart_revenue_monthly group by month order by month"
)


@dataclass(frozen=True)
class MonthRevenue:
    """One month of `marts.mart_revenue_monthly`, summed over organizations."""

    month: date
    currency: str
    sessions: int
    energy_kwh: Decimal
    net: Decimal
    vat: Decimal
    gross: Decimal


@dataclass(frozen=True)
class StationRevenue:
    """One station's billed sessions over the whole history, from the daily revenue mart."""

    organization_id: str
    station_id: int
    label: str
    city: str
    sessions: int
    energy_kwh: Decimal
    net: Decimal
    gross: Decimal
    currency: str


@dataclass(frozen=True)
class Mismatch:
    session_id: str
    organization_id: str
    billed_excl_vat: Decimal
    recomputed_excl_vat: Decimal
    diff_excl_vat: Decimal
    diff_vat: Decimal


@dataclass(frozen=True)
class Reconciliation:
    """Counts per `recon_status` of `marts.fct_session_price_reconciliation`, and the worst mismatches."""

    by_status: dict[str, int]
    mismatch_diff_excl_vat: Decimal  # sum of |billed - recomputed| over the mismatches
    examples: list[Mismatch]

    @property
    def mismatches(self) -> int:
        return self.by_status.get("mismatch", 0)


@dataclass(frozen=True)
class Freshness:
    completed_loads: int
    last_load_at: datetime | None  # wall-clock time of the newest load with status 0
    newest_session_update: datetime | None  # the API's clock (simulated time in the demo)


@dataclass(frozen=True)
class WarehouseSummary:
    tables: dict[str, int]  # every data table of the raw dataset -> rows in the file
    months: list[MonthRevenue]
    top_stations: list[StationRevenue]
    reconciliation: Reconciliation
    freshness: Freshness


def read_summary(database: Path, top: int = 5) -> WarehouseSummary:
    """Reads the summary with a read-only connection (the demo's writers have all finished)."""
    with duckdb.connect(str(database), read_only=True) as con:
        return WarehouseSummary(
            tables=table_rows(con),
            months=monthly_revenue(con),
            top_stations=top_stations(con, top),
            reconciliation=reconciliation(con),
            freshness=freshness(con),
        )


def table_rows(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows of every data table dlt created (its own `_dlt_*` bookkeeping tables left out)."""
    names = [
        str(row[0])
        for row in con.execute(
            "select table_name from information_schema.tables where table_schema = ? "
            "and table_type = 'BASE TABLE' and not starts_with(table_name, '_dlt') order by table_name",
            [RAW_SCHEMA],
        ).fetchall()
    ]
    # identifiers from the catalog itself, quoted
    return {name: scalar(con, f'select count(*) from {RAW_SCHEMA}."{name}"') for name in names}  # noqa: S608


def sessions_loaded_by(con: duckdb.DuckDBPyConnection, load_id: str | None) -> int:
    """Sessions whose current row came from this load: a merge rewrites the whole row, its
    `_dlt_load_id` included, so these are the sessions the load inserted or updated."""
    if load_id is None:
        return 0
    return scalar(con, "select count(*) from wirelane_raw.sessions where _dlt_load_id = ?", [load_id])


def session_count(con: duckdb.DuckDBPyConnection) -> int:
    return scalar(con, "select count(*) from wirelane_raw.sessions")


def monthly_revenue(con: duckdb.DuckDBPyConnection) -> list[MonthRevenue]:
    rows = con.execute(
        "select month, currency, sum(billable_sessions), sum(energy_kwh), sum(revenue_net), sum(revenue_vat), "
        "sum(revenue_gross) from marts.mart_revenue_monthly group by month, currency order by month, currency"
    ).fetchall()
    return [MonthRevenue(r[0], str(r[1]), int(r[2]), _dec(r[3]), _dec(r[4]), _dec(r[5]), _dec(r[6])) for r in rows]


def top_stations(con: duckdb.DuckDBPyConnection, top: int) -> list[StationRevenue]:
    rows = con.execute(
        "select r.organization_id, r.station_id, coalesce(s.station_label, ''), coalesce(s.city, ''), "
        "sum(r.billable_sessions), sum(r.energy_kwh), sum(r.revenue_net), sum(r.revenue_gross), r.currency "
        "from marts.mart_revenue_daily r "
        "left join marts.dim_charging_stations s "
        "on s.organization_id = r.organization_id and s.station_id = r.station_id "
        "group by all order by sum(r.revenue_net) desc, r.organization_id, r.station_id limit ?",
        [top],
    ).fetchall()
    return [
        StationRevenue(
            str(r[0]), int(r[1]), str(r[2]), str(r[3]), int(r[4]), _dec(r[5]), _dec(r[6]), _dec(r[7]), str(r[8])
        )
        for r in rows
    ]


def reconciliation(con: duckdb.DuckDBPyConnection, examples: int = 3) -> Reconciliation:
    statuses = con.execute(
        "select recon_status, count(*) from marts.fct_session_price_reconciliation group by 1"
    ).fetchall()
    diff = con.execute(
        "select sum(abs(diff_excl_vat)) from marts.fct_session_price_reconciliation where recon_status = 'mismatch'"
    ).fetchone()
    worst = con.execute(
        "select session_id, organization_id, billed_excl_vat, recomputed_excl_vat, diff_excl_vat, diff_vat "
        "from marts.fct_session_price_reconciliation where recon_status = 'mismatch' "
        "order by abs(diff_excl_vat) + abs(diff_vat) desc, session_id limit ?",
        [examples],
    ).fetchall()
    return Reconciliation(
        by_status={str(status): int(count) for status, count in statuses},
        mismatch_diff_excl_vat=_dec(diff[0] if diff else None),
        examples=[Mismatch(str(r[0]), str(r[1]), _dec(r[2]), _dec(r[3]), _dec(r[4]), _dec(r[5])) for r in worst],
    )


def freshness(con: duckdb.DuckDBPyConnection) -> Freshness:
    loads = con.execute("select count(*), max(inserted_at) from wirelane_raw._dlt_loads where status = 0").fetchone()
    newest = con.execute("select max(updated_at) from marts.fct_charging_sessions").fetchone()
    return Freshness(
        completed_loads=int(loads[0]) if loads else 0,
        last_load_at=_utc(loads[1]) if loads else None,
        newest_session_update=_utc(newest[0]) if newest else None,
    )


def scalar(con: duckdb.DuckDBPyConnection, sql: str, parameters: Sequence[object] = ()) -> int:
    """The first column of the first row as an int (0 when empty)."""
    row = con.execute(sql, list(parameters)).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _dec(value: Any) -> Decimal:
    return Decimal(0) if value is None else Decimal(value)


def _utc(value: Any) -> datetime | None:
    return value.astimezone(UTC) if isinstance(value, datetime) else None


# -- rendering ---------------------------------------------------------------------------------


def money(value: Decimal) -> str:
    """Two decimals with thousands separators: how the summary prints every amount."""
    return f"{value:,.2f}"


def kwh(value: Decimal) -> str:
    return f"{value:,.1f}"


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "never"


def render_tables(
    tables: dict[str, int], full: dict[str, int], incremental: dict[str, int], database: str
) -> list[str]:
    """Top-level tables as rows (rows loaded by each run, rows in the file); child tables
    (lists inside records, `<table>__<field>`) summed in one line so the table stays short."""
    top = [name for name in tables if "__" not in name]
    width = max([len(name) for name in top] + [20])
    lines = [f"  {'table':<{width}}  {'full load':>10}  {'incremental':>11}  {'in ' + database:>20}"]
    for name in top:
        lines.append(
            f"  {name:<{width}}  {full.get(name, 0):>10,}  {incremental.get(name, 0):>11,}  {tables[name]:>20,}"
        )
    children = [name for name in tables if "__" in name]
    if children:
        lines.append(
            f"  (+ {len(children)} child tables for lists inside records, {sum(tables[c] for c in children):,} rows; "
            "e.g. charging_stations__connectors)"
        )
    return lines


def render_months(months: list[MonthRevenue]) -> list[str]:
    header = f"  {'month':<8} {'cur':<4} {'sessions':>9} {'energy kWh':>12} {'net':>13} {'VAT':>12} {'gross':>13}"
    lines = [header]
    for m in months:
        lines.append(
            f"  {m.month:%Y-%m}  {m.currency:<4} {m.sessions:>9,} {kwh(m.energy_kwh):>12} {money(m.net):>13} "
            f"{money(m.vat):>12} {money(m.gross):>13}"
        )
    for currency in sorted({m.currency for m in months}):
        of = [m for m in months if m.currency == currency]
        lines.append(
            f"  {'total':<8} {currency:<4} {sum(m.sessions for m in of):>9,} "
            f"{kwh(sum((m.energy_kwh for m in of), Decimal(0))):>12} {money(sum((m.net for m in of), Decimal(0))):>13} "
            f"{money(sum((m.vat for m in of), Decimal(0))):>12} {money(sum((m.gross for m in of), Decimal(0))):>13}"
        )
    return lines


def render_stations(stations: list[StationRevenue]) -> list[str]:
    lines = [f"  {'#':>2}  {'station':<28} {'city':<18} {'organization':<18} {'sessions':>8} {'kWh':>10} {'net':>11}"]
    for rank, s in enumerate(stations, 1):
        label = s.label or str(s.station_id)
        lines.append(
            f"  {rank:>2}  {label[:28]:<28} {s.city[:18]:<18} {s.organization_id[:18]:<18} {s.sessions:>8,} "
            f"{kwh(s.energy_kwh):>10} {money(s.net):>11} {s.currency}"
        )
    return lines


def render_reconciliation(recon: Reconciliation) -> list[str]:
    total = sum(recon.by_status.values())
    parts = ", ".join(f"{recon.by_status.get(s, 0):,} {s}" for s in ("exact", "mismatch", "not_computable"))
    lines = [f"  {total:,} closed, priced sessions recomputed from their price models: {parts}"]
    if recon.mismatches:
        lines.append(f"  mismatches differ by {money(recon.mismatch_diff_excl_vat)} excl. VAT in total; the largest:")
        for m in recon.examples:
            lines.append(
                f"    {m.organization_id}/{m.session_id}: billed {money(m.billed_excl_vat)}, "
                f"recomputed {money(m.recomputed_excl_vat)} (VAT differs by {money(m.diff_vat)})"
            )
    else:
        lines.append("  every billed price is what its price model gives")
    return lines


def render_query_hints(database: str, python: str, duckdb_version: str) -> list[str]:
    return [
        f'  duckdb {database} "{EXAMPLE_QUERY}"',
        f"    (the DuckDB CLI, version {duckdb_version} like the Python package that wrote the file: "
        "https://duckdb.org/docs/installation)",
        f'  {python} -c \'import duckdb; duckdb.connect("{database}", read_only=True).sql("{EXAMPLE_QUERY}").show()\'',
        "  schemas: wirelane_raw (what dlt loaded), staging (dbt views), marts (the reporting tables)",
    ]
