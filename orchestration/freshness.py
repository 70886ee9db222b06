"""Whether every organization's raw data arrived on time: a freshness check per dlt asset.

Dagster's built-in last-update freshness checks look at the newest materialization of any
partition, so one organization could stop loading (refused credentials, say) while the others
keep the check green. This check looks at each organization's partition and names the late ones.
Sessions load hourly, so they are late after two hours; the reference data loads daily, so after
26 hours. The automation sensor evaluates the checks every half hour (their automation condition).
"""

# No `from __future__ import annotations` here: Dagster checks the annotation of `context` at
# definition time and does not resolve it from a string.
import time
from collections.abc import Iterator
from datetime import timedelta

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    AssetRecordsFilter,
    AutomationCondition,
    DagsterInstance,
    MetadataValue,
    multi_asset_check,
)

from orchestration.loading import RawAssets
from orchestration.schedules import SESSIONS_RESOURCE

CHECK_NAME = "fresh_in_every_organization"
CHECK_CRON = "*/30 * * * *"
SESSIONS_MAX_AGE = timedelta(hours=2)
REFERENCE_MAX_AGE = timedelta(hours=26)


def max_age(resource_name: str) -> timedelta:
    return SESSIONS_MAX_AGE if resource_name == SESSIONS_RESOURCE else REFERENCE_MAX_AGE


def last_loaded(instance: DagsterInstance, key: AssetKey, organization: str) -> float | None:
    """When the organization's partition of the asset was last materialized (epoch seconds)."""
    records = instance.fetch_materializations(AssetRecordsFilter(asset_key=key, asset_partitions=[organization]), 1)
    return records.records[0].timestamp if records.records else None


def build_freshness_checks(raw: RawAssets) -> AssetChecksDefinition:
    organizations = raw.partitions.get_partition_keys()
    every_half_hour: AutomationCondition[AssetCheckKey] = AutomationCondition.cron_tick_passed(CHECK_CRON)
    specs = [
        AssetCheckSpec(
            CHECK_NAME,
            asset=key,
            description=f"Every organization's partition was loaded within the last {max_age(name)}.",
            automation_condition=every_half_hour,
        )
        for key, name in raw.resource_names.items()
    ]

    @multi_asset_check(specs=specs, can_subset=True, name="wirelane_freshness")
    def wirelane_freshness(context: AssetCheckExecutionContext) -> Iterator[AssetCheckResult]:
        now = time.time()
        for check_key in context.selected_asset_check_keys:
            key = check_key.asset_key
            limit = max_age(raw.resource_names[key])
            loaded = {org: last_loaded(context.instance, key, org) for org in organizations}
            late = [org for org, at in loaded.items() if at is None or now - at > limit.total_seconds()]
            yield AssetCheckResult(
                asset_key=key,
                check_name=CHECK_NAME,
                passed=not late,
                severity=AssetCheckSeverity.WARN,
                description=f"late (not loaded within {limit}): {', '.join(late)}" if late else "all fresh",
                metadata={
                    f"last_loaded/{org}": MetadataValue.timestamp(at) if at else MetadataValue.text("never")
                    for org, at in loaded.items()
                },
            )

    return wirelane_freshness
