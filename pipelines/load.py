"""Running the Wirelane source into DuckDB or Postgres: the `run` and `backfill` commands.

The dlt way throughout: `.dlt/config.toml` and `.dlt/secrets.toml` (or environment variables)
configure the source and the destination; the pipeline's working folder follows
`DLT_DATA_DIR`; state is restored from the destination when that folder is gone.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import dlt
import duckdb
import psycopg2
from dlt.common.pipeline import LoadInfo
from dlt.common.storages.load_package import TPackageJobState
from dlt.destinations.exceptions import DatabaseException, DestinationConnectionError
from dlt.pipeline.exceptions import PipelineStepFailed

from sources.wirelane import source as wirelane
from sources.wirelane.errors import WirelaneConfigError, WirelaneError

Destination = Literal["duckdb", "postgres"]
PIPELINE_NAME = "wirelane"
# Not "wirelane": DuckDB names the catalog of wirelane.duckdb "wirelane", and a schema of the
# same name makes every two-part name (`wirelane.sessions`) ambiguous to DuckDB's binder.
DEFAULT_DATASET = "wirelane_raw"
DEFAULT_DUCKDB_FILE = "wirelane.duckdb"
# new columns and tables are welcome, a column changing type is not
SCHEMA_CONTRACT: Any = {"tables": "evolve", "columns": "evolve", "data_type": "freeze"}
log = logging.getLogger("wirelane_sync.load")


@dataclass
class RunSummary:
    load_id: str | None
    rows: dict[str, int]
    seconds: float
    requests: int
    retries: int
    token_requests: int
    schema_changes: list[str] = field(default_factory=list)
    tables: set[str] = field(default_factory=set)  # every data table the warehouse now has


def make_pipeline(destination: Destination, dataset: str = DEFAULT_DATASET) -> dlt.Pipeline:
    if destination == "duckdb":
        path = dlt.config.get("destination.duckdb.credentials", str) or DEFAULT_DUCKDB_FILE
        target: Any = dlt.destinations.duckdb(credentials=path)
    elif destination == "postgres":
        target = dlt.destinations.postgres()
    else:
        raise WirelaneConfigError(f"unknown destination {destination!r}; use duckdb or postgres")
    return dlt.pipeline(pipeline_name=PIPELINE_NAME, destination=target, dataset_name=dataset)


def build_source(
    resources: Sequence[str] | None = None,
    organizations: Sequence[str] | None = None,
    backfill: tuple[str, str] | None = None,
) -> Any:
    kwargs: dict[str, Any] = {}
    if organizations:
        kwargs["organizations"] = list(organizations)
    if backfill is not None:
        kwargs["backfill_start"], kwargs["backfill_end"] = backfill
    source = wirelane.wirelane_source(**kwargs)
    if backfill is not None:
        resources = ["sessions"]
    if resources:
        known = sorted(name for name in source.resources if name != "session")
        unknown = [name for name in resources if name not in source.resources]
        if unknown:
            raise WirelaneConfigError(f"unknown resource {', '.join(unknown)}; choose from {', '.join(known)}")
        source = source.with_resources(*resources)
    return source


def run(
    destination: Destination = "duckdb",
    *,
    dataset: str = DEFAULT_DATASET,
    resources: Sequence[str] | None = None,
    organizations: Sequence[str] | None = None,
    full_refresh: bool = False,
    backfill: tuple[str, str] | None = None,
) -> RunSummary:
    """Extract, normalize and load; raises WirelaneError with a one-line reason on failure."""
    started = time.monotonic()
    try:
        pipeline = make_pipeline(destination, dataset)
        source = build_source(resources, organizations, backfill)
        options: dict[str, Any] = {"schema_contract": SCHEMA_CONTRACT}
        if destination == "duckdb":
            options["loader_file_format"] = "parquet"  # insert_values on DuckDB 2.0 is slow and huge
        if full_refresh:
            options["refresh"] = "drop_sources"
        else:
            pipeline = _finish_interrupted_load(pipeline, options, destination, dataset)
        info: LoadInfo = pipeline.run(source, **options)
        info.raise_on_failed_jobs()
    except PipelineStepFailed as failure:
        if failure.step in ("extract", "normalize"):
            # The data itself was refused (a frozen type changed, a bad page): the package would
            # fail again on every run. Forget the local working folder; the next run restores the
            # state of the last successful load from the destination and reads again from there.
            pipeline.drop()
        raise _root_cause(failure) from None
    try:
        _mark_deleted(pipeline, info, source)
    except (DatabaseException, DestinationConnectionError, OSError, psycopg2.Error, duckdb.Error) as error:
        # the data and its state are in; the next run's listings mark what this one could not
        raise _explain(error, "loaded, but marking the rows gone from the API failed", True) from None
    client = wirelane.last_client()
    trace = pipeline.last_trace
    rows = dict(trace.last_normalize_info.row_counts) if trace and trace.last_normalize_info else {}
    changes = [
        f"{table}: {', '.join(sorted(update.get('columns', {})))}"
        for package in info.load_packages
        for table, update in (package.schema_update or {}).items()
        if not table.startswith("_dlt")
    ]
    return RunSummary(
        load_id=info.loads_ids[-1] if info.loads_ids else None,
        rows={k: v for k, v in sorted(rows.items()) if not k.startswith("_dlt")},
        seconds=round(time.monotonic() - started, 2),
        requests=client.stats.requests if client else 0,
        retries=client.stats.retries if client else 0,
        token_requests=client.auth.fetched if client else 0,
        schema_changes=changes,
        tables=set(pipeline.default_schema.data_table_names()),
    )


def _finish_interrupted_load(
    pipeline: dlt.Pipeline, options: dict[str, Any], destination: Destination, dataset: str
) -> dlt.Pipeline:
    """Loads what a killed run extracted but did not load, before extracting anew; returns the
    pipeline to go on with.

    dlt's `run` loads pending packages and then returns without extracting, so without this the
    run after a crash would only bring the warehouse up to the crash, not up to the API. The
    pending package also carries the state (cursors) its rows belong to, which is why it is
    loaded rather than dropped: its rows and its cursor land together.

    Except when the killed run had already begun loading it: dlt would then run again the jobs
    it had not marked done, among them copies into the staging dataset that had committed just
    before the kill, and it does not empty the staging tables when it resumes a package, so
    their rows would be merged twice (child rows of every table, SCD2 versions). Such a package
    is forgotten with the rest of the working folder instead; the next extraction starts from
    the state of the last completed load (dlt restores it from the destination, where the
    package's own state row is ignored without its `_dlt_loads` entry) and loads everything
    since again, which the merges absorb.

    A first load killed before it created the dataset leaves packages for a destination that has
    none: dlt then resets the working folder (packages and state) instead, and `run` returns
    None; the extraction that follows starts from nothing, as a first load should.
    """
    if not pipeline.has_pending_data:
        return pipeline
    begun = [
        load_id
        for load_id in pipeline.list_normalized_load_packages()
        if any(pipeline.get_load_package_info(load_id).jobs.get(state) for state in _BEGUN)
    ]
    if begun:
        log.info("an interrupted run had begun loading %s: loading from the last completed load again", begun[0])
        pipeline.drop()
        return make_pipeline(destination, dataset)
    log.info("loading the pending packages of an interrupted run first")
    pending = {k: v for k, v in options.items() if k == "loader_file_format"}
    info: LoadInfo | None = pipeline.run(None, **pending)  # dlt's annotation says LoadInfo; see above
    if info is None:
        log.info("the destination had no dataset for them: dlt reset the working folder, loading anew")
    else:
        info.raise_on_failed_jobs()
    return pipeline


_BEGUN: tuple[TPackageJobState, ...] = ("started_jobs", "completed_jobs", "failed_jobs")


def _mark_deleted(pipeline: dlt.Pipeline, info: LoadInfo, source: Any) -> None:
    """Rows of full-listing tables that this run's listing no longer had are marked deleted.

    Every row a full listing returns is loaded anew by the merge and carries this load's id;
    so after a successful load, rows of the run's organizations with an older load id are
    the ones that disappeared from the API.
    """
    if not info.loads_ids:
        return
    load_id = info.loads_ids[-1]
    orgs = wirelane.last_organizations()
    selected = [name for name in wirelane.FULL_LISTING_TABLES if name in source.selected_resources]
    if not selected or not orgs:
        return
    existing = set(pipeline.default_schema.tables)
    with pipeline.sql_client() as client:
        for table in selected:
            if table not in existing:
                continue
            qualified = client.make_qualified_table_name(table)
            placeholders = ", ".join(["%s"] * len(orgs))
            client.execute_sql(
                f"UPDATE {qualified} SET {wirelane.DELETED_AT} = CURRENT_TIMESTAMP "  # noqa: S608 (identifiers from our schema)
                f"WHERE {wirelane.DELETED_AT} IS NULL AND _dlt_load_id <> %s AND organization_id IN ({placeholders})",
                load_id,
                *orgs,
            )


def _root_cause(failure: PipelineStepFailed) -> Exception:
    """The WirelaneError inside dlt's wrapping, or a one-line description of dlt's own."""
    step = getattr(failure, "step", "run")
    return _explain(failure, f"the {step} step failed", step in ("sync", "load"))


def _explain(failure: BaseException, what: str, destination_step: bool) -> Exception:
    """One line for a failure: our own error, a machine condition (a full disk, a DuckDB file
    another process holds, a lost database connection) said as such, or dlt's own message."""
    chain = list(_causes(failure))
    for error in chain:
        if isinstance(error, WirelaneError):
            return error
    full = [message for error in chain if (message := _disk_full(error))]
    if full:
        return WirelaneError(f"{what}: {full[-1]}; the next run starts again from the last completed load")
    for error in chain:
        if locked := _DUCKDB_LOCK.search(str(error)):
            path, holder, pid = locked.groups()
            return WirelaneError(
                f"{what}: the DuckDB file {path} is in use by another process (PID {pid}, {holder}); close it "
                "there (a BI tool, a duckdb shell, a notebook) or wait for it to finish, then run again"
            )
    lost = [error for error in chain if _is_connection_error(error)]
    if lost:
        return WirelaneError(
            f"{what}: the connection to the destination failed ({_one_line(lost[-1])}); check that the destination "
            "is up and its credentials (DESTINATION__...__CREDENTIALS); the next run starts again from the last "
            "completed load"
        )
    inner = getattr(failure, "exception", failure)
    message = _one_line(inner)
    hint = ""
    if destination_step and "connect" in message.lower():
        hint = "; check that the destination is up and its credentials (DESTINATION__...__CREDENTIALS)"
    return WirelaneError(f"{what}: {message}{hint}")


# DuckDB's words when another process has the file open: `Could not set lock on file "…":
# Conflicting lock is held in /usr/bin/python3 (PID 123)`
_DUCKDB_LOCK = re.compile(r'Could not set lock on file "([^"]+)": Conflicting lock is held in (.+?) \(PID (\d+)\)')
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _causes(failure: BaseException) -> Iterator[BaseException]:
    """The failure and everything it wraps (causes, contexts, dlt's `exception`), once each."""
    pending, seen = [failure], set()
    while pending:
        error = pending.pop(0)
        if id(error) in seen:
            continue
        seen.add(id(error))
        yield error
        pending += [e for e in (error.__cause__, error.__context__, getattr(error, "exception", None)) if e is not None]


def _disk_full(error: BaseException) -> str | None:
    """What a write that found no room says (an OSError, or DuckDB's own words), or None.
    The innermost such error in a chain is the most precise (an errno, a file name)."""
    if isinstance(error, OSError) and error.errno in _NO_SPACE:
        where = error.filename or os.environ.get("DLT_DATA_DIR") or "the pipeline's working folder"
        reason = error.strerror or os.strerror(error.errno)
    elif not isinstance(error, PipelineStepFailed) and re.search(
        "No space left on device|Disk quota exceeded", str(error)
    ):
        where, reason = "the warehouse or the pipeline's working folder", _one_line(error)
    else:
        return None
    return (
        f"no space left to write in {where} ({reason}); free space on that disk (DLT_DATA_DIR holds the "
        "pipeline's working files, destination.duckdb.credentials the warehouse), then run again"
    )


def _is_connection_error(error: BaseException) -> bool:
    """Postgres gone or unreachable: psycopg2's errors without a SQLSTATE are the connection's."""
    if isinstance(error, psycopg2.OperationalError | psycopg2.InterfaceError):
        return error.pgcode is None
    return isinstance(error, DestinationConnectionError)


def _one_line(error: BaseException) -> str:
    text = str(error).strip()
    first = text.splitlines()[0].strip() if text else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__
