"""The dbt process `wirelane-sync transform` starts before it has read its settings
(pipelines/dbt_process.py): dbt reads the warehouse from the orders it is sent, not from the
environment it started with, and a process never sent orders ends at once without running dbt."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from pipelines.dbt_process import DbtProcess
from pipelines.transform import PROJECT_DIR

DEBUG = ["debug", "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR), "--target", "duckdb"]


def test_dbt_reads_the_warehouse_from_its_orders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the profile's default (wirelane.duckdb here) must not be what dbt opens
    monkeypatch.delenv("WIRELANE_DUCKDB_PATH", raising=False)
    warehouse = tmp_path / "elsewhere" / "chosen.duckdb"
    warehouse.parent.mkdir()
    with DbtProcess() as dbt:
        finished = dbt.run({"WIRELANE_DUCKDB_PATH": str(warehouse)}, DEBUG)
    assert finished.returncode == 0, finished.stdout
    assert f"path: {warehouse}" in finished.stdout
    assert warehouse.exists() and not (tmp_path / "wirelane.duckdb").exists()
    assert "WIRELANE_DUCKDB_PATH" not in os.environ


def test_a_process_never_given_orders_is_ended_without_running_dbt() -> None:
    with DbtProcess() as dbt:
        started = dbt
    assert started.returncode == -signal.SIGKILL  # killed, not left to finish its imports
    with DbtProcess() as dbt:
        dbt.run({}, ["--version"])
        with pytest.raises(RuntimeError, match="one dbt command"):
            dbt.run({}, ["--version"])


def test_a_stopped_command_ends_its_dbt(monkeypatch: pytest.MonkeyPatch) -> None:
    """An interrupt (Ctrl-C, or SIGTERM, which the command line turns into one) while the
    command waits for dbt ends dbt too, as `subprocess.run` would, instead of waiting for it."""
    dbt = DbtProcess()
    process = dbt._process

    def interrupted_wait(orders: str) -> tuple[str, str]:
        assert process.stdin is not None
        process.stdin.close()  # orders sent (none here: left alone, dbt would end after its imports)
        raise KeyboardInterrupt

    monkeypatch.setattr(process, "communicate", interrupted_wait)
    with pytest.raises(KeyboardInterrupt):
        _run_to_the_end(dbt)
    assert dbt.returncode == -signal.SIGKILL


def _run_to_the_end(dbt: DbtProcess) -> None:
    with dbt:
        dbt.run({}, ["--version"])
