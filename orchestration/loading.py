"""The dlt resources as Dagster assets (dagster-dlt), one static partition per organization.

The source and the pipeline are the ones `wirelane-sync run` uses (`pipelines.load`): the same
source with the same resource selection rules, the same destination, dataset, schema contract and
loader format, and the same soft deletion of records gone from a full listing. What differs is
the pipeline's name: `wirelane_<ORGANIZATION>`, one per partition, so that each organization has a
working folder and a state (its sessions cursor) of its own in the warehouse. Partitions then run
at the same time without loading each other's packages or overwriting each other's cursor, which
one shared pipeline could not allow (dagster-dlt restores the state from the warehouse on every
run, and the newest state would be another organization's).
"""

# No `from __future__ import annotations` here: Dagster checks the annotation of `context` at
# definition time and does not resolve it from a string.
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dlt
from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, RetryRequested, StaticPartitionsDefinition
from dagster_dlt import DagsterDltResource, dlt_assets
from dlt.common.destination.exceptions import SchemaUpdateError
from dlt.common.pipeline import get_dlt_pipelines_dir
from dlt.pipeline.exceptions import PipelineStepFailed

from orchestration.keys import WirelaneDltTranslator, raw_asset_key
from orchestration.locks import exclusive
from orchestration.warehouse import warehouse_writer
from pipelines import history
from pipelines.destinations import Destination
from pipelines.load import PIPELINE_NAME, SCHEMA_CONTRACT, build_source, listings_of, make_pipeline
from pipelines.load_step import mark_deleted, root_cause
from pipelines.newest_versions import merge_newest_sessions
from sources.wirelane import source as wirelane

API_POOL = "wirelane_api"  # a Dagster concurrency pool: caps how many loads call the API at once
# Organizations loading into Postgres at once race to create or alter the same tables (the very
# first load, a new field in the API): the loser's DDL fails on what the winner just created.
# Run again, it finds the tables in place; a schema change that truly fails fails every attempt.
SCHEMA_RACE_RETRIES = 3


@dataclass(frozen=True)
class RawAssets:
    assets: AssetsDefinition
    partitions: StaticPartitionsDefinition
    resource_names: Mapping[AssetKey, str]  # asset key -> dlt resource
    tables: Mapping[str, AssetKey]  # root table a resource writes -> its asset key


def pipeline_name(organization: str) -> str:
    return f"{PIPELINE_NAME}_{organization}"


def organization_pipeline(destination: Destination, organization: str) -> dlt.Pipeline:
    """`make_pipeline`'s warehouse and dataset under the organization's own pipeline name.

    On DuckDB the destination stays `make_pipeline`'s (bound to the `wirelane` pipeline, so it
    resolves to the file the command line writes); loads there run one at a time. On Postgres
    organizations load at once, and dlt's merge goes through a staging table per table that a
    concurrent load would truncate under it, so each organization stages in a dataset of its own
    (`wirelane_raw_staging_<organization>`); the credentials come from the same configuration.
    """
    shared = make_pipeline(destination)
    target: Any = shared.destination
    if destination == "postgres":
        target = dlt.destinations.postgres(staging_dataset_name_layout=f"%s_staging_{organization}")
    return dlt.pipeline(pipeline_name=pipeline_name(organization), destination=target, dataset_name=shared.dataset_name)


def schema_update_failed(failure: BaseException) -> bool:
    """Whether dlt failed to create or alter a table (anywhere in the exception's chain)."""
    error: BaseException | None = failure
    while error is not None:
        if isinstance(error, SchemaUpdateError):
            return True
        error = error.__cause__ or error.__context__ or getattr(error, "exception", None)
    return False


def run_options(destination: Destination) -> dict[str, Any]:
    """What `pipelines.load.run` passes to `pipeline.run`."""
    options: dict[str, Any] = {"schema_contract": SCHEMA_CONTRACT}
    if destination == "duckdb":
        options["loader_file_format"] = "parquet"  # insert_values on DuckDB 2.0 is slow and huge
    return options


def load_organization(
    context: AssetExecutionContext,
    dagster_dlt: DagsterDltResource,
    translator: WirelaneDltTranslator,
    destination: Destination,
    resources: list[str],
) -> list[Any]:
    """Loads `resources` of the run's organization and returns dagster-dlt's materializations, to
    be reported once the whole load, soft deletions included, has succeeded."""
    organization = context.partition_key
    source = build_source(resources, [organization])
    client = wirelane.last_client()  # the source's own HTTP client, closed when done
    folder = Path(get_dlt_pipelines_dir()) / pipeline_name(organization)
    try:
        with (
            exclusive(f"dlt-pipeline:{folder}", f"the pipeline of {organization}", context.log),
            warehouse_writer(destination, context.log),
        ):
            pipeline = organization_pipeline(destination, organization)
            merge_newest_sessions(source, pipeline)
            try:
                events = list(
                    dagster_dlt.run(
                        context=context,
                        dlt_source=source,
                        dlt_pipeline=pipeline,
                        dagster_dlt_translator=translator,
                        **run_options(destination),
                    )
                )
            except PipelineStepFailed as failure:
                if destination == "postgres" and failure.step == "load" and schema_update_failed(failure):
                    raise RetryRequested(max_retries=SCHEMA_RACE_RETRIES, seconds_to_wait=5) from failure
                raise root_cause(failure) from failure
            trace = pipeline.last_trace
            load_info = trace.last_load_info if trace else None
            if load_info is not None:
                mark_deleted(pipeline, load_info, listings_of(source))
                history.prune_or_explain(pipeline, history.configured_state_history(), "loaded")
    finally:
        if client is not None:
            client.close()
    if client is not None:
        context.log.info(
            f"{organization}: {', '.join(resources)} loaded with {client.stats.requests} requests, "
            f"{client.stats.retries} retries, {client.auth.fetched} token requests"
        )
    return events


def build_raw_assets(destination: Destination) -> RawAssets:
    """The assets of every resource `wirelane-sync run` loads by default, partitioned by the
    organizations of `[sources.wirelane] organizations` (as the source resolves them)."""
    source = build_source()
    organizations = wirelane.last_organizations()
    partitions = StaticPartitionsDefinition(organizations)
    translator = WirelaneDltTranslator()
    resource_names = {raw_asset_key(name): name for name in source.selected_resources}
    tables = {
        resource.table_name: raw_asset_key(name)
        for name, resource in source.selected_resources.items()
        if isinstance(resource.table_name, str)
    }

    @dlt_assets(
        dlt_source=source,
        dlt_pipeline=make_pipeline(destination),
        name="wirelane_raw",
        partitions_def=partitions,
        dagster_dlt_translator=translator,
        pool=API_POOL,
    )
    def wirelane_raw(context: AssetExecutionContext, dagster_dlt: DagsterDltResource) -> Iterator[Any]:
        """One organization's selected resources; a subset (the hourly sessions job, the daily
        reference job) becomes dlt's `with_resources`."""
        selected = sorted(resource_names[key] for key in context.selected_asset_keys)
        yield from load_organization(context, dagster_dlt, translator, destination, selected)

    return RawAssets(wirelane_raw, partitions, resource_names, tables)
