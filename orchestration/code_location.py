"""Assembles the code location: assets, checks, jobs, schedules, the sensor and the resources.

A function rather than module state, so that the definitions follow the configuration at the
moment they are built (the tests build them against their own simulator and warehouse).
"""

from __future__ import annotations

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    Definitions,
)
from dagster_dlt import DagsterDltResource

from orchestration.freshness import build_freshness_checks
from orchestration.loading import build_raw_assets
from orchestration.manifest import dbt_resource
from orchestration.modeling import build_model_assets
from orchestration.schedules import load_jobs, load_schedules
from orchestration.warehouse import configured_destination
from pipelines.destinations import Destination

AUTOMATION_SENSOR = "wirelane_automation"


def build_definitions(destination: Destination | None = None) -> Definitions:
    """Everything Dagster needs, for `destination` or the configured one (`destination_type`)."""
    warehouse = destination or configured_destination()
    raw = build_raw_assets(warehouse)
    models = build_model_assets(warehouse, raw.tables)
    freshness = build_freshness_checks(raw)
    sessions_job, reference_job = load_jobs(raw.resource_names)
    # Runs what the automation conditions ask for: the marts once the loads they read finished,
    # the freshness checks every half hour. Running from the start, unlike the schedules: it only
    # reacts to loads someone started, and never calls the API itself.
    automation = AutomationConditionSensorDefinition(
        AUTOMATION_SENSOR,
        target=AssetSelection.assets(models.assets) | AssetSelection.checks(freshness),
        default_status=DefaultSensorStatus.RUNNING,
        description="Rebuilds the dbt marts after loads; evaluates the freshness checks.",
    )
    return Definitions(
        assets=[raw.assets, models.assets],
        asset_checks=[freshness],
        jobs=[sessions_job, reference_job],
        schedules=load_schedules(sessions_job, reference_job, raw.partitions),
        sensors=[automation],
        resources={"dagster_dlt": DagsterDltResource(), "dbt": dbt_resource(models.project)},
    )
