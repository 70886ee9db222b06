"""The Dagster code location: its definitions load, dbt's sources are the dlt assets, every asset
materializes in-process against a simulator on loopback into an isolated DuckDB file, and two
organizations load at the same time into Postgres as two runs (processes) of a deployment would."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dagster import (
    AssetCheckKey,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    DagsterInstance,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    build_schedule_context,
    evaluate_automation_conditions,
    materialize,
)

from orchestration.code_location import build_definitions
from orchestration.dbt_runs import RUNS_KEPT, runs_folder
from orchestration.freshness import CHECK_NAME
from orchestration.manifest import wirelane_dbt_project
from simulator.server import RunningSimulator
from simulator.world import SimulatorSizes
from tests.api_client import ApiClient
from tests.postgres_server import PostgresServer, remove, start_postgres

SIZES = SimulatorSizes(organizations=2, stations=12, members=30, sessions=800, days=15)
SESSIONS = AssetKey(["wirelane", "sessions"])
REFERENCE = ("charging_stations", "members", "tariffs", "price_models", "member_payment_methods", "station_cases")


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory and dlt data folder of the test's own (the definitions create dlt's
    working folder of the `wirelane` pipeline when they are built)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt"))
    monkeypatch.delenv("DESTINATION_TYPE", raising=False)
    return tmp_path


@dataclass
class Served:
    """A simulator the source is pointed at, and the isolated working directory."""

    api: ApiClient
    root: Path

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.root / "wirelane.duckdb"), read_only=True) as con:
            return con.sql(sql).fetchall()

    def counts(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = self.api.admin("GET", "stats").json()["counts"]
        return counts


@pytest.fixture
def served(
    isolated: Path, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Served]:
    simulator = make_simulator(sizes=SIZES)
    monkeypatch.setenv("SOURCES__WIRELANE__BASE_URL", simulator.api_url)
    monkeypatch.setenv("SOURCES__WIRELANE__TOKEN_URL", simulator.token_url)
    monkeypatch.setenv(
        "SOURCES__WIRELANE__ORGANIZATIONS", json.dumps([org.id for org in simulator.world.organizations])
    )
    monkeypatch.setenv("SOURCES__WIRELANE__PAGE_SIZE", "200")
    monkeypatch.setenv("SOURCES__WIRELANE__MAX_BACKOFF_S", "2")
    with ApiClient(simulator) as api:
        yield Served(api, isolated)


def raw_assets(defs: Definitions) -> AssetsDefinition:
    return defs.resolve_assets_def(SESSIONS)


def model_key(defs: Definitions, model: str) -> AssetKey:
    (key,) = [key for key in defs.resolve_all_asset_keys() if key.path[-1] == model]
    return key


def test_definitions_load_with_partitions_schedules_and_sensor(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__WIRELANE__ORGANIZATIONS", '["NORTH", "SOUTH-1"]')
    defs = build_definitions()
    Definitions.validate_loadable(defs)

    partitions = raw_assets(defs).partitions_def
    assert partitions is not None and partitions.get_partition_keys() == ["NORTH", "SOUTH-1"]

    hourly = defs.resolve_schedule_def("wirelane_sessions_hourly")
    daily = defs.resolve_schedule_def("wirelane_reference_daily")
    assert (hourly.cron_schedule, daily.cron_schedule) == ("0 * * * *", "30 3 * * *")
    assert hourly.default_status == daily.default_status == DefaultScheduleStatus.STOPPED
    tick = build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 1, 5, tzinfo=UTC), repository_def=defs.get_repository_def()
    )
    requests = hourly.evaluate_tick(tick).run_requests or []
    assert [r.partition_key for r in requests] == ["NORTH", "SOUTH-1"]
    assert len({r.run_key for r in requests}) == 2

    sessions_job = defs.resolve_job_def("wirelane_sessions")
    reference_job = defs.resolve_job_def("wirelane_reference")
    assert sessions_job.asset_layer.selected_asset_keys == {SESSIONS}
    reference = reference_job.asset_layer.selected_asset_keys
    assert SESSIONS not in reference and {AssetKey(["wirelane", name]) for name in REFERENCE} <= reference

    sensor = defs.resolve_sensor_def("wirelane_automation")
    assert sensor.default_status == DefaultSensorStatus.RUNNING
    # at each half hour the sensor asks for the freshness checks (and nothing else: no load ran)
    instance, start = DagsterInstance.ephemeral(), datetime(2026, 11, 1, 5, 10, tzinfo=UTC)
    first = evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=start)
    later = evaluate_automation_conditions(
        defs=defs, instance=instance, evaluation_time=start + timedelta(minutes=25), cursor=first.cursor
    )
    assert first.total_requested == 0 and later.total_requested == len(raw_assets(defs).keys)

    # the module `dagster dev -m orchestration.definitions` loads
    module = importlib.import_module("orchestration.definitions")
    Definitions.validate_loadable(module.defs)


def test_dbt_sources_are_the_dlt_assets(isolated: Path) -> None:
    defs = build_definitions("duckdb")
    graph = defs.resolve_asset_graph()
    raw = set(raw_assets(defs).keys)
    models = set(defs.resolve_assets_def(model_key(defs, "fct_charging_sessions")).keys)
    assert raw.isdisjoint(models)
    # everything the models read from outside dbt is a dlt asset: no dangling source
    outside = {parent for key in models for parent in graph.get(key).parent_keys} - models
    assert outside <= raw and SESSIONS in outside and AssetKey(["wirelane", "charging_stations"]) in outside
    assert SESSIONS in graph.get(model_key(defs, "stg_wirelane__sessions")).parent_keys
    ancestors = AssetSelection.assets(model_key(defs, "fct_charging_sessions")).upstream().resolve(graph)
    assert SESSIONS in ancestors


@pytest.mark.slow
def test_materialize_every_asset_against_the_simulator(served: Served) -> None:
    defs, instance = build_definitions(), DagsterInstance.ephemeral()
    raw = raw_assets(defs)
    models = defs.resolve_assets_def(model_key(defs, "fct_charging_sessions"))
    counts = served.counts()
    # the automation sensor's first look, before anything was loaded: the marts wait for the loads
    before = evaluate_automation_conditions(defs=defs, instance=instance)
    assert before.total_requested == 0

    freshness = defs.get_asset_checks_def(AssetCheckKey(SESSIONS, CHECK_NAME))

    def check_freshness() -> dict[AssetKey, tuple[bool, str]]:
        result = materialize([raw, freshness], selection=AssetSelection.checks(freshness), instance=instance)
        return {e.asset_key: (e.passed, e.description or "") for e in result.get_asset_check_evaluations()}

    # one run per organization, as the schedules and backfills launch them
    first, second = counts
    for organization in (first, second):
        result = materialize([raw], partition_key=organization, instance=instance)
        assert result.success
        assert {event.asset_key for event in result.get_asset_materialization_events()} == set(raw.keys)
        if organization == first:  # the other organization is late, and the check names it
            passed, description = check_freshness()[SESSIONS]
            assert not passed and second in description and first not in description
    per_org = dict(served.query("select organization_id, count(*) from wirelane_raw.sessions group by 1"))
    assert per_org == {org: c["sessions"] for org, c in counts.items()}
    for table in ("charging_stations", "members", "tariffs", "price_models"):
        loaded = dict(served.query(f"select organization_id, count(*) from wirelane_raw.{table} group by 1"))
        assert loaded == {org: c[table] for org, c in counts.items()}, table
    # each organization keeps its own pipeline state in the warehouse
    names = {row[0] for row in served.query("select pipeline_name from wirelane_raw._dlt_pipeline_state")}
    assert names == {f"wirelane_{org}" for org in counts}

    # the loads make the marts due; the automation sensor would now launch dbt
    due = evaluate_automation_conditions(defs=defs, instance=instance, cursor=before.cursor)
    assert due.get_num_requested(model_key(defs, "fct_charging_sessions")) == 1

    result = materialize([raw, models], selection=[models], instance=instance)
    assert result.success
    built = {event.asset_key for event in result.get_asset_materialization_events()}
    assert built == set(models.keys)
    total = sum(c["sessions"] for c in counts.values())
    assert served.query("select count(*) from marts.fct_charging_sessions") == [(total,)]
    assert served.query("select sum(billable_sessions) > 0 from marts.mart_revenue_monthly") == [(True,)]
    failed_tests = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert failed_tests == []
    assert len(list(runs_folder(wirelane_dbt_project("duckdb")).iterdir())) <= RUNS_KEPT

    # the hourly job's later runs: the organization's pipeline keeps the newest completed state,
    # its own (pipelines/history.py); the other organization's state stays as it was
    for _ in range(2):
        served.api.admin("POST", "advance", {"minutes": 60})
        assert materialize([raw], partition_key=first, selection=[SESSIONS], instance=instance).success
    states = "select pipeline_name, count(*) from wirelane_raw._dlt_pipeline_state group by 1"
    assert dict(served.query(states)) == {f"wirelane_{first}": 1, f"wirelane_{second}": 1}

    # every organization was just loaded
    assert {key: passed for key, (passed, _) in check_freshness().items()} == dict.fromkeys(raw.keys, True)

    # the hourly job: only sessions (dlt's with_resources), only the new ones, one organization
    served.api.admin("POST", "advance", {"minutes": 24 * 60})
    result = defs.resolve_job_def("wirelane_sessions").execute_in_process(partition_key=first, instance=instance)
    assert {event.asset_key for event in result.get_asset_materialization_events()} == {SESSIONS}
    after = served.counts()
    per_org = dict(served.query("select organization_id, count(*) from wirelane_raw.sessions group by 1"))
    assert per_org[first] == after[first]["sessions"] > counts[first]["sessions"]


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    server = start_postgres()
    yield server
    remove(server)


@pytest.mark.slow
def test_organizations_load_in_parallel_into_postgres(served: Served, postgres: PostgresServer) -> None:
    """Both partitions at once, each in its own `dagster asset materialize` process, as a deployment
    runs them: their own pipelines and merge staging keep them apart, and should both first loads
    race to create the tables, the one that loses retries instead of failing."""
    dagster = str(Path(sys.executable).with_name("dagster"))
    counts = served.counts()
    runs = []
    for organization in counts:
        # an instance per process: a fresh SQLite run storage would be initialized twice at once
        home = served.root / f"dagster-{organization}"
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        env = {
            **os.environ,
            "DESTINATION_TYPE": "postgres",
            "DESTINATION__POSTGRES__CREDENTIALS": postgres.dsn,
            "DAGSTER_HOME": str(home),
        }
        command = ["asset", "materialize", "-m", "orchestration.definitions", "--select", "group:wirelane_raw"]
        runs.append(
            subprocess.Popen(
                [dagster, *command, "--partition", organization],
                env=env,
                cwd=served.root,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0] * len(runs), "\n".join(o[-3000:] for o in outputs)
    assert sum("RUN_SUCCESS" in output for output in outputs) == len(runs)
    per_org = dict(
        line.split("|")
        for line in postgres.psql("select organization_id, count(*) from wirelane_raw.sessions group by 1").splitlines()
    )
    assert {org: int(n) for org, n in per_org.items()} == {org: c["sessions"] for org, c in counts.items()}
    schemas = set(postgres.psql("select nspname from pg_namespace where nspname like 'wirelane_raw%'").splitlines())
    assert schemas == {"wirelane_raw", *(f"wirelane_raw_staging_{org.lower().replace('-', '_')}" for org in counts)}
