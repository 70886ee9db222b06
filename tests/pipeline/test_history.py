"""dlt's history stays bounded (pipelines/history.py): the warehouse keeps the states of the
newest completed loads only, the working folder their packages, and dlt's restore still finds
the newest state."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

from pipelines import history, load
from sources.wirelane.errors import WirelaneConfigError, WirelaneError
from tests.pipeline.conftest import Workspace
from tests.pipeline.test_load import SESSIONS_OP, assert_sessions_equal
from tests.pipeline.test_postgres import query
from tests.postgres_server import PostgresServer

STATE_TABLE = "wirelane_raw._dlt_pipeline_state"
STATE_ROWS = f"select count(*) from {STATE_TABLE} where pipeline_name = 'wirelane'"


def _loaded_packages(root: Path) -> list[str]:
    folder = root / "dlt" / "pipelines" / "wirelane" / "load" / "loaded"
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


def test_each_run_keeps_its_own_state_only_and_a_fresh_container_restores_it(workspace: Workspace) -> None:
    load.run("duckdb", resources=["sessions"])
    for _ in range(3):
        workspace.api.admin("POST", "advance", {"minutes": 60})
        summary = load.run("duckdb", resources=["sessions"])
        # the newest completed load's state: this run's own; and only its package
        assert workspace.query(STATE_ROWS) == [(1,)]
        assert workspace.query(f"select _dlt_load_id from {STATE_TABLE}") == [(summary.load_id,)]
        assert _loaded_packages(workspace.root) == [summary.load_id]

    # a fresh container: the state comes back from the warehouse, so the run reads only the change
    shutil.rmtree(workspace.root / "dlt")
    workspace.api.admin("POST", "advance", {"minutes": 60})
    before = workspace.requests(SESSIONS_OP)
    summary = load.run("duckdb", resources=["sessions"])
    assert workspace.requests(SESSIONS_OP) - before <= 2 * len(workspace.api.organizations)
    assert_sessions_equal(workspace)
    assert workspace.query(f"select _dlt_load_id from {STATE_TABLE}") == [(summary.load_id,)]


def test_a_restore_that_fails_on_a_long_history_prunes_it_and_runs(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A warehouse whose history grew long (an earlier version kept every state): dlt's restore
    sorts them all and runs out of DuckDB's memory; the run prunes and restores again."""
    monkeypatch.setenv("SOURCES__WIRELANE__STATE_HISTORY", "0")
    first = load.run("duckdb", resources=["sessions"])
    with duckdb.connect(str(workspace.duckdb_file)) as con:  # 30 older states of 1.2 MB each
        for n in range(30):
            older = f"{float(first.load_id) - 1000 + n:.6f}"
            con.execute(
                f"INSERT INTO {STATE_TABLE} SELECT version, engine_version, pipeline_name, ?, created_at, "
                f"version_hash, ?, _dlt_id || ? FROM {STATE_TABLE} WHERE _dlt_load_id = ?",
                [os.urandom(STATE_BYTES).hex(), older, str(n), first.load_id],
            )
            con.execute(
                "INSERT INTO wirelane_raw._dlt_loads SELECT ?, schema_name, status, inserted_at, schema_version_hash "
                "FROM wirelane_raw._dlt_loads WHERE load_id = ?",
                [older, first.load_id],
            )
    monkeypatch.setenv("DESTINATION__DUCKDB__MEMORY_LIMIT", "24MB")
    workspace.api.admin("POST", "advance", {"minutes": 60})
    with pytest.raises(WirelaneError, match="Out of Memory"):
        load.run("duckdb", resources=["sessions"])  # as dlt leaves the history

    monkeypatch.setenv("SOURCES__WIRELANE__STATE_HISTORY", "1")
    summary = load.run("duckdb", resources=["sessions"])
    assert workspace.query(f"select _dlt_load_id from {STATE_TABLE}") == [(summary.load_id,)]
    assert_sessions_equal(workspace)


def test_state_history_zero_keeps_every_state(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__WIRELANE__STATE_HISTORY", "0")
    load.run("duckdb", resources=["sessions"])
    for _ in range(2):
        workspace.api.admin("POST", "advance", {"minutes": 60})
        load.run("duckdb", resources=["sessions"])
    assert workspace.query(STATE_ROWS) == [(3,)]
    assert len(_loaded_packages(workspace.root)) == 3


@pytest.mark.parametrize("value", ["-1", "two", "1.5"])
def test_a_bad_state_history_is_one_line_that_says_what_to_set(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__WIRELANE__STATE_HISTORY", value)
    with pytest.raises(
        WirelaneConfigError, match=r"^sources\.wirelane\.state_history must be a whole number"
    ) as raised:
        history.configured_state_history()
    assert "\n" not in str(raised.value)


# -- the rules, on a pipeline of our own with a big state ------------------------------------
STATE_BYTES = 600_000  # 1.2 MB of state a load
RUNS = 15  # 18 MB of states
RESTORE_LIMIT = "10MB"  # more than three states need, less than all


@dlt.resource(name="items", write_disposition="append")
def _items(run: int) -> Iterator[dict[str, int]]:
    # a state as big as the fingerprints make it (random: nothing compresses it away)
    dlt.current.resource_state()["blob"] = os.urandom(STATE_BYTES).hex()
    yield {"run": run}


def _history_pipeline(name: str, root: Path, destination: Any) -> dlt.Pipeline:
    return dlt.pipeline(name, destination=destination, dataset_name="history", pipelines_dir=str(root / "dlt"))


STATES = "select pipeline_name, _dlt_load_id from history._dlt_pipeline_state"


def _duckdb_states(file: Path) -> list[tuple[str, str]]:
    with duckdb.connect(str(file), read_only=True) as con:
        return sorted(con.execute(STATES).fetchall())


def _restore_query(file: Path, memory_limit: str) -> int:
    """dlt's own query for the newest state (JobClientBase.get_stored_state), in DuckDB's limit."""
    with duckdb.connect(str(file), config={"memory_limit": memory_limit, "threads": 1}) as con:
        row = con.execute(
            "SELECT version, state FROM history._dlt_pipeline_state AS s JOIN history._dlt_loads AS l "
            "ON l.load_id = s._dlt_load_id WHERE pipeline_name = 'ours' AND l.status = 0 ORDER BY load_id DESC LIMIT 1"
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_duckdb_keeps_the_newest_states_and_frees_what_restore_reads(tmp_path: Path) -> None:
    file = tmp_path / "warehouse.duckdb"
    destination = dlt.destinations.duckdb(
        credentials=DuckDbCredentials(str(file), global_config={"memory_limit": "64MB"})
    )
    ours = _history_pipeline("ours", tmp_path, destination)
    other = _history_pipeline("other", tmp_path, destination)
    other.run(_items(0))
    for run in range(RUNS):
        ours.run(_items(run))
    with pytest.raises(duckdb.OutOfMemoryException):
        _restore_query(file, RESTORE_LIMIT)  # dlt's restore sorts every state it finds

    with duckdb.connect(str(file)) as con:  # a load that never completed, newer than all others
        con.execute(
            "INSERT INTO history._dlt_pipeline_state SELECT version + 1, engine_version, pipeline_name, state, "
            "created_at, version_hash, '9999999999.0', _dlt_id || 'x' FROM history._dlt_pipeline_state "
            "WHERE pipeline_name = 'ours' ORDER BY version DESC LIMIT 1"
        )
    before = _duckdb_states(file)
    completed = sorted(load_id for name, load_id in before if name == "ours" and load_id != "9999999999.0")

    pruned = history.prune(ours, keep=3)

    after = _duckdb_states(file)
    assert pruned == history.Pruned(states=RUNS - 3, packages=RUNS - 3)
    assert after == sorted(
        [("other", load_id) for name, load_id in before if name == "other"]
        + [("ours", load_id) for load_id in completed[-3:]]
        + [("ours", "9999999999.0")]
    )
    assert _restore_query(file, RESTORE_LIMIT) == RUNS  # the newest completed state, in a fraction of the memory
    assert len(ours.list_completed_load_packages()) == 3
    assert history.prune(ours, keep=3) == history.Pruned(0, 0)  # nothing more to do
    assert history.prune(ours, keep=0) == history.Pruned(0, 0)


def test_postgres_deletes_the_superseded_states(tmp_path: Path, postgres: PostgresServer) -> None:
    def states() -> list[tuple[str, str]]:
        return sorted(query(postgres, STATES))

    query(postgres, "drop schema if exists history cascade; drop schema if exists history_staging cascade; select 1")
    destination = dlt.destinations.postgres(credentials=postgres.dsn)
    ours = _history_pipeline("ours", tmp_path, destination)
    other = _history_pipeline("other", tmp_path, destination)
    for run in range(4):
        other.run(_items(run))
        ours.run(_items(run))
    newest = max(load_id for name, load_id in states() if name == "ours")

    assert history.prune(ours, keep=1) == history.Pruned(states=3, packages=3)

    assert [row for row in states() if row[0] == "ours"] == [("ours", newest)]
    assert len([row for row in states() if row[0] == "other"]) == 4
