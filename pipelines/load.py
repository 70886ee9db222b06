"""Running the Wirelane source into DuckDB or Postgres: the `run` and `backfill` commands.

The dlt way throughout: `.dlt/config.toml` and `.dlt/secrets.toml` (or environment variables)
configure the source and the destination; the pipeline's working folder follows
`DLT_DATA_DIR`; state is restored from the destination when that folder is gone.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
import duckdb
import psycopg2
from dlt.common.exceptions import SignalReceivedException
from dlt.common.pipeline import LoadInfo
from dlt.common.runtime import signals as dlt_signals
from dlt.common.storages import LoadStorage, NormalizeStorage
from dlt.common.storages.load_package import TPackageJobState
from dlt.destinations.exceptions import DatabaseException, DestinationConnectionError
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
from dlt.pipeline.exceptions import PipelineStepFailed

from pipelines import connector_status, failures
from pipelines.destinations import DEFAULT_DUCKDB_FILE, Destination
from pipelines.webhooks import drain
from sources.wirelane import changes, statuses
from sources.wirelane import source as wirelane
from sources.wirelane.errors import WirelaneConfigError, WirelaneError

PIPELINE_NAME = "wirelane"
# Not "wirelane": DuckDB names the catalog of wirelane.duckdb "wirelane", and a schema of the
# same name makes every two-part name (`wirelane.sessions`) ambiguous to DuckDB's binder.
DEFAULT_DATASET = "wirelane_raw"
DEFAULT_DUCKDB_MEMORY_LIMIT = "256MB"
DUCKDB_DESTINATION = dlt.destinations.duckdb().destination_type
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
    webhooks: dict[str, int] | None = None  # a drain's events and what they asked for (drain.Batch.summary)


def make_pipeline(destination: Destination, dataset: str = DEFAULT_DATASET) -> dlt.Pipeline:
    target = _make_destination(destination)
    try:
        return dlt.pipeline(pipeline_name=PIPELINE_NAME, destination=target, dataset_name=dataset)
    except FileExistsError:
        # dlt creates a new working folder with exists_ok=False: processes starting at once (the
        # Dagster executor's) race to create it, and the loser finds it made: it is there now
        return dlt.pipeline(pipeline_name=PIPELINE_NAME, destination=target, dataset_name=dataset)


def _make_destination(destination: Destination) -> Any:
    if destination == "duckdb":
        path = dlt.config.get("destination.duckdb.credentials", str) or DEFAULT_DUCKDB_FILE
        # DuckDB takes 80 % of RAM by default and merges a big first load in memory; capped, it
        # spills to disk instead (300,000 sessions: the load's peak RSS 846 -> 509 MiB)
        limit = dlt.config.get("destination.duckdb.memory_limit", str) or DEFAULT_DUCKDB_MEMORY_LIMIT
        # nothing here reads rows in the order they were written (dlt's merge orders by its
        # own keys), and DuckDB copies in parallel without keeping it: the 1,000,000-session
        # load step 18.0 -> 12.2 s, its peak unchanged
        settings = {"memory_limit": limit, "preserve_insertion_order": False}
        credentials = DuckDbCredentials(path, global_config=settings)
        target: Any = dlt.destinations.duckdb(credentials=credentials)
    elif destination == "postgres":
        target = dlt.destinations.postgres()
    else:
        raise WirelaneConfigError(f"unknown destination {destination!r}; use duckdb or postgres")
    return target


def build_source(
    resources: Sequence[str] | None = None,
    organizations: Sequence[str] | None = None,
    backfill: tuple[str, str] | None = None,
    webhooks: drain.Batch | None = None,
) -> Any:
    kwargs: dict[str, Any] = {}
    if organizations:
        kwargs["organizations"] = list(organizations)
    if backfill is not None:
        kwargs["backfill_start"], kwargs["backfill_end"] = backfill
    source = wirelane.wirelane_source(**kwargs)
    if webhooks is not None:
        return _webhook_source(source, webhooks)
    if backfill is not None:
        resources = ["sessions"]
    if resources:
        known = sorted(name for name in source.resources if name not in wirelane.HIDDEN_RESOURCES)
        unknown = [name for name in resources if name not in known]
        if unknown:
            raise WirelaneConfigError(f"unknown resource {', '.join(unknown)}; choose from {', '.join(known)}")
        source = source.with_resources(*resources)
    return source


def _webhook_source(source: Any, batch: drain.Batch) -> Any:
    """The events as rows, and the records they name read again through their detail endpoints."""
    planned = batch.plan(wirelane.last_organizations())
    source.resources["webhook_events"].bind(events=batch.events)
    names = ["webhook_events"]
    if planned.sessions:
        source.resources["session"].bind(session_ids=planned.sessions)
        names.append("session")
    if planned.stations:
        source.resources["station"].bind(station_ids=planned.stations)
        names.append("station")
    if planned.tariff_organizations:
        names.extend(["tariffs", "price_models"])
    return source.with_resources(*names)


def run(
    destination: Destination = "duckdb",
    *,
    dataset: str = DEFAULT_DATASET,
    resources: Sequence[str] | None = None,
    organizations: Sequence[str] | None = None,
    full_refresh: bool = False,
    backfill: tuple[str, str] | None = None,
    from_webhooks: bool = False,
) -> RunSummary:
    """Extract, normalize and load; raises WirelaneError with a one-line reason on failure.

    `from_webhooks` loads the queued events and the records they name instead of the listings
    (pipelines/webhooks/drain.py); the events are marked done once the load has committed."""
    started = time.monotonic()
    batch = drain.claim() if from_webhooks else None
    if batch is not None and batch.empty:
        return RunSummary(None, {}, round(time.monotonic() - started, 2), 0, 0, 0, webhooks=batch.summary())
    with ExitStack() as held:  # the load step's DuckDB connection, closed when the run is done
        try:
            pipeline = make_pipeline(destination, dataset)
            source = build_source(resources, organizations, backfill, batch)
            options: dict[str, Any] = {"schema_contract": SCHEMA_CONTRACT}
            if destination == "duckdb":
                options["loader_file_format"] = "parquet"  # insert_values on DuckDB 2.0 is slow and huge
            if full_refresh:
                options["refresh"] = "drop_sources"
                if pipeline.has_pending_data:
                    # a killed run's packages: dlt's `run` would load them and stop, refreshing nothing;
                    # everything is loaded anew anyway, so they go with the working folder
                    pipeline.drop()
                    pipeline = make_pipeline(destination, dataset)
            else:
                pipeline = _finish_interrupted_load(pipeline, options, destination, dataset)
            with dlt_signals.intercepted_signals():
                info = _run_steps(pipeline, source, options, held)
                # dlt holds a first SIGINT or SIGTERM for its steps to notice, and forgets it when the
                # run ends first: the caller must still learn that it was asked to stop
                dlt_signals.raise_if_signalled()
            info.raise_on_failed_jobs()
        except PipelineStepFailed as failure:
            if isinstance(failure.exception, SignalReceivedException):
                raise failure.exception from None  # asked to stop: an interrupt, not a refused package
            if failure.step in ("extract", "normalize"):
                # The data itself was refused (a frozen type changed, a bad page): the package would
                # fail again on every run. Forget the local working folder; the next run restores the
                # state of the last successful load from the destination and reads again from there.
                pipeline.drop()
            raise _root_cause(failure) from None
        if batch is not None:
            _mark_drained(batch, info)
        try:
            _mark_deleted(pipeline, info, source)
        except (DatabaseException, DestinationConnectionError, OSError, psycopg2.Error, duckdb.Error) as error:
            # the data and its state are in; the next run's listings mark what this one could not
            raise failures.explain(error, "loaded, but marking the rows gone from the API failed", True) from None
        try:
            _write_listed_statuses(pipeline, source)
        except (DatabaseException, DestinationConnectionError, OSError, psycopg2.Error, duckdb.Error) as error:
            # idempotent and kept in no state: the next run writes them
            raise failures.explain(error, "loaded, but writing the listed connector statuses failed", True) from None
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
            webhooks=batch.summary() if batch is not None else None,
        )


def _run_steps(pipeline: dlt.Pipeline, source: Any, options: dict[str, Any], held: ExitStack) -> LoadInfo:
    """`pipeline.run(source, **options)` one step at a time (dlt merges their traces into one),
    so that on DuckDB the load step gets one connection, opened once the API has been read.

    Left to itself, dlt's DuckDB loader opens the database file for a job and closes it after
    (a checkpoint) whenever no other job has it open: dozens of times per load. One connection
    for the step and the deletion marks after it took the 100,000-session load step from 3.56
    to 2.84 s. Opened after extract and normalize, it keeps the file free for readers (a BI tool,
    `wirelane-sync status`) while the API is read, as before; it is closed when the run ends.
    """
    if pipeline.config.restore_from_destination:
        pipeline.sync_destination()  # what `run` does first: state and schema from the warehouse
    pipeline.extract(source, **options)
    pipeline.normalize()
    credentials = None
    if pipeline.destination.destination_type == DUCKDB_DESTINATION:
        resolved = pipeline.destination_client().config.credentials  # the file and its settings
        assert isinstance(resolved, DuckDbCredentials)
        settings = dict(resolved.global_config or {})
        credentials = held.enter_context(duckdb.connect(resolved.database, config=settings))
    info: LoadInfo = pipeline.load(credentials=credentials)
    return info


def _mark_drained(batch: drain.Batch, info: LoadInfo) -> None:
    try:
        batch.done(info.loads_ids[-1] if info.loads_ids else None)
    except sqlite3.Error as error:
        raise WirelaneError(
            f"loaded, but marking the webhook events done failed ({error}); the next drain loads them again"
        ) from None


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
    _drop_extracted_copies_of_committed(pipeline)
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


def _drop_extracted_copies_of_committed(pipeline: dlt.Pipeline) -> None:
    """dlt's normalize commits a package by renaming `load/new/<id>` to `load/normalized/<id>`
    (atomic) and only then deletes its extracted copy. A kill between the two leaves both, and
    the next normalize would build `load/new/<id>` again and fail to commit it onto the existing
    one ("Directory not empty"), for every run after. The committed package is whole, so the
    extracted copy, and a half-built new one, are what go."""
    committed = {*pipeline.list_normalized_load_packages(), *pipeline.list_completed_load_packages()}
    root = Path(pipeline.working_dir)
    for load_id in sorted(set(pipeline.list_extracted_load_packages()) & committed):
        log.info("package %s was normalized before the interruption: dropping its extracted copy", load_id)
        shutil.rmtree(root / "normalize" / NormalizeStorage.EXTRACTED_FOLDER / load_id, ignore_errors=True)
        shutil.rmtree(root / "load" / LoadStorage.NEW_PACKAGES_FOLDER / load_id, ignore_errors=True)


def _mark_deleted(pipeline: dlt.Pipeline, info: LoadInfo, source: Any) -> None:
    """Rows of full-listing tables whose record the API no longer has get `_wl_deleted_at`.

    Members and charging stations are listed in full but only the new and changed ones are
    loaded (see sources/wirelane/changes.py): gone are those the listing did not have. A member's payment
    method and subscription are gone with the member, or when this run read the member again
    and found none; in a sweep every member was read, so older load ids are gone. A gone
    station's cases, connection chain and maintenance windows go with it: those tables hold
    each listed station's current lists (delete-insert per station), and a station no longer
    listed has none.
    """
    if not info.loads_ids:
        return
    load_id = info.loads_ids[-1]
    orgs = wirelane.last_organizations()
    existing = set(pipeline.default_schema.tables)
    selected = [name for name in wirelane.FULL_LISTING_TABLES if name in source.selected_resources and name in existing]
    if not orgs:
        return
    runs = changes.runs()
    listed_stations = runs.get("charging_stations", changes.DetailRun()).listed
    station_lists = [
        name for name in wirelane.STATION_LIST_TABLES if name in source.selected_resources and name in existing
    ]
    with pipeline.sql_client() as client:
        marker = _DeletionMarker(client, load_id)
        for table in station_lists:
            for org, listed in listed_stations.items():
                marker.drop_unlisted(table, org, "station_id", listed)
        for table in selected:
            run = runs.get(table, changes.DetailRun())
            for org in orgs:
                if table in ("members", "charging_stations"):
                    if org in run.listed:  # listed in full by this run
                        marker.not_listed(table, org, "id", run.listed[org])
                else:
                    if org in run.swept:
                        marker.older_loads(table, org)
                    else:
                        marker.older_loads(table, org, "account_id", run.fetched.get(org, set()))
                    if "members" in selected:
                        marker.without_member(table, org)


def _write_listed_statuses(pipeline: dlt.Pipeline, source: Any) -> None:
    """The connector statuses this run's station listing showed, onto the loaded connectors
    (pipelines/connector_status.py)."""
    listed = statuses.listed()
    if not listed or "charging_stations" not in source.selected_resources:
        return
    columns = pipeline.default_schema.tables.get(connector_status.CONNECTORS, {}).get("columns", {})
    if not {"status", "status_update"} <= set(columns):
        return  # no connector has shown a status yet: nothing to write onto
    with pipeline.sql_client() as client:
        connector_status.apply(client, listed)


def _not_in(key: str, listed: set[str]) -> tuple[str, list[Any]]:
    """The condition and its parameters: the listed keys as one array parameter, unnested on
    both DuckDB and Postgres. One placeholder per key cost DuckDB 0.2 s per 10,000 members to
    bind; the array takes 0.01 s."""
    if not listed:
        return "TRUE", []
    return f"CAST({key} AS VARCHAR) NOT IN (SELECT unnest(%s))", [sorted(listed)]


class _DeletionMarker:
    """The UPDATEs that set `_wl_deleted_at`, on DuckDB and Postgres alike (identifiers come
    from our schema, values are parameters)."""

    CHUNK = 500

    def __init__(self, client: Any, load_id: str) -> None:
        self.client = client
        self.load_id = load_id

    def _update(self, table: str, condition: str, *args: Any) -> None:
        qualified = self.client.make_qualified_table_name(table)
        self.client.execute_sql(
            f"UPDATE {qualified} SET {wirelane.DELETED_AT} = CURRENT_TIMESTAMP "  # noqa: S608
            f"WHERE {wirelane.DELETED_AT} IS NULL AND organization_id = %s AND {condition}",
            *args,
        )

    def older_loads(self, table: str, org: str, key: str | None = None, keys: set[str] | None = None) -> None:
        """Rows not loaded by this run (of the given keys only, when given)."""
        if key is None or keys is None:
            self._update(table, "_dlt_load_id <> %s", org, self.load_id)
            return
        ordered = sorted(keys)
        for start in range(0, len(ordered), self.CHUNK):
            chunk = ordered[start : start + self.CHUNK]
            placeholders = ", ".join(["%s"] * len(chunk))
            self._update(table, f"_dlt_load_id <> %s AND {key} IN ({placeholders})", org, self.load_id, *chunk)

    def not_listed(self, table: str, org: str, key: str, listed: set[str]) -> None:
        condition, keys = _not_in(key, listed)
        self._update(table, condition, org, *keys)

    def drop_unlisted(self, table: str, org: str, key: str, listed: set[str]) -> None:
        condition, keys = _not_in(key, listed)
        qualified = self.client.make_qualified_table_name(table)
        self.client.execute_sql(
            f"DELETE FROM {qualified} WHERE organization_id = %s AND {condition}",  # noqa: S608
            org,
            *keys,
        )

    def without_member(self, table: str, org: str) -> None:
        members = self.client.make_qualified_table_name("members")
        live = (
            f"SELECT account_id FROM {members} WHERE organization_id = %s "  # noqa: S608
            f"AND account_id IS NOT NULL AND {wirelane.DELETED_AT} IS NULL"
        )
        self._update(table, f"account_id NOT IN ({live})", org, org)


def _root_cause(failure: PipelineStepFailed) -> Exception:
    """The WirelaneError inside dlt's wrapping, or a one-line description of dlt's own."""
    step = getattr(failure, "step", "run")
    return failures.explain(failure, f"the {step} step failed", step in ("sync", "load"))
