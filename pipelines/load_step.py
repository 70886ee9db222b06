"""The load step of a run and what follows it: load the normalized packages, mark the rows the
listings no longer have, write the connector statuses they showed.

Apart from `pipelines/load.py` (which reads the API) so that a process that only loads
imports neither the source nor its HTTP client and Arrow: `wirelane-sync run` loads a big
extraction in a new process image that starts here (pipelines/handoff.py), and what it
imports it holds through the load (about 50 MiB less).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Set
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import dlt
import duckdb
from dlt.common.exceptions import SignalReceivedException
from dlt.common.pipeline import LoadInfo
from dlt.common.runtime import signals as dlt_signals
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
from dlt.pipeline.exceptions import PipelineStepFailed

from pipelines import allocator, connector_status, failures, history
from pipelines.destinations import DEFAULT_DUCKDB_FILE, Destination
from pipelines.webhooks import drain
from sources.wirelane import changes, statuses, tables
from sources.wirelane.errors import WirelaneConfigError, WirelaneError
from sources.wirelane.keysets import KeySet

PIPELINE_NAME = "wirelane"
# Not "wirelane": DuckDB names the catalog of wirelane.duckdb "wirelane", and a schema of the
# same name makes every two-part name (`wirelane.sessions`) ambiguous to DuckDB's binder.
DEFAULT_DATASET = "wirelane_raw"
# DuckDB's memory while loading, when `destination.duckdb.memory_limit` does not say: some of
# its operators need working memory per thread, and the less it holds the less the run needs
# (the load step alone from a 1,000,000-session package: 522 MiB and 11.9 s at 256MB, 446 MiB
# and 13.0 s at 160MB). The same load step on 2 threads runs out at 96MB and passes at 112MB
# (dlt's own deduplication ran out at 128MB: pipelines/newest_versions.py); a whole run of
# 1,000,000 ran out once in four at 128MB, when load jobs met, so 160MB keeps a margin.
DUCKDB_MB_PER_THREAD = 80
DUCKDB_MIN_MB = 160
# A small package (an incremental run) merges a few thousand rows: DuckDB's pool then mostly
# caches the big tables it reads. An incremental run at 1,000,000 sessions after a 1 % change,
# alternating on copies of one warehouse (RSS every 25 ms): 388 to 397 MiB at 160MB, 363 to
# 367 at 96MB, 339 and 341 at 64MB, 333 and 333 at 48MB (the smallest tried), 4.05 to 4.1 s
# at 160MB and 96MB alike. Twice the smallest that passed, per thread:
DUCKDB_SMALL_MB_PER_THREAD = 48
DUCKDB_SMALL_MIN_MB = 96
DUCKDB_DESTINATION = dlt.destinations.duckdb().destination_type
# Load jobs at once: dlt's default, but one for a big package on DuckDB. There the jobs share
# one database and its memory limit, and DuckDB runs each on every core anyway: at 3,000,000
# sessions the members' merges ran out of memory beside the sessions merge and dlt retried
# them (a whole run logged three retries), and the load step alone from one 3,000,000-session
# package peaked at 421 and 423 MiB one job at a time against 466 and 473 MiB, in the same
# time (32.6 against 32.1 s); at 1,000,000, 406 and 410 against 419 and 420 MiB. A small
# package (an incremental run) gains from overlapping its many small jobs' latencies: at
# 100,000 sessions one job at a time made the incremental load 0.11 s slower (2.16 s).
# `load.workers` in the configuration wins either way.
DLT_LOAD_WORKERS = 20
# From this much normalized data a package is big: one job at a time and DuckDB's full limit;
# below, dlt's parallel jobs and the small limit (a full load of 100,000 sessions is about 41
# MB, 1 % of 1,000,000 about 4).
BIG_PACKAGE_BYTES = 16 * 2**20
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


def next_slice(options: dict[str, Any]) -> dict[str, Any]:
    """The options that read the next slice of a sliced sessions scan: the sessions alone (the
    first slice read everything else), with nothing dropped again."""
    return {**options, "resources": ["sessions"], "full_refresh": False, "backfill": None, "from_webhooks": False}


def then(earlier: RunSummary | None, latest: RunSummary) -> RunSummary:
    """One summary for a run loaded in slices: rows and requests added up, the time from the
    first slice's start (each slice's summary counts from there), the tables as they are now."""
    if earlier is None:
        return latest
    rows = dict(earlier.rows)
    for table, count in latest.rows.items():
        rows[table] = rows.get(table, 0) + count
    return RunSummary(
        load_id=latest.load_id or earlier.load_id,
        rows=dict(sorted(rows.items())),
        seconds=latest.seconds,
        requests=earlier.requests + latest.requests,
        retries=earlier.retries + latest.retries,
        token_requests=earlier.token_requests + latest.token_requests,
        schema_changes=[*earlier.schema_changes, *latest.schema_changes],
        tables=latest.tables,
        webhooks=latest.webhooks,
    )


def make_pipeline(destination: Destination, dataset: str = DEFAULT_DATASET) -> dlt.Pipeline:
    target = _make_destination(destination)
    try:
        return dlt.pipeline(pipeline_name=PIPELINE_NAME, destination=target, dataset_name=dataset)
    except FileExistsError:
        # dlt creates a new working folder with exists_ok=False: processes starting at once (the
        # Dagster executor's) race to create it, and the loser finds it made: it is there now
        return dlt.pipeline(pipeline_name=PIPELINE_NAME, destination=target, dataset_name=dataset)


def default_duckdb_memory_limit(threads: int | None = None, small: bool = False) -> str:
    """80MB per thread DuckDB runs (one per core), at least 160MB; for a small package 48MB
    per thread, at least 96MB."""
    per_thread, least = (
        (DUCKDB_SMALL_MB_PER_THREAD, DUCKDB_SMALL_MIN_MB) if small else (DUCKDB_MB_PER_THREAD, DUCKDB_MIN_MB)
    )
    return f"{max(least, per_thread * (threads or os.cpu_count() or 1))}MB"


def configured_duckdb_memory_limit() -> str | None:
    """`destination.duckdb.memory_limit` as the operator set it: it wins over every default."""
    return dlt.config.get("destination.duckdb.memory_limit", str) or None


def _make_destination(destination: Destination) -> Any:
    if destination == "duckdb":
        path = dlt.config.get("destination.duckdb.credentials", str) or DEFAULT_DUCKDB_FILE
        # DuckDB takes 80 % of RAM by default and merges a big first load in memory; capped, it
        # spills to disk instead (300,000 sessions: the load's peak RSS 846 -> 509 MiB)
        limit = configured_duckdb_memory_limit() or default_duckdb_memory_limit()
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


@dataclass
class Listings:
    """What this run's listings showed: which resources it read, for which organizations, the
    keys each full listing had and which details it read (sources/wirelane/changes.py), and
    the connector statuses on the station list pages."""

    selected: frozenset[str]
    organizations: list[str]
    runs: dict[str, changes.SettledRun]
    statuses: statuses.ListedStatuses


@dataclass
class Extracted:
    """What a run's load step and the steps after it need from its extraction: the listings that
    say which rows are gone, the connector statuses seen, the figures for the summary.

    Small and picklable on purpose: `wirelane-sync run` loads in a fresh process image
    (pipelines/handoff.py), so the extraction's memory is gone before DuckDB's arrives."""

    destination: Destination
    dataset: str
    started: float  # time.time() when the run began
    listings: Listings
    rows: dict[str, int]  # normalized rows per table, dlt's tables left out
    requests: int
    retries: int
    token_requests: int
    pending_bytes: int  # the normalized packages' files, which the load step reads
    webhooks: drain.Batch | None = None
    more_sessions: bool = False  # the sessions scan stopped at the end of a slice: the next one goes on

    @property
    def seconds(self) -> float:
        return round(time.time() - self.started, 2)

    @property
    def big(self) -> bool:
        """Whether the load is big (BIG_PACKAGE_BYTES): one job at a time on DuckDB's full limit."""
        return self.pending_bytes >= BIG_PACKAGE_BYTES


def load_workers(extracted: Extracted) -> int:
    """How many load jobs dlt runs at once for `extracted` (see DLT_LOAD_WORKERS)."""
    return 1 if extracted.destination == "duckdb" and extracted.big else DLT_LOAD_WORKERS


def load_memory_limit(extracted: Extracted) -> str | None:
    """DuckDB's memory limit for loading `extracted` when it differs from the destination's:
    the small one for a small package, unless `destination.duckdb.memory_limit` says."""
    if extracted.destination != "duckdb" or extracted.big or configured_duckdb_memory_limit():
        return None
    return default_duckdb_memory_limit(small=True)


def load_extracted(extracted: Extracted) -> RunSummary:
    """The second half of `run`: load the normalized packages, then mark what the listings no
    longer have and write the connector statuses they showed. Needs nothing of the process
    that extracted but the working folder and `extracted`."""
    allocator.release()  # what the extraction freed, before DuckDB asks for its own
    with ExitStack() as held:  # the load step's DuckDB connection, closed when the run is done
        pipeline = make_pipeline(extracted.destination, extracted.dataset)
        try:
            with dlt_signals.intercepted_signals():
                info = pipeline.load(
                    credentials=_load_credentials(pipeline, held, extracted), workers=load_workers(extracted)
                )
                dlt_signals.raise_if_signalled()
            info.raise_on_failed_jobs()
        except PipelineStepFailed as failure:
            raise step_failed(failure, pipeline) from None
        if extracted.webhooks is not None:
            _mark_drained(extracted.webhooks, info)
        try:
            mark_deleted(pipeline, info, extracted.listings)
        except failures.DESTINATION_ERRORS as error:
            # the data and its state are in; the next run's listings mark what this one could not
            raise failures.explain(error, "loaded, but marking the rows gone from the API failed", True) from None
        try:
            _write_listed_statuses(pipeline, extracted.listings)
        except failures.DESTINATION_ERRORS as error:
            # idempotent and kept in no state: the next run writes them
            raise failures.explain(error, "loaded, but writing the listed connector statuses failed", True) from None
        # on the load's own connection: the checkpoint that closes the load writes it too
        history.prune_or_explain(pipeline, history.configured_state_history(), "loaded")
        schema_changes = [
            f"{table}: {', '.join(sorted(update.get('columns', {})))}"
            for package in info.load_packages
            for table, update in (package.schema_update or {}).items()
            if not table.startswith("_dlt")
        ]
        return RunSummary(
            load_id=info.loads_ids[-1] if info.loads_ids else None,
            rows=extracted.rows,
            seconds=extracted.seconds,
            requests=extracted.requests,
            retries=extracted.retries,
            token_requests=extracted.token_requests,
            schema_changes=schema_changes,
            tables=set(pipeline.default_schema.data_table_names()),
            webhooks=extracted.webhooks.summary() if extracted.webhooks is not None else None,
        )


def step_failed(failure: PipelineStepFailed, pipeline: dlt.Pipeline) -> BaseException:
    """What a failed step raises to the caller."""
    if isinstance(failure.exception, SignalReceivedException):
        return failure.exception  # asked to stop: an interrupt, not a refused package
    if failure.step in ("extract", "normalize"):
        # The data itself was refused (a frozen type changed, a bad page): the package would
        # fail again on every run. Forget the local working folder; the next run restores the
        # state of the last successful load from the destination and reads again from there.
        pipeline.drop()
    return root_cause(failure)


def _load_credentials(pipeline: dlt.Pipeline, held: ExitStack, extracted: Extracted) -> Any:
    """On DuckDB, one connection for the load step and the deletion marks after it, opened
    once the API has been read; elsewhere dlt's own.

    Left to itself, dlt's DuckDB loader opens the database file for a job and closes it after
    (a checkpoint) whenever no other job has it open: dozens of times per load. One connection
    for the step and the deletion marks after it took the 100,000-session load step from 3.56
    to 2.84 s. Opened after extract and normalize, it keeps the file free for readers (a BI tool,
    `wirelane-sync status`) while the API is read, as before; it is closed when the run ends.
    """
    if pipeline.destination.destination_type != DUCKDB_DESTINATION:
        return None
    resolved = pipeline.destination_client().config.credentials  # the file and its settings
    assert isinstance(resolved, DuckDbCredentials)
    settings = dict(resolved.global_config or {})
    if limit := load_memory_limit(extracted):
        settings["memory_limit"] = limit
    return held.enter_context(duckdb.connect(resolved.database, config=settings))


def _mark_drained(batch: drain.Batch, info: LoadInfo) -> None:
    try:
        batch.done(info.loads_ids[-1] if info.loads_ids else None)
    except sqlite3.Error as error:
        raise WirelaneError(
            f"loaded, but marking the webhook events done failed ({error}); the next drain loads them again"
        ) from None


def mark_deleted(pipeline: dlt.Pipeline, info: LoadInfo, listings: Listings) -> None:
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
    orgs = listings.organizations
    existing = set(pipeline.default_schema.tables)
    selected = [name for name in tables.FULL_LISTING_TABLES if name in listings.selected and name in existing]
    if not orgs:
        return
    runs = listings.runs
    listed_stations = runs.get("charging_stations", changes.SettledRun()).listed
    station_lists = [name for name in tables.STATION_LIST_TABLES if name in listings.selected and name in existing]
    with pipeline.sql_client() as client:
        marker = _DeletionMarker(client, load_id)
        for table in station_lists:
            for org, listed in listed_stations.items():
                marker.drop_unlisted(table, org, "station_id", listed)
        for table in selected:
            run = runs.get(table, changes.SettledRun())
            for org in orgs:
                if table in ("members", "charging_stations"):
                    if org in run.listed:  # listed in full by this run
                        marker.not_listed(table, org, "id", run.listed[org])
                else:
                    if org in run.swept:
                        marker.older_loads(table, org)
                    else:
                        marker.older_loads(table, org, "account_id", run.fetched.get(org, KeySet()))
                    if "members" in selected:
                        marker.without_member(table, org)


def _write_listed_statuses(pipeline: dlt.Pipeline, listings: Listings) -> None:
    """The connector statuses this run's station listing showed, onto the loaded connectors
    (pipelines/connector_status.py)."""
    listed = listings.statuses
    if not listed or "charging_stations" not in listings.selected:
        return
    columns = pipeline.default_schema.tables.get(connector_status.CONNECTORS, {}).get("columns", {})
    if not {"status", "status_update"} <= set(columns):
        return  # no connector has shown a status yet: nothing to write onto
    with pipeline.sql_client() as client:
        connector_status.apply(client, listed)


def _not_in(key: str, listed: Set[str]) -> tuple[str, list[Any]]:
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
            f"UPDATE {qualified} SET {tables.DELETED_AT} = CURRENT_TIMESTAMP "  # noqa: S608
            f"WHERE {tables.DELETED_AT} IS NULL AND organization_id = %s AND {condition}",
            *args,
        )

    def older_loads(self, table: str, org: str, key: str | None = None, keys: Set[str] | None = None) -> None:
        """Rows not loaded by this run (of the given keys only, when given)."""
        if key is None or keys is None:
            self._update(table, "_dlt_load_id <> %s", org, self.load_id)
            return
        ordered = sorted(keys)
        for start in range(0, len(ordered), self.CHUNK):
            chunk = ordered[start : start + self.CHUNK]
            placeholders = ", ".join(["%s"] * len(chunk))
            self._update(table, f"_dlt_load_id <> %s AND {key} IN ({placeholders})", org, self.load_id, *chunk)

    def not_listed(self, table: str, org: str, key: str, listed: Set[str]) -> None:
        condition, keys = _not_in(key, listed)
        self._update(table, condition, org, *keys)

    def drop_unlisted(self, table: str, org: str, key: str, listed: Set[str]) -> None:
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
            f"AND account_id IS NOT NULL AND {tables.DELETED_AT} IS NULL"
        )
        self._update(table, f"account_id NOT IN ({live})", org, org)


def root_cause(failure: PipelineStepFailed) -> Exception:
    """The WirelaneError inside dlt's wrapping, or a one-line description of dlt's own."""
    step = getattr(failure, "step", "run")
    return failures.explain(failure, f"the {step} step failed", step in ("sync", "load"))
