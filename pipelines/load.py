"""Running the Wirelane source into DuckDB or Postgres: the `run` and `backfill` commands.

The dlt way throughout: `.dlt/config.toml` and `.dlt/secrets.toml` (or environment variables)
configure the source and the destination; the pipeline's working folder follows
`DLT_DATA_DIR`; state is restored from the destination when that folder is gone. This module
reads the API (extract and normalize); `pipelines/load_step.py` loads what it read.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dlt
from dlt.common.pipeline import LoadInfo
from dlt.common.runtime import signals as dlt_signals
from dlt.common.storages import LoadStorage, NormalizeStorage
from dlt.common.storages.load_package import TPackageJobState
from dlt.pipeline.exceptions import PipelineStepFailed

from pipelines import failures, history, newest_versions
from pipelines.destinations import Destination
from pipelines.load_step import (
    DEFAULT_DATASET,
    PIPELINE_NAME,
    Extracted,
    Listings,
    RunSummary,
    load_extracted,
    make_pipeline,
    next_slice,
    step_failed,
    then,
)
from pipelines.webhooks import drain
from sources.wirelane import changes, statuses
from sources.wirelane import source as wirelane
from sources.wirelane.errors import WirelaneConfigError

__all__ = [
    "DEFAULT_DATASET",
    "PIPELINE_NAME",
    "SCHEMA_CONTRACT",
    "RunSummary",
    "build_source",
    "extract",
    "listings_of",
    "make_pipeline",
    "run",
]

# new columns and tables are welcome, a column changing type is not
SCHEMA_CONTRACT: Any = {"tables": "evolve", "columns": "evolve", "data_type": "freeze"}
log = logging.getLogger("wirelane_sync.load")


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
    (pipelines/webhooks/drain.py); the events are marked done once the load has committed.
    A sessions scan bigger than a slice (`sources.wirelane.sessions_per_slice`) is loaded
    slice by slice, each slice committed before the next is read; the summary counts them all."""
    options: dict[str, Any] = {
        "resources": resources,
        "organizations": organizations,
        "full_refresh": full_refresh,
        "backfill": backfill,
        "from_webhooks": from_webhooks,
    }
    summary: RunSummary | None = None
    started = time.time()
    while True:
        extracted = extract(destination, dataset=dataset, started=started, **options)
        if isinstance(extracted, RunSummary):
            return extracted
        summary = then(summary, load_extracted(extracted))
        if not extracted.more_sessions:
            return summary
        options = next_slice(options)


def extract(
    destination: Destination = "duckdb",
    *,
    dataset: str = DEFAULT_DATASET,
    resources: Sequence[str] | None = None,
    organizations: Sequence[str] | None = None,
    full_refresh: bool = False,
    backfill: tuple[str, str] | None = None,
    from_webhooks: bool = False,
    started: float | None = None,
) -> Extracted | RunSummary:
    """The first half of `run`: a killed run's packages loaded, then extract and normalize.
    Returns what `load_extracted` needs, or the whole summary when an empty webhook queue
    leaves nothing to do. `started`: when the run began, for a slice after the first."""
    started = started or time.time()
    keep_states = history.configured_state_history()  # a bad value fails before any work
    batch = drain.claim() if from_webhooks else None
    if batch is not None and batch.empty:
        return RunSummary(None, {}, round(time.time() - started, 2), 0, 0, 0, webhooks=batch.summary())
    pipeline = make_pipeline(destination, dataset)
    try:
        source = build_source(resources, organizations, backfill, batch)
        options = _step_options(destination)
        if full_refresh:
            options["refresh"] = "drop_sources"
            if pipeline.has_pending_data:
                # a killed run's packages: dlt's `run` would load them and stop, refreshing nothing;
                # everything is loaded anew anyway, so they go with the working folder
                pipeline.drop()
                pipeline = make_pipeline(destination, dataset)
        else:
            pipeline = _finish_interrupted_load(pipeline, options, destination, dataset)
        newest_versions.merge_newest_sessions(source, pipeline)
        with dlt_signals.intercepted_signals():
            if pipeline.config.restore_from_destination:
                _restore(pipeline, keep_states)
            pipeline.extract(source, **options)
            normalized = pipeline.normalize()
            # dlt holds a first SIGINT or SIGTERM for its steps to notice, and forgets it when the
            # steps end first: the caller must still learn that it was asked to stop
            dlt_signals.raise_if_signalled()
    except PipelineStepFailed as failure:
        raise step_failed(failure, pipeline) from None
    client = wirelane.last_client()
    counts = normalized.row_counts if normalized is not None else {}  # None: nothing was extracted
    return Extracted(
        destination=destination,
        dataset=dataset,
        started=started,
        listings=listings_of(source),
        rows={k: v for k, v in sorted(counts.items()) if not k.startswith("_dlt")},
        requests=client.stats.requests if client else 0,
        retries=client.stats.retries if client else 0,
        token_requests=client.auth.fetched if client else 0,
        pending_bytes=_pending_bytes(pipeline),
        webhooks=batch,
        more_sessions=_scan_unfinished(source, pipeline, backfill is None and batch is None),
    )


def _scan_unfinished(source: Any, pipeline: dlt.Pipeline, scanned: bool) -> bool:
    """Whether this run's sessions scan stopped at the end of a slice. A backfill or a webhook
    drain reads no scan: a scan a killed run left part-way goes on in the next regular run."""
    if not scanned or "sessions" not in source.selected_resources:
        return False
    return wirelane.sessions_unfinished(dict(pipeline.state), wirelane.last_organizations())


def _restore(pipeline: dlt.Pipeline, keep: int) -> None:
    """dlt's `sync_destination`, what `run` does first: state and schema from the warehouse. Its
    restore sorts every state the warehouse keeps, so one that fails on a history grown too long
    (by an earlier version, or with `state_history = 0`) prunes it (pipelines/history.py) and
    tries once more."""
    try:
        pipeline.sync_destination()
    except PipelineStepFailed:
        try:
            pruned = history.prune(pipeline, keep).states
        except failures.DESTINATION_ERRORS:
            pruned = 0  # the destination is down or locked: the restore's own failure says so
        if not pruned:
            raise
        log.warning("dlt's restore failed on a long history of states: pruned %d and restoring again", pruned)
        pipeline.sync_destination()


def listings_of(source: Any) -> Listings:
    """What the extraction of `source` listed, read from the source's modules once it has run."""
    return Listings(
        selected=frozenset(source.selected_resources),
        organizations=wirelane.last_organizations(),
        runs={table: run.settled() for table, run in changes.runs().items()},
        statuses=statuses.listed(),
    )


def _pending_bytes(pipeline: dlt.Pipeline) -> int:
    folder = Path(pipeline.working_dir) / "load" / LoadStorage.NORMALIZED_FOLDER
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def _step_options(destination: Destination) -> dict[str, Any]:
    options: dict[str, Any] = {"schema_contract": SCHEMA_CONTRACT}
    if destination == "duckdb":
        options["loader_file_format"] = "parquet"  # insert_values on DuckDB 2.0 is slow and huge
    return options


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
