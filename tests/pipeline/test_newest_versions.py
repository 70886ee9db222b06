"""A session staged twice in one load is merged in its newest version by the pipeline's filter
(pipelines/newest_versions.py) instead of dlt's dedup, on DuckDB and on Postgres."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dlt
import pytest

from pipelines import load
from pipelines.newest_versions import merge_newest_sessions
from sources.wirelane.source import SESSION_COLUMNS
from tests.pipeline.conftest import Workspace
from tests.pipeline.test_load import assert_sessions_equal
from tests.postgres_server import PostgresServer

Row = dict[str, Any]
FIRST = [
    {"session_id": "s1", "update_date": "2026-12-01T10:00:00+00:00", "kwh": 1},
    {"session_id": "s2", "update_date": "2026-12-01T10:00:00+00:00", "kwh": 1},
    {"session_id": "s4", "update_date": "2026-12-01T10:00:00+00:00", "kwh": 1},
]
# one load: s1 in three versions out of order, s2 twice with the same update_date, s3 new
SECOND = [
    {"session_id": "s1", "update_date": "2026-12-01T11:00:00+00:00", "kwh": 2},
    {"session_id": "s1", "update_date": "2026-12-01T13:00:00+00:00", "kwh": 4},
    {"session_id": "s2", "update_date": "2026-12-01T12:00:00+00:00", "kwh": 5},
    {"session_id": "s1", "update_date": "2026-12-01T12:00:00+00:00", "kwh": 3},
    {"session_id": "s2", "update_date": "2026-12-01T12:00:00+00:00", "kwh": 6},
    {"session_id": "s3", "update_date": "2026-12-01T12:00:00+00:00", "kwh": 7},
]


def sessions_source(rows: list[Row]) -> Any:
    @dlt.resource(name="sessions", primary_key="session_id", write_disposition="merge", columns=SESSION_COLUMNS)
    def sessions() -> Iterator[Row]:
        yield from rows

    @dlt.source(name="wirelane")
    def source() -> Any:
        return sessions

    return source()


def load_twice(pipeline: dlt.Pipeline, filtered: bool) -> list[tuple[Any, ...]]:
    for rows in (FIRST, SECOND):
        source = sessions_source(rows)
        if filtered:
            merge_newest_sessions(source, pipeline)
        pipeline.run(source)
    with pipeline.sql_client() as client:
        table = client.make_qualified_table_name("sessions")
        loaded = client.execute_sql(f"select session_id, kwh from {table}") or []
        return sorted(tuple(row) for row in loaded)


def assert_newest_versions(pipeline: dlt.Pipeline, control: dlt.Pipeline, caplog: pytest.LogCaptureFixture) -> None:
    # the first load as an earlier version of the pipeline left it: dlt's dedup, sorted
    pipeline.run(sessions_source(FIRST))
    assert pipeline.default_schema.tables["sessions"]["columns"]["update_date"].get("dedup_sort") == "desc"
    with caplog.at_level(logging.WARNING):
        loaded = load_twice(pipeline, filtered=True)
    assert pipeline.default_schema.tables["sessions"].get("x-stage-data-deduplicated") is True, "dlt's dedup is off"
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING], "dlt warns of nothing"
    ids = [session_id for session_id, _ in loaded]
    assert sorted(ids) == ["s1", "s2", "s3", "s4"], "one row per session, untouched ones kept"
    kwh = dict(loaded)
    assert (kwh["s1"], kwh["s3"], kwh["s4"]) == (4, 7, 1), "the newest version of s1 wins"
    assert kwh["s2"] in (5, 6), "one of the two equally new versions"
    # dlt's own dedup (the source on its own) agrees but for the tie
    expected = dict(load_twice(control, filtered=False))
    assert {k: v for k, v in kwh.items() if k != "s2"} == {k: v for k, v in expected.items() if k != "s2"}


def test_the_newest_version_wins_on_duckdb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt"))

    def pipeline(name: str) -> dlt.Pipeline:
        target = dlt.destinations.duckdb(str(tmp_path / f"{name}.duckdb"))
        return dlt.pipeline(pipeline_name=name, destination=target, dataset_name="wirelane_raw")

    assert_newest_versions(pipeline("filtered"), pipeline("control"), caplog)


def test_the_newest_version_wins_on_postgres(
    tmp_path: Path, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt"))
    suffix = uuid.uuid4().hex[:8]

    def pipeline(name: str) -> dlt.Pipeline:
        # a staging layout of its own, as Dagster's loads have: the filter must name it
        target = dlt.destinations.postgres(postgres.dsn, staging_dataset_name_layout=f"%s_stage_{name}")
        return dlt.pipeline(pipeline_name=name, destination=target, dataset_name=f"newest_{name}_{suffix}")

    assert_newest_versions(pipeline("filtered"), pipeline("control"), caplog)


def test_sessions_read_twice_while_pages_shift_are_loaded_once(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real scan: rows inserted between pages push others back onto the next page."""
    monkeypatch.setenv("SOURCES__WIRELANE__PAGE_SIZE", "50")
    workspace.api.admin("POST", "faults", {"page_shift": {"every": 1, "updates": 0, "inserts": 5}})
    summary = load.run("duckdb", resources=["sessions"])
    workspace.api.admin("POST", "faults", {"profile": "none"})
    [(rows, distinct)] = workspace.query("select count(*), count(distinct session_id) from wirelane_raw.sessions")
    assert summary.rows["sessions"] > distinct, "the scan read some sessions twice"
    assert rows == distinct, "each is loaded once"
    load.run("duckdb", resources=["sessions"])  # the inserted ones that slipped in front
    assert_sessions_equal(workspace)
