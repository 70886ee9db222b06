"""The pipeline benchmark (`benchmarks/pipeline.py`) at a tiny size, as CI runs it.

It runs the whole harness as a user does (a process, simulators of its own, every variant and
step) at 2,000 sessions into DuckDB only, writing its reports to a temporary folder, and checks
what a report is for: every row is there with its measurements, and every warehouse it loaded
holds exactly the simulator's sessions and members. No timing is asserted: this machine is
shared and the figures are only meaningful at the real sizes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.pipeline import DBT_STEPS, LOAD_STEPS, VARIANTS

# its module-scoped fixture runs the whole thing first: scheduled early (tests/conftest.py)
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    results = tmp_path_factory.mktemp("benchmark")
    command = [
        sys.executable, "-m", "benchmarks.pipeline",
        "--sizes", "2000", "--stations", "10", "--members", "40", "--repeat", "2", "--dbt-repeat", "1",
        "--results-dir", str(results),
    ]  # fmt: skip
    env = {**os.environ, "RUNTIME__DLTHUB_TELEMETRY": "false", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    finished = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=420, check=False)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert (results / "pipeline.md").exists()
    document: dict[str, object] = json.loads((results / "pipeline.json").read_text())
    document["markdown"] = (results / "pipeline.md").read_text()
    return document


def _rows(report: dict[str, object]) -> list[dict[str, object]]:
    runs = report["runs"]
    assert isinstance(runs, list) and [run["sessions"] for run in runs] == [2000]
    rows: list[dict[str, object]] = runs[0]["rows"]
    return rows


def test_every_variant_and_step_is_reported(report: dict[str, object]) -> None:
    rows = _rows(report)
    found = {(row["variant"], row["destination"], row["step"]) for row in rows}
    expected = {(variant, "duckdb", step) for variant in VARIANTS for step in LOAD_STEPS}
    expected |= {("ours", "duckdb", step) for step in DBT_STEPS}
    assert found == expected
    for row in rows:
        assert isinstance(row["seconds"], float | int) and row["seconds"] > 0, row
        assert isinstance(row["peak_rss_mib"], float | int) and row["peak_rss_mib"] > 0, row
        assert "_pending" not in row and isinstance(row["records"], int) and row["records"] > 0, row
        if not str(row["step"]).startswith("dbt"):
            assert isinstance(row["requests"], int) and row["requests"] > 0, row
    markdown = str(report["markdown"])
    assert markdown.count("| full | ") == 3 and "| dbt_incremental | ours |" in markdown
    assert "CPUs" in markdown and "Command: `" in markdown


def test_the_limit_and_ours_repeat_every_step_from_the_same_state(report: dict[str, object]) -> None:
    """Each repetition starts where the step started (warehouse, dlt's state, the limit's
    cursor) and from a simulator that forgot its caches: a repeated incremental load makes the
    same requests as the first, instead of finding nothing new. The peer runs once, and so
    do the dbt builds here (`--dbt-repeat 1`: they are most of this test's time)."""
    for row in _rows(report):
        samples = row["samples_s"]
        once = row["variant"] == "peer" or str(row["step"]).startswith("dbt")  # dbt: `--dbt-repeat 1`
        assert isinstance(samples, list) and len(samples) == (1 if once else 2), row
        assert sorted(samples)[0] == row["seconds"], row  # the lower middle of two
        requests = row["samples_requests"]
        assert isinstance(requests, list) and len(set(requests)) == 1, row
    markdown = str(report["markdown"])
    assert "2 repetition(s) a load step, 1 a dbt build" in markdown and "| repetitions |" in markdown


def test_every_loaded_warehouse_is_complete(report: dict[str, object]) -> None:
    for row in _rows(report):
        if str(row["step"]).startswith("dbt"):
            continue
        assert row["complete"] is True, row
        assert row["loaded"] == row["api"], row


def test_incremental_steps_read_only_the_changed_sessions(report: dict[str, object]) -> None:
    """The sessions-only step pages back to the previous load only: a page or two per
    organization for every variant, not the whole list (the changes are counted apart)."""
    runs = report["runs"]
    assert isinstance(runs, list)
    for changes in runs[0]["changes"].values():
        assert [c["step"] for c in changes] == ["incremental", "incremental_sessions"]
        assert all(c["changed_sessions"] > 0 for c in changes)
    for row in _rows(report):
        if row["step"] == "incremental_sessions":
            by_operation = row["requests_by_operation"]
            assert isinstance(by_operation, dict)
            # the list, and for ours possibly sessions open for a day re-fetched one by one
            assert set(by_operation) <= {"findOrganizationChargingSessions", "findOrganizationChargingSession"}, row
            assert by_operation["findOrganizationChargingSessions"] <= 6, row
