"""One naming rule for the raw tables, shared by the dlt and the dbt side, so lineage lines up.

A dlt resource becomes the asset `wirelane/<resource>`; dbt's source `wirelane` names the same
tables, and its child tables (`charging_stations__connectors`, `price_models__elements__...`)
are written by the resource of their root table, so a dbt source resolves to the asset of the
resource that writes it. A dbt source no resource writes (dlt's `_dlt_loads`) keeps dbt's key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import AssetKey, AssetSpec, AutomationCondition
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings
from dagster_dlt import DagsterDltTranslator
from dagster_dlt.translator import DltResourceTranslatorData

SOURCE_NAME = "wirelane"  # the dlt source's name and the dbt source's name
RAW_GROUP = "wirelane_raw"


def raw_asset_key(resource_name: str) -> AssetKey:
    return AssetKey([SOURCE_NAME, resource_name])


class WirelaneDltTranslator(DagsterDltTranslator):
    """`wirelane/<resource>` in the group `wirelane_raw`; no upstream asset (the API is outside)."""

    def get_asset_spec(self, data: DltResourceTranslatorData) -> AssetSpec:
        spec = super().get_asset_spec(data)
        return spec.replace_attributes(key=raw_asset_key(data.resource.name), deps=[], group_name=RAW_GROUP)


class WirelaneDbtTranslator(DagsterDbtTranslator):
    """dbt sources resolve to the dlt assets writing them; models are grouped by their folder and
    rebuilt when what they read changed (once no load they depend on is still running)."""

    def __init__(self, tables: Mapping[str, AssetKey]) -> None:
        """`tables`: the root table each dlt resource writes, to its asset key. Several dbt sources
        (a table and its child tables) then share one key, which dagster-dbt must be told to allow."""
        super().__init__(DagsterDbtTranslatorSettings(enable_duplicate_source_asset_keys=True))
        self.tables = dict(tables)

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source" and dbt_resource_props["source_name"] == SOURCE_NAME:
            root_table = str(dbt_resource_props["name"]).split("__", 1)[0]
            if root_table in self.tables:
                return self.tables[root_table]
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn") or []
        return f"wirelane_{fqn[1]}" if len(fqn) > 2 else super().get_group_name(dbt_resource_props)

    def get_automation_condition(self, dbt_resource_props: Mapping[str, Any]) -> AutomationCondition[Any] | None:
        return AutomationCondition.eager()
