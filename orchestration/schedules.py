"""When the loads run: sessions every hour, the reference data (stations, tariffs, members and
what hangs off them) once a day, each as one run per organization.

A schedule asks for every partition at its tick, so organizations load side by side (as far as
the run launcher and the `wirelane_api` pool allow). The jobs select assets, which the dlt
assets turn into dlt's `with_resources`; the freshness checks stay out of them (they have their
own cadence, and a load of one organization says nothing about the others). The marts follow
by declarative automation (see `orchestration.keys`), not by a schedule of their own.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from dagster import (
    AssetKey,
    AssetSelection,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    StaticPartitionsDefinition,
    define_asset_job,
    schedule,
)

if TYPE_CHECKING:  # what define_asset_job returns; dagster does not export the name
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

SESSIONS_RESOURCE = "sessions"
SESSIONS_CRON = "0 * * * *"
REFERENCE_CRON = "30 3 * * *"  # off the hour, away from the sessions run (they would queue anyway)
TIMEZONE = "UTC"


def load_jobs(
    resource_names: Mapping[AssetKey, str],
) -> tuple[UnresolvedAssetJobDefinition, UnresolvedAssetJobDefinition]:
    """The sessions job and the reference job (every other resource the source loads by default),
    partitioned by organization like the assets they select."""
    sessions = [key for key, name in resource_names.items() if name == SESSIONS_RESOURCE]
    reference = [key for key, name in resource_names.items() if name != SESSIONS_RESOURCE]
    return (
        define_asset_job(
            "wirelane_sessions",
            selection=AssetSelection.assets(*sessions).without_checks(),
            description="Incremental sessions load of one organization.",
        ),
        define_asset_job(
            "wirelane_reference",
            selection=AssetSelection.assets(*reference).without_checks(),
            description="Stations, tariffs, price models and members of one organization.",
        ),
    )


def every_organization(
    name: str, cron: str, job: UnresolvedAssetJobDefinition, partitions: StaticPartitionsDefinition
) -> ScheduleDefinition:
    """A schedule asking for one run of `job` per organization at every tick."""

    @schedule(name=name, cron_schedule=cron, job=job, execution_timezone=TIMEZONE)
    def requests(context: ScheduleEvaluationContext) -> Iterator[RunRequest]:
        tick = context.scheduled_execution_time.isoformat() if context.scheduled_execution_time else "manual"
        for organization in partitions.get_partition_keys():
            yield RunRequest(run_key=f"{organization}@{tick}", partition_key=organization)

    return requests


def load_schedules(
    sessions_job: UnresolvedAssetJobDefinition,
    reference_job: UnresolvedAssetJobDefinition,
    partitions: StaticPartitionsDefinition,
) -> list[ScheduleDefinition]:
    return [
        every_organization("wirelane_sessions_hourly", SESSIONS_CRON, sessions_job, partitions),
        every_organization("wirelane_reference_daily", REFERENCE_CRON, reference_job, partitions),
    ]
