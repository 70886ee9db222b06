"""What the operator reads on stdout: the summary after a run and the status, as a rich table on
a terminal and as plain aligned text otherwise (cron mail, journald, `| grep`, tests).

The first line of a run's summary stays `loaded N rows in X s (R requests, T retries, K tokens)`
whatever the output: scripts and tests parse it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

from pipelines.load_step import RunSummary
from pipelines.progress import OUTSIDE, ResourceCounts
from pipelines.status import Status

Cell = str | int | None


@dataclass(frozen=True)
class Column:
    header: str
    right: bool = False


def _text(value: Cell) -> str:
    if value is None:
        return "-"
    return f"{value:,}" if isinstance(value, int) else value


def plain_table(columns: Sequence[Column], rows: Sequence[Sequence[Cell]], indent: str = "  ") -> list[str]:
    """Aligned columns; a cell with several lines continues on the lines below its row."""
    cells = [[_text(value).split("\n") for value in row] for row in rows]
    widths = [
        max([len(column.header)] + [len(line) for row in cells for line in row[i]]) for i, column in enumerate(columns)
    ]

    def line(parts: Sequence[str]) -> str:
        padded = [
            part.rjust(width) if column.right else part.ljust(width)
            for part, width, column in zip(parts, widths, columns, strict=True)
        ]
        return (indent + "  ".join(padded)).rstrip()

    lines = [line([column.header for column in columns])]
    for row in cells:
        for n in range(max(len(cell) for cell in row)):
            lines.append(line([cell[n] if n < len(cell) else "" for cell in row]))
    return lines


def rich_table(columns: Sequence[Column], rows: Sequence[Sequence[Cell]], title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column.header, justify="right" if column.right else "left")
    for row in rows:
        table.add_row(*(_text(value) for value in row))
    return table


def _is_terminal(stream: TextIO) -> bool:
    return stream.isatty()


def _emit(lines: Sequence[str], table: Table | None, plain: Sequence[str], stream: TextIO) -> None:
    """The header lines, then the table: rich on a terminal, plain otherwise."""
    for text in lines:
        stream.write(text + "\n")
    if table is not None and _is_terminal(stream):
        Console(file=stream, highlight=False).print(table)
    else:
        for text in plain:
            stream.write(text + "\n")
    stream.flush()


# -- the run summary ------------------------------------------------------------------------
SUMMARY_COLUMNS = (
    Column("table"),
    Column("rows", right=True),
    Column("child rows", right=True),
    Column("pages", right=True),
    Column("requests", right=True),
    Column("retries", right=True),
)


def first_line(summary: RunSummary) -> str:
    return (
        f"loaded {sum(summary.rows.values()):,} rows in {summary.seconds} s "
        f"({summary.requests:,} requests, {summary.retries:,} retries, {summary.token_requests} tokens)"
    )


def webhook_line(drained: dict[str, int]) -> str:
    if not drained["events"]:
        return f"webhooks: no events waiting ({drained['pending']:,} pending)"
    return (
        f"webhooks: {drained['events']:,} events drained: {drained['sessions']:,} sessions and "
        f"{drained['stations']:,} stations read again, tariffs of {drained['tariff_organizations']} organizations, "
        f"{drained['ignored']:,} events ignored; {drained['pending']:,} still pending"
    )


def summary_rows(summary: RunSummary, resources: dict[str, ResourceCounts]) -> list[list[Cell]]:
    """One row per root table this run loaded or asked the API for, with its child tables' rows."""
    own: dict[str, int] = {}
    children: dict[str, int] = {}
    for table, count in summary.rows.items():
        root, _, child = table.partition("__")
        own.setdefault(root, 0)
        if child:
            children[root] = children.get(root, 0) + count
        else:
            own[root] += count
    names = sorted(set(own) | {name for name in resources if name != OUTSIDE})
    if OUTSIDE in resources:
        names.append(OUTSIDE)
    rows: list[list[Cell]] = []
    for name in names:
        counts = resources.get(name, ResourceCounts())
        rows.append([name, own.get(name, 0), children.get(name, 0), counts.pages, counts.requests, counts.retries])
    return rows


def schema_lines(summary: RunSummary) -> list[str]:
    if len(summary.schema_changes) > 5:
        return [f"  schema: {len(summary.schema_changes)} tables created or extended"]
    return [f"  schema: {change}" for change in summary.schema_changes]


def print_summary(summary: RunSummary, resources: dict[str, ResourceCounts], stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    rows = summary_rows(summary, resources)
    table = rich_table(SUMMARY_COLUMNS, rows) if rows else None
    plain = plain_table(SUMMARY_COLUMNS, rows) if rows else []
    _emit([first_line(summary)], table, plain, stream)
    if summary.webhooks is not None:
        stream.write(webhook_line(summary.webhooks) + "\n")
    for text in schema_lines(summary):
        stream.write(text + "\n")
    stream.flush()


# -- status -----------------------------------------------------------------------------------
STATUS_COLUMNS = (
    Column("resource"),
    Column("rows", right=True),
    Column("deleted", right=True),
    Column("last load with rows"),
    Column("rows in it", right=True),
    Column("cursor"),
)


def _when(iso: str | None, now: datetime) -> str:
    if not iso:
        return "-"
    moment = datetime.fromisoformat(iso)
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC ({_ago((now - moment).total_seconds())})"


def _ago(seconds: float) -> str:
    if seconds < 90:
        return f"{max(seconds, 0):.0f} s ago"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86400:.1f} days ago"


def _hours(value: float | None) -> str:
    return "-" if value is None else f"{value:g} h"


def status_lines(status: Status, now: datetime) -> list[str]:
    """The header of `status`: warehouse, last load, freshness, last run, last failure."""
    lines = [f"warehouse     {status.destination} {status.warehouse} (dataset {status.dataset})"]
    if status.problem:
        lines.append(f"  not readable: {status.problem}")
    if status.last_load:
        rows = sum(status.last_load["rows"].values())
        lines.append(
            f"last load     {status.last_load['load_id']} at {_when(status.last_load['loaded_at'], now)}: "
            f"{rows:,} rows in {len(status.last_load['rows'])} tables; {status.loads:,} completed loads in all"
        )
    elif status.warehouse_state == "readable":
        lines.append("last load     none completed yet")
    fresh = status.freshness
    detail = f"warn after {_hours(fresh.warn_after_hours)}, error after {_hours(fresh.error_after_hours)}"
    age = "" if fresh.age_hours is None else f", newest load {fresh.age_hours:.1f} h old"
    lines.append(f"freshness     {fresh.status}{age} ({detail})")
    success: dict[str, Any] | None = status.last_success
    if success:
        lines.append(
            f"last success  {success.get('command')} at {_when(success.get('finished_at'), now)}: "
            f"{success.get('rows_total', 0):,} rows in {success.get('seconds', '?')} s, "
            f"{success.get('requests', 0):,} requests, {success.get('retries', 0):,} retries"
        )
    failure: dict[str, Any] | None = status.last_failure
    if failure:
        lines.append(
            f"last failure  {failure.get('command')} at {_when(failure.get('failed_at'), now)}, "
            f"exit {failure.get('exit_code')}: {failure.get('reason')}"
        )
    else:
        lines.append("last failure  none recorded")
    if status.state_from:
        lines.append(f"cursors from  the {status.state_from}'s pipeline state")
    return lines


def status_rows(status: Status) -> list[list[Cell]]:
    rows: list[list[Cell]] = []
    for resource in status.resources:
        loaded = (
            resource.last_loaded_at.replace("T", " ").replace("+00:00", " UTC") if resource.last_loaded_at else None
        )
        cursor = (
            "\n".join(f"{org} {value}" for org, value in resource.cursor.items()) if resource.cursor else "full listing"
        )
        rows.append([resource.name, resource.rows, resource.deleted, loaded, resource.last_load_rows, cursor])
    return rows


def print_status(status: Status, now: datetime | None = None, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    now = now or datetime.now(UTC)
    rows = status_rows(status)
    table = rich_table(STATUS_COLUMNS, rows) if rows else None
    plain = ["", *plain_table(STATUS_COLUMNS, rows, indent="")] if rows else []
    _emit(status_lines(status, now), table, plain, stream)
