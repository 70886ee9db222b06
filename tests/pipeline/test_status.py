"""`wirelane-sync status`: what the warehouse holds, read without touching it, and the last failure."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import psycopg2
import pytest
import yaml

from pipelines.transform import PROJECT_DIR
from tests.pipeline.conftest import Workspace
from tests.postgres_server import PostgresServer

CLI = [sys.executable, "-m", "pipelines.cli"]
ROOT_TABLES = (
    "sessions", "members", "member_payment_methods", "member_subscriptions", "charging_stations", "station_cases",
    "station_connection_chains", "station_maintenance_windows", "tariffs", "price_models",
)  # fmt: skip
WRONG_PASSWORD = {
    "SOURCES__WIRELANE__CREDENTIALS__CLIENT_ID": "demo-client",
    "SOURCES__WIRELANE__CREDENTIALS__CLIENT_SECRET": "demo-secret",
    "SOURCES__WIRELANE__CREDENTIALS__USERNAME": "analyst@demo.test",
    "SOURCES__WIRELANE__CREDENTIALS__PASSWORD": "not-the-Password-42",
}


def cli(ws: Workspace, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ws.root,
        env={**os.environ, **(env or {})},
    )


def status(ws: Workspace, *args: str) -> dict[str, Any]:
    result = cli(ws, "status", "--json", *args)
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def digest(ws: Workspace) -> str:
    return hashlib.sha256(ws.duckdb_file.read_bytes()).hexdigest()


def dbt_thresholds() -> tuple[float, float]:
    """warn_after and error_after of `_dlt_loads` in the dbt project, in hours (they are in hours)."""
    sources = yaml.safe_load((PROJECT_DIR / "models/staging/_wirelane__sources.yml").read_text())["sources"]
    table = next(t for s in sources for t in s["tables"] if t["name"] == "_dlt_loads")
    freshness = table["freshness"]
    assert freshness["warn_after"]["period"] == freshness["error_after"]["period"] == "hour"
    return float(freshness["warn_after"]["count"]), float(freshness["error_after"]["count"])


def test_nothing_loaded_yet_creates_nothing(workspace: Workspace) -> None:
    document = status(workspace)
    assert document["warehouse_state"] == "missing"
    assert document["freshness"]["status"] == "no_loads"
    assert document["resources"] == [] and document["last_failure"] is None
    assert not workspace.duckdb_file.exists(), "status must not create the warehouse"
    text = cli(workspace, "status")
    assert text.returncode == 0 and "no DuckDB file" in text.stdout


@pytest.fixture
def loaded(workspace: Workspace) -> Workspace:
    result = cli(workspace, "run", "--no-transform")
    assert result.returncode == 0, result.stderr
    return workspace


def test_status_reports_the_warehouse_as_it_is(loaded: Workspace) -> None:
    before = digest(loaded)
    document = status(loaded)
    assert digest(loaded) == before, "status only reads"
    assert document["warehouse_state"] == "readable" and document["warehouse"] == str(loaded.duckdb_file)
    resources = {r["name"]: r for r in document["resources"]}
    assert set(resources) == set(ROOT_TABLES)
    load_id, loaded_at = loaded.query(
        "select load_id, inserted_at from wirelane_raw._dlt_loads where status = 0 order by inserted_at desc limit 1"
    )[0]
    assert document["last_load"]["load_id"] == load_id
    assert document["last_load"]["loaded_at"] == loaded_at.astimezone(UTC).isoformat(timespec="seconds")
    for table in ROOT_TABLES:
        count = loaded.query(f"select count(*) from wirelane_raw.{table}")[0][0]
        assert resources[table]["rows"] == count, table
        assert resources[table]["last_load_id"] == load_id and resources[table]["last_load_rows"] == count
        assert document["last_load"]["rows"][table] == count
    # the sessions cursor of each organization is the newest update_date loaded for it
    newest = dict(loaded.query("select organization_id, max(update_date) from wirelane_raw.sessions group by 1"))
    cursor = resources["sessions"]["cursor"]
    assert {org: datetime.fromisoformat(value) for org, value in cursor.items()} == newest
    assert all(resources[t]["cursor"] is None for t in ROOT_TABLES if t != "sessions")
    assert resources["members"]["deleted"] == 0
    warn, error = dbt_thresholds()
    assert document["freshness"] == {
        "status": "pass",
        "loaded_at": document["last_load"]["loaded_at"],
        "age_hours": document["freshness"]["age_hours"],
        "warn_after_hours": warn,
        "error_after_hours": error,
    }
    assert 0 <= document["freshness"]["age_hours"] < 0.5
    success = document["last_success"]
    assert success["command"] == "run" and success["load_id"] == load_id
    assert success["rows"]["sessions"] == resources["sessions"]["rows"]
    assert document["last_failure"] is None

    text = cli(loaded, "status")
    assert text.returncode == 0
    lines = text.stdout.splitlines()
    assert lines[0] == f"warehouse     duckdb {loaded.duckdb_file} (dataset wirelane_raw)"
    assert any(line.startswith(f"last load     {load_id} at ") for line in lines)
    assert "freshness     pass" in text.stdout and "last failure  none recorded" in text.stdout
    for org, value in cursor.items():
        assert f"{org} {value}" in text.stdout
    header = next(line for line in lines if line.startswith("resource "))
    assert header.split()[:3] == ["resource", "rows", "deleted"] and header.endswith("cursor")


def age_loads(ws: Workspace, hours: float) -> None:
    """Moves every load `hours` into the past, as if no run had happened since."""
    with duckdb.connect(str(ws.duckdb_file)) as con:
        con.execute(f"update wirelane_raw._dlt_loads set inserted_at = inserted_at - interval '{hours * 60} minutes'")


def test_freshness_follows_dbts_thresholds(loaded: Workspace) -> None:
    warn, error = dbt_thresholds()
    age_loads(loaded, warn + 0.5)
    assert status(loaded)["freshness"]["status"] == "warn"
    age_loads(loaded, error - warn)
    document = status(loaded)
    assert document["freshness"]["status"] == "error"
    assert error + 0.4 < document["freshness"]["age_hours"] < error + 0.6


def test_a_failed_run_is_recorded_without_its_secret(loaded: Workspace) -> None:
    before = status(loaded)
    failed = cli(loaded, "run", "-r", "members", env=WRONG_PASSWORD)
    assert failed.returncode == 1
    document = status(loaded)
    failure = document["last_failure"]
    assert failure["command"] == "run" and failure["exit_code"] == 1
    assert "invalid_grant" in failure["reason"] and failure["reason"] in failed.stderr
    assert datetime.fromisoformat(failure["failed_at"]) >= datetime.fromisoformat(before["checked_at"])
    assert document["last_load"] == before["last_load"] and document["resources"] == before["resources"]
    runs_file = loaded.root / "dlt" / "wirelane-sync" / "runs.json"
    assert "not-the-Password-42" not in runs_file.read_text()
    text = cli(loaded, "status")
    assert "last failure  run at " in text.stdout and "exit 1: the token endpoint refused" in text.stdout
    # a later success does not erase the failure: both are there, with their times
    assert cli(loaded, "run", "-r", "members", "--no-transform").returncode == 0
    after = status(loaded)
    assert after["last_failure"] == failure
    assert after["last_success"]["finished_at"] >= failure["failed_at"]


@pytest.fixture
def writer(loaded: Workspace) -> Iterator[duckdb.DuckDBPyConnection]:
    """Another process's view of a load in progress: the DuckDB file open for writing."""
    con = duckdb.connect(str(loaded.duckdb_file))
    yield con
    con.close()


def test_status_next_to_a_running_load(loaded: Workspace, writer: duckdb.DuckDBPyConnection) -> None:
    document = status(loaded)
    assert document["warehouse_state"] == "busy" and "open for writing" in document["problem"]
    # the local working folder still knows the cursors, and the run record the last run
    sessions = next(r for r in document["resources"] if r["name"] == "sessions")
    assert set(sessions["cursor"]) == {"DEMOTENANT", "BORNES-ATLANTIQUE"}
    assert document["state_from"] == "local working folder"
    assert document["last_success"]["command"] == "run"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_status_on_postgres(workspace: Workspace, postgres: PostgresServer) -> None:
    with psycopg2.connect(postgres.dsn) as con, con.cursor() as cur:
        cur.execute("drop schema if exists wirelane_raw cascade; drop schema if exists wirelane_raw_staging cascade")
    env = {"DESTINATION__POSTGRES__CREDENTIALS": postgres.dsn}
    assert cli(workspace, "run", "-d", "postgres", "-r", "sessions,members", "--no-transform", env=env).returncode == 0
    result = cli(workspace, "status", "-d", "postgres", "--json", env=env)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["warehouse_state"] == "readable" and "://" in document["warehouse"]
    assert postgres.password not in result.stdout + result.stderr
    with psycopg2.connect(postgres.dsn) as con, con.cursor() as cur:
        cur.execute("select organization_id, max(update_date) from wirelane_raw.sessions group by 1")
        newest = dict(cur.fetchall())
        cur.execute("select count(*) from wirelane_raw.members")
        members = cur.fetchone()[0]  # type: ignore[index]
    resources = {r["name"]: r for r in document["resources"]}
    assert resources["members"]["rows"] == members
    assert {k: datetime.fromisoformat(v) for k, v in resources["sessions"]["cursor"].items()} == newest
    assert document["freshness"]["status"] == "pass"

    unreachable = {"DESTINATION__POSTGRES__CREDENTIALS": f"postgresql://loader:pw-9f3k@127.0.0.1:{free_port()}/w"}
    down = cli(workspace, "status", "-d", "postgres", "--json", env=unreachable)
    assert down.returncode == 1
    assert json.loads(down.stdout)["warehouse_state"] == "error", "the document is still printed for monitors"
    lines = down.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot connect to postgres://127.0.0.1:")
    assert "pw-9f3k" not in down.stdout + down.stderr


def test_age_is_measured_from_the_newest_completed_load(loaded: Workspace) -> None:
    """A failed or half-finished load (status != 0) does not make stale data look fresh."""
    age_loads(loaded, 30)
    with duckdb.connect(str(loaded.duckdb_file)) as con:
        con.execute(
            "insert into wirelane_raw._dlt_loads (load_id, schema_name, status, inserted_at, schema_version_hash) "
            "values ('9999999999.0', 'wirelane', 1, ?, 'x')",
            [datetime.now(UTC) - timedelta(minutes=1)],
        )
    document = status(loaded)
    assert document["freshness"]["status"] == "error" and document["freshness"]["age_hours"] > 29
    assert document["last_load"]["load_id"] != "9999999999.0"
