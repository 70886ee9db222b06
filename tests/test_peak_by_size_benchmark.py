"""The peak-by-size benchmark (`benchmarks/peak_by_size.py`) at a tiny size, as CI runs it: every
setting loads every size completely, slices commit a load each, and the report gives the growth
and the time against no slices. No timing and no memory figure is asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.peak_by_size import against_no_slices, growth

REPO = Path(__file__).resolve().parents[1]
SIZES, SLICES = (1200, 2400), (500, 0)


def test_the_peak_by_size_benchmark_loads_every_size_with_and_without_slices(tmp_path: Path) -> None:
    command = [
        sys.executable, "-m", "benchmarks.peak_by_size",
        "--sizes", *map(str, SIZES), "--slices", *map(str, SLICES), "--stations", "10", "--members", "40",
        "--results-dir", str(tmp_path),
    ]  # fmt: skip
    env = {**os.environ, "RUNTIME__DLTHUB_TELEMETRY": "false"}
    finished = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert finished.returncode == 0, finished.stderr[-3000:]

    report = json.loads((tmp_path / "peak_by_size.json").read_text())
    loads = report["loads"]
    assert [(load["sessions_in_api"], load["sessions_per_slice"]) for load in loads] == [
        (size, per_slice) for size in SIZES for per_slice in SLICES
    ]
    for load in loads:
        assert load["complete"] and load["sessions"] == load["sessions_in_api"], load
        assert load["seconds"] > 0 and load["peak_rss_mib"] > 0
        # slices of 500 sessions, rounded up to whole pages of 1000 (the project's page size)
        assert load["loads"] == 1 if load["sessions_per_slice"] == 0 else load["loads"] >= 2
    assert set(report["growth"]) == {"500", "0"} and set(report["against_no_slices"]) == {"1200", "2400"}
    markdown = (tmp_path / "peak_by_size.md").read_text()
    assert "| 2,400 | slices of 500 | 1 |" in markdown and "| 2,400 | no slices | 1 |" in markdown
    assert "benchmarks.peak_by_size --sizes 1200 2400" in markdown


def _load(size: int, per_slice: int, seconds: float, peak: float) -> dict[str, Any]:
    return {"sessions_in_api": size, "sessions_per_slice": per_slice, "seconds": seconds, "peak_rss_mib": peak}


def test_growth_and_times_are_of_medians_measured_in_one_run() -> None:
    loads = [
        _load(1_000_000, 0, 100.0, 360.0),
        _load(1_000_000, 0, 120.0, 364.0),
        _load(1_000_000, 0, 110.0, 362.0),
        _load(3_000_000, 0, 330.0, 386.0),
        _load(3_000_000, 1_000_000, 336.6, 362.0),
        _load(1_000_000, 1_000_000, 110.0, 362.0),
    ]
    grown = growth(loads)
    assert grown["0"] == {"from": 1_000_000, "to": 3_000_000, "mib": 24.0, "bytes_per_session": 12.58}
    assert grown["1000000"]["mib"] == 0.0
    assert against_no_slices(loads) == {"1000000": {"1000000": 1.0}, "3000000": {"1000000": 1.02}}
