"""The history benchmark (`benchmarks/state_history.py`) at a tiny size, as CI runs it: both
variants run every round, the pruned warehouse holds one state after each run while the kept
one holds one more per run, and the report says so. No timing is asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROUNDS = 3


def test_the_history_benchmark_reports_both_variants(tmp_path: Path) -> None:
    command = [
        sys.executable, "-m", "benchmarks.state_history",
        "--sessions", "2000", "--stations", "10", "--members", "40", "--rounds", str(ROUNDS),
        "--results-dir", str(tmp_path),
    ]  # fmt: skip
    env = {**os.environ, "RUNTIME__DLTHUB_TELEMETRY": "false"}
    finished = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=420, check=False)
    assert finished.returncode == 0, finished.stderr[-3000:]

    report = json.loads((tmp_path / "state_history.json").read_text())
    pruned, kept = report["runs"]["pruned"], report["runs"]["kept"]
    assert [run["round"] for run in pruned] == [run["round"] for run in kept] == list(range(1, ROUNDS + 1))
    for run in pruned + kept:
        assert run["returncode"] == 0, run
        assert run["seconds"] > 0 and run["peak_rss_mib"] > 0 and run["working_folder_mb"] > 0
    assert [run["state_rows"] for run in pruned] == [1] * ROUNDS
    assert [run["state_rows"] for run in kept] == list(range(2, ROUNDS + 2))
    markdown = (tmp_path / "state_history.md").read_text()
    assert "| 1 | " in markdown and f"| {ROUNDS} | " in markdown
    assert "benchmarks.state_history --sessions 2000" in markdown
