"""The webhook lag benchmark (`benchmarks/webhook_lag.py`) at a tiny size, as CI runs it: the
report is written, every round has its figures, and the benchmark's own check held (it fails
when a changed session is not in the marts after the drain or the polling run). No timing is
asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_webhook_benchmark_reports_every_round(tmp_path: Path) -> None:
    command = [
        sys.executable, "-m", "benchmarks.webhook_lag", "--sessions", "2000", "--stations", "10",
        "--members", "40", "--rounds", "1", "--minutes", "60", "--results-dir", str(tmp_path),
    ]  # fmt: skip
    env = {**os.environ, "RUNTIME__DLTHUB_TELEMETRY": "false", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    finished = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=280, check=False)
    assert finished.returncode == 0, finished.stderr[-3000:]
    report = json.loads((tmp_path / "webhook_lag.json").read_text())
    rounds = report["rounds"]
    assert [r["round"] for r in rounds] == [1]
    for row in rounds:
        assert row["events"] > 0
        assert row["drain_requests"] <= row["events"], "one detail request per changed record at most"
        assert row["drain_load_s"] is not None and row["polling_load_s"] is not None
        assert row["lag_s"] >= row["drain_s"] > 0
    markdown = (tmp_path / "webhook_lag.md").read_text()
    assert "| median |" in markdown and "benchmarks.webhook_lag" in markdown
