"""The dbt models as Dagster assets (dagster-dbt), downstream of the dlt assets.

`dbt build` (the models and their tests, which dagster-dbt reports as asset checks) runs on the
warehouse the loads write, configured as `wirelane-sync transform` configures it. The models are
not partitioned: every mart spans all organizations. On DuckDB the build waits for the file's
writer lock, because a load may be writing it at that moment.
"""

# No `from __future__ import annotations` here: Dagster checks the annotation of `context` at
# definition time and does not resolve it from a string.
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

from orchestration.dbt_runs import invocation_target
from orchestration.keys import WirelaneDbtTranslator
from orchestration.manifest import prepare_manifest, wirelane_dbt_project
from orchestration.warehouse import profile_environment, warehouse_writer
from pipelines.destinations import Destination


@dataclass(frozen=True)
class ModelAssets:
    assets: AssetsDefinition
    project: DbtProject


def build_model_assets(destination: Destination, tables: Mapping[str, AssetKey]) -> ModelAssets:
    """Every model of `dbt_project/`; `tables` maps the raw tables to the dlt assets writing them."""
    project = wirelane_dbt_project(destination)
    manifest = prepare_manifest(project, destination)

    @dbt_assets(
        manifest=manifest,
        project=project,
        name="wirelane_dbt",
        dagster_dbt_translator=WirelaneDbtTranslator(tables),
    )
    def wirelane_dbt(context: AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
        """`dbt build` of the selected models (all of them, or what automation asks for)."""
        with (
            warehouse_writer(destination, context.log),
            profile_environment(destination),
            invocation_target(project, context.run.run_id) as target,
        ):
            yield from dbt.cli(["build"], context=context, target_path=target).stream()

    return ModelAssets(wirelane_dbt, project)
