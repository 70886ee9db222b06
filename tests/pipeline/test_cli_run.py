"""`wirelane-sync run` and `backfill` as an operator's scheduler calls them: a process, exit codes."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.pipeline.conftest import Workspace

CLI = [sys.executable, "-m", "pipelines.cli"]


def run_cli(ws: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=300, check=False, cwd=ws.root, env=dict(os.environ)
    )


def test_run_loads_and_summarises(workspace: Workspace) -> None:
    partial = run_cli(workspace, "run", "--resources", "sessions,members")
    assert partial.returncode == 0, partial.stderr
    assert partial.stdout.startswith("loaded ")
    assert "sessions" in partial.stdout and "members" in partial.stdout
    assert "marts not built: no charging_stations" in partial.stdout
    result = run_cli(workspace, "run")
    assert result.returncode == 0, result.stderr
    assert "dbt build:" in result.stdout and "error" not in result.stdout.split("dbt build:")[1]
    assert workspace.query("select count(*) from marts.fct_charging_sessions")[0][0] > 0
    again = run_cli(workspace, "run", "-r", "sessions", "--no-transform")
    assert again.returncode == 0 and "loaded 0 rows" in again.stdout and "dbt build" not in again.stdout


def test_backfill_and_bad_input(workspace: Workspace) -> None:
    assert run_cli(workspace, "backfill", "--start", "2026-10-20", "--end", "2026-10-22").returncode == 0
    for args, message in (
        (("run", "-r", "nope"), "unknown resource nope"),
        (("run", "-o", "../x"), "does not match the reference's pattern"),
        (("run", "-d", "oracle"), "unknown; use duckdb or postgres"),
        (("backfill", "--start", "2026-10-22", "--end", "2026-10-20"), "must be before"),
        (("backfill", "--start", "yesterday", "--end", "2026-10-20"), "bad backfill date"),
    ):
        result = run_cli(workspace, *args)
        assert result.returncode == 2, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (args, result.stderr)


def test_wrong_password_is_exit_1_and_never_echoed(workspace: Workspace) -> None:
    env = {
        "SOURCES__WIRELANE__CREDENTIALS__CLIENT_ID": "demo-client",
        "SOURCES__WIRELANE__CREDENTIALS__CLIENT_SECRET": "demo-secret",
        "SOURCES__WIRELANE__CREDENTIALS__USERNAME": "analyst@demo.test",
        "SOURCES__WIRELANE__CREDENTIALS__PASSWORD": "s3cret-wrong-Password",
    }
    result = subprocess.run(
        [*CLI, "run", "-r", "members"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=workspace.root,
        env={**os.environ, **env},
    )
    assert result.returncode == 1
    assert "invalid_grant" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "s3cret-wrong-Password" not in result.stdout + result.stderr
