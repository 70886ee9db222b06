"""The DuckDB memory benchmark (`benchmarks/duckdb_memory.py`) at a tiny size, as CI runs it:
both steps are measured at both sizes in fresh processes, the figures hold together, and the
report says what produced it. No timing and no memory figure is asserted beyond consistency."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks.duckdb_memory import STEPS, per_row_growth, source_columns

REPO = Path(__file__).resolve().parents[1]
SIZES = (5_000, 15_000)


def test_the_duckdb_memory_benchmark_measures_both_steps(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "benchmarks.duckdb_memory", "--rows", *map(str, SIZES)]
    command += ["--results-dir", str(tmp_path)]
    finished = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert finished.returncode == 0, finished.stderr[-3000:]

    report = json.loads((tmp_path / "duckdb_memory.json").read_text())
    measured = [(m["rows"], m["step"]) for m in report["measurements"]]
    assert measured == [(rows, step) for rows in SIZES for step in STEPS]
    for m in report["measurements"]:
        assert m["rss_before_mib"] > 0 and m["peak_rss_mib"] >= m["rss_before_mib"]
        assert 0 <= m["pool_at_peak_mib"] <= 160 and m["pool_after_mib"] <= 8
    assert set(report["per_row"]) == set(STEPS)
    assert report["meta"]["duckdb"] and report["meta"]["code"]
    markdown = (tmp_path / "duckdb_memory.md").read_text()
    assert "| 15,000 | append |" in markdown and "benchmarks.duckdb_memory --rows 5000 15000" in markdown


def test_the_source_table_has_the_sessions_tables_width() -> None:
    columns = source_columns()
    assert len(columns) == 77
    assert len({column.rsplit(" AS ", 1)[1] for column in columns}) == 77


def test_growth_per_row_is_between_the_smallest_and_largest_size() -> None:
    def row(rows: int, step: str, mib: float) -> dict[str, object]:
        figures = dict.fromkeys(("peak_rss_mib", "outside_pool_at_peak_mib", "held_outside_pool_mib"), mib)
        return {"rows": rows, "step": step, **figures, "glibc_live_growth_mib": None}

    growth = per_row_growth([row(3_000_000, "append", 30.0), row(1_000_000, "append", 10.0), row(1, "scan", 1.0)])
    assert set(growth) == {"append"}  # the scan was measured at one size only
    assert growth["append"]["held_outside_pool_mib"] == round(20 * 2**20 / 2_000_000, 2)
    assert growth["append"]["glibc_live_growth_mib"] is None
