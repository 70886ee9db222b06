"""`wirelane-sync demo`: the whole job once, end to end, against a simulator of its own.

A simulator is built and served from a thread of this process (so it can never outlive the demo,
whatever stops it); the regular pipeline (`pipelines.load.run`) loads every resource into
`wirelane.duckdb` in the current directory and `pipelines.transform.run_dbt` builds the marts;
then the simulator's clock moves, and an incremental load and rebuild follow, as an hourly
schedule would run them. The summary at the end is read back from the file.

Isolation from the user's own setup, all undone when the demo ends:
- the source is pointed at the demo's simulator with environment variables set inside this
  process (they win over `.dlt/config.toml` and `.dlt/secrets.toml`, which are never written),
  every source setting pinned to its default so that a user's tuning or real credentials
  cannot leak in;
- dlt's working folder (`DLT_DATA_DIR`) is a temporary directory, so the state of the user's
  real `wirelane` pipeline in `~/.dlt` is never read or changed.

Every demo starts fresh: the simulator is generated anew each time (same seed, same world, its
clock back at the start), so the previous demo's cursors would be ahead of the new simulator's
clock and its rows would mix two worlds. The demo therefore replaces its own previous file, and
refuses to touch a `wirelane.duckdb` that holds loads it did not make (say from
`wirelane-sync run` against the real API): a `wirelane_demo.loads` table in the file records
the demo's own load ids.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import duckdb
import httpx

from pipelines import demo_summary as summary
from pipelines import load
from pipelines.destinations import DEFAULT_DUCKDB_FILE
from pipelines.transform import TransformSummary, run_dbt
from simulator.server import RunningSimulator, SimulatorSettings, start_in_thread
from simulator.world import SimulatorSizes
from sources.wirelane import settings
from sources.wirelane.errors import WirelaneConfigError, WirelaneError

# Small enough for a first run well under two minutes on two cores, big enough for every
# entity, status and a few months of revenue to show up.
DEMO_SIZES = SimulatorSizes(organizations=2, stations=150, members=1000, sessions=50_000, days=365)
DATABASE_NAME = DEFAULT_DUCKDB_FILE
# The demo's mark in its file: the load ids it made (`wirelane_demo.loads`).
MARKER_SCHEMA = "wirelane_demo"
# The simulator is the demo's own, on loopback: no reason to pace requests as for the real API.
DEMO_REQUESTS_PER_SECOND = 1000.0
STEPS = 6

Echo = Callable[[str], None]
T = TypeVar("T")


@dataclass(frozen=True)
class DemoOptions:
    directory: Path
    seed: int = 42
    sizes: SimulatorSizes = DEMO_SIZES
    advance_hours: int = 24
    top_stations: int = 5


@dataclass(frozen=True)
class DemoResult:
    database: Path
    simulator_url: str
    full: load.RunSummary
    incremental: load.RunSummary
    dbt_full: TransformSummary
    dbt_incremental: TransformSummary
    advance: dict[str, Any]  # the simulator's own account of what changed while its clock moved
    clock_before: datetime  # the simulator's clock (simulated time) before and after it moved
    clock_after: datetime
    sessions_before: int  # sessions in the file before the incremental load
    sessions_touched: int  # sessions whose row the incremental load wrote (new or updated)
    warehouse: summary.WarehouseSummary
    seconds: float

    @property
    def new_sessions(self) -> int:
        return self.warehouse.tables.get("sessions", 0) - self.sessions_before

    @property
    def updated_sessions(self) -> int:
        return self.sessions_touched - self.new_sessions


def run_demo(options: DemoOptions, echo: Echo) -> DemoResult:
    """Runs every step, echoing one line per step; the simulator stops whatever happens.

    Raises WirelaneConfigError (a file it must not touch) or WirelaneError (a step failed)."""
    started = time.monotonic()
    database = (options.directory / DATABASE_NAME).resolve()
    claim_database(database)
    with (
        _sigterm_as_interrupt(),
        serving(options, echo) as simulator,
        tempfile.TemporaryDirectory(prefix="wirelane-demo-dlt-") as dlt_dir,
        environment(demo_environment(simulator, database, Path(dlt_dir))),
    ):
        organizations = [org.id for org in simulator.world.organizations]
        full = _timed(echo, 2, "full load of every resource", lambda: load.run("duckdb", organizations=organizations))
        _record_load(database, full.load_id)
        dbt_full = _timed(echo, 3, "dbt build", lambda: run_dbt("duckdb"))
        sessions_before = _read(database, summary.session_count)
        clock_before = _clock(simulator)
        changes = _timed(echo, 4, f"simulator clock +{options.advance_hours} h", lambda: advance(simulator, options))
        incremental = _timed(echo, 5, "incremental load", lambda: load.run("duckdb", organizations=organizations))
        _record_load(database, incremental.load_id)
        dbt_incremental = _timed(echo, 6, "dbt build (incremental)", lambda: run_dbt("duckdb"))
        touched = _read(database, lambda con: summary.sessions_loaded_by(con, incremental.load_id))
    echo(f"simulator stopped; {DATABASE_NAME} written to {database.parent}")
    return DemoResult(
        database=database,
        simulator_url=simulator.base_url,
        full=full,
        incremental=incremental,
        dbt_full=dbt_full,
        dbt_incremental=dbt_incremental,
        advance=changes,
        clock_before=clock_before,
        clock_after=_clock(simulator),
        sessions_before=sessions_before,
        sessions_touched=touched,
        warehouse=summary.read_summary(database, options.top_stations),
        seconds=round(time.monotonic() - started, 1),
    )


# -- the file ------------------------------------------------------------------------------


def claim_database(database: Path) -> None:
    """Replaces the previous demo's file, or refuses a file the demo did not make.

    A file the demo made is removed rather than refreshed in place: the new simulator is a new
    world, and nothing in the old file (raw rows, dlt state, incremental marts) may survive.
    The marker table goes in first, so that even an interrupted demo's file is recognised."""
    if database.exists():
        refusal = _refusal(database)
        if refusal:
            raise WirelaneConfigError(
                f"{database} {refusal}; the demo will not replace it: "
                "start the demo in another directory, or remove the file"
            )
        database.unlink()
    Path(f"{database}.wal").unlink(missing_ok=True)
    with duckdb.connect(str(database)) as con:
        con.execute("create schema wirelane_demo")
        con.execute("create table wirelane_demo.loads (load_id varchar primary key, recorded_at timestamptz)")


def _refusal(database: Path) -> str | None:
    """Why the file is not the demo's to replace, or None: it must carry the demo's marker and
    no load the demo did not record (`wirelane-sync run` writes to the same file name), or be
    empty."""
    if database.stat().st_size == 0:
        return None  # nothing in it to lose (say, made by `touch`)
    try:
        with duckdb.connect(str(database), read_only=True) as con:
            if not _has_table(con, MARKER_SCHEMA, "loads"):
                tables = summary.scalar(
                    con, "select count(*) from information_schema.tables where table_catalog = current_database()"
                )
                return f"was not made by the demo (it has {tables} tables)" if tables else None
            if not _has_table(con, summary.RAW_SCHEMA, "_dlt_loads"):
                return None
            foreign = summary.scalar(
                con,
                "select count(*) from wirelane_raw._dlt_loads "
                "where load_id not in (select load_id from wirelane_demo.loads)",
            )
            return f"holds {foreign} load(s) the demo did not make (from `wirelane-sync run`?)" if foreign else None
    except duckdb.Error as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise WirelaneConfigError(f"cannot open {database}: {first}") from None


def _has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    query = (
        "select count(*) from information_schema.tables "
        "where table_catalog = current_database() and table_schema = ? and table_name = ?"
    )
    return summary.scalar(con, query, [schema, table]) > 0


def _record_load(database: Path, load_id: str | None) -> None:
    if load_id is not None:
        with duckdb.connect(str(database)) as con:
            con.execute("insert into wirelane_demo.loads values (?, current_timestamp)", [load_id])


def _read(database: Path, query: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
    with duckdb.connect(str(database), read_only=True) as con:
        return query(con)


# -- the simulator and the process environment -----------------------------------------------


@contextlib.contextmanager
def serving(options: DemoOptions, echo: Echo) -> Iterator[RunningSimulator]:
    """The demo's simulator on a free loopback port (never the default 8765, which a user's own
    `wirelane-sync simulate` may hold), stopped on the way out, failure and Ctrl-C included."""
    sizes = options.sizes
    started = time.monotonic()
    simulator = start_in_thread(SimulatorSettings(host="127.0.0.1", port=0, seed=options.seed, sizes=sizes))
    try:
        echo(
            f"[1/{STEPS}] simulator: {sizes.organizations} organizations, {sizes.stations:,} stations, "
            f"{sizes.members:,} members, {simulator.world.sessions.n:,} sessions over {sizes.days} days "
            f"(seed {options.seed}) on {simulator.base_url} ({time.monotonic() - started:.1f} s)"
        )
        yield simulator
    finally:
        simulator.stop()


def demo_environment(simulator: RunningSimulator, database: Path, dlt_dir: Path) -> dict[str, str]:
    """The settings that point the regular pipeline at the demo's simulator and file."""
    source = "SOURCES__WIRELANE__"
    credentials = simulator.credentials
    return {
        "DLT_DATA_DIR": str(dlt_dir),
        "RUNTIME__DLTHUB_TELEMETRY": "false",
        "DESTINATION__DUCKDB__CREDENTIALS": str(database),
        f"{source}ENVIRONMENT": "simulator",
        f"{source}BASE_URL": simulator.api_url,
        f"{source}TOKEN_URL": simulator.token_url,
        f"{source}GRANT": "password",
        f"{source}CREDENTIALS__CLIENT_ID": credentials.client_id,
        f"{source}CREDENTIALS__CLIENT_SECRET": credentials.client_secret,
        f"{source}CREDENTIALS__USERNAME": credentials.username,
        f"{source}CREDENTIALS__PASSWORD": credentials.password,
        f"{source}PAGE_SIZE": str(settings.DEFAULT_PAGE_SIZE),
        f"{source}MAX_PAGES": str(settings.DEFAULT_MAX_PAGES),
        f"{source}CONCURRENCY": str(settings.DEFAULT_CONCURRENCY),
        f"{source}REQUESTS_PER_SECOND": str(DEMO_REQUESTS_PER_SECOND),
        f"{source}TIMEOUT_S": str(settings.DEFAULT_TIMEOUT_S),
        f"{source}MAX_ATTEMPTS": str(settings.DEFAULT_MAX_ATTEMPTS),
        f"{source}MAX_BACKOFF_S": str(settings.DEFAULT_MAX_BACKOFF_S),
        f"{source}SESSION_LAG_S": str(settings.DEFAULT_SESSION_LAG_S),
        f"{source}OPEN_SESSION_REFRESH_H": str(settings.DEFAULT_OPEN_SESSION_REFRESH_H),
    }


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Sets environment variables for the duration, then restores exactly what was there."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so the simulator stops and a running dbt process is killed
    by `subprocess.run` instead of writing on to the file after the demo is gone. (While dlt
    runs, its own handler turns SIGTERM into a failed step, which unwinds the same way.)"""
    if sys.platform == "win32" or not _in_main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def advance(simulator: RunningSimulator, options: DemoOptions) -> dict[str, Any]:
    """Moves the simulator's clock through its admin route, as an operator would with curl;
    the route runs on the server's own loop, so no request is ever served mid-change."""
    try:
        response = httpx.post(
            f"{simulator.base_url}/_simulator/advance",
            json={"minutes": options.advance_hours * 60},
            timeout=120,
            trust_env=False,  # loopback: never through a proxy from the environment
        )
        response.raise_for_status()
    except httpx.HTTPError as error:
        raise WirelaneError(f"advancing the simulator's clock failed: {error}") from None
    changes: dict[str, Any] = response.json()
    return changes


def _clock(simulator: RunningSimulator) -> datetime:
    return datetime.fromtimestamp(simulator.world.now, UTC)


def _timed(echo: Echo, step: int, title: str, work: Callable[[], T]) -> T:
    started = time.monotonic()
    result = work()
    echo(f"[{step}/{STEPS}] {title}: {_describe(result)} ({time.monotonic() - started:.1f} s)")
    return result


def _describe(result: object) -> str:
    if isinstance(result, load.RunSummary):
        return f"{sum(result.rows.values()):,} rows, {result.requests:,} requests, {result.retries:,} retries"
    if isinstance(result, TransformSummary):
        return ", ".join(f"{count} {status}" for status, count in sorted(result.results.items()))
    if isinstance(result, dict):
        return ", ".join(
            f"{value:,} {key.replace('_', ' ')}" for key, value in result.items() if isinstance(value, int)
        )
    return str(result)


# -- the summary -----------------------------------------------------------------------------


def render(result: DemoResult, python: str = sys.executable) -> str:
    """The summary a person reads at the end, every number from the file."""
    wh = result.warehouse
    name = result.database.name
    changes = result.advance
    lines = [
        "",
        f"Rows per table (dataset {summary.RAW_SCHEMA})",
        *summary.render_tables(wh.tables, result.full.rows, result.incremental.rows, name),
        "",
        f"What the incremental run changed (the simulator's clock moved from {summary.when(result.clock_before)} "
        f"to {summary.when(result.clock_after)})",
        f"  sessions: {result.new_sessions:,} new, {result.updated_sessions:,} updated "
        f"(the API reported {changes.get('new_sessions', 0):,} new, {changes.get('closed_sessions', 0):,} closed, "
        f"{changes.get('progressed_sessions', 0):,} still charging, "
        f"{changes.get('late_updates', 0):,} late corrections)",
        f"  {sum(result.incremental.rows.values()):,} rows loaded in {result.incremental.seconds} s with "
        f"{result.incremental.requests:,} requests (the full load: {sum(result.full.rows.values()):,} rows, "
        f"{result.full.requests:,} requests); sessions are read incrementally by update date, the other "
        "resources are full listings merged by key",
        "",
        "Revenue and energy per month (marts.mart_revenue_monthly, all organizations, by local end date)",
        *summary.render_months(wh.months),
        "",
        f"Top {len(wh.top_stations)} stations by net revenue (marts.mart_revenue_daily x marts.dim_charging_stations)",
        *summary.render_stations(wh.top_stations),
        "",
        "Price reconciliation (marts.fct_session_price_reconciliation)",
        *summary.render_reconciliation(wh.reconciliation),
        "",
        "Freshness",
        f"  last completed load: {summary.when(wh.freshness.last_load_at)} "
        f"({wh.freshness.completed_loads} completed loads in {summary.RAW_SCHEMA}._dlt_loads)",
        f"  newest session change: {summary.when(wh.freshness.newest_session_update)} "
        f"(simulated time: the simulator's clock is at {summary.when(result.clock_after)})",
        "",
        f"Query {name} next",
        *summary.render_query_hints(name, _short(python), duckdb.__version__),
        "",
        f"Done in {result.seconds:.0f} s.",
    ]
    return "\n".join(lines)


def _short(path: str) -> str:
    """The interpreter relative to the working directory when it is inside it (`.venv/bin/python`)."""
    try:
        return os.path.relpath(path) if not os.path.relpath(path).startswith("..") else path
    except ValueError:
        return path
