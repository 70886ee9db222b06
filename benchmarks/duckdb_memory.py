"""What DuckDB holds outside its memory limit for the rows one process appends: the part of the
load's peak that still grows with an account's size.

The load gives DuckDB a fixed pool (`memory_limit`, 160MB on two cores; pipelines/load_step.py),
which a load of about 300,000 sessions already fills. What still grows with the size is outside
that pool. This benchmark measures DuckDB alone, with nothing of dlt or the pipeline in the
process, on a table of the sessions table's shape (77 columns: unique digests, repeated ids,
labels, decimals, timestamps, integers, flags; some of them mostly null) that DuckDB generates
from `range(N)` in a process of its own. Each step then runs in a fresh process, with the
load's settings (the limit, a thread per core, `preserve_insertion_order = false`):

    append        `INSERT INTO target SELECT * FROM source`: N rows appended in one statement, as
                  dlt's copy into the staging table and its merge into the final table each do
    append twice  the N rows appended, then appended again from there into a third table: what
                  a first load does with each session (staged, then merged)
    scan          every column of the same N rows read (`max(COLUMNS(*))`), nothing written

Per step: RSS before, its peak (sampled every 20 ms) and DuckDB's own account of its pool
(`duckdb_memory()`) at that peak; then, after a CHECKPOINT and the pool emptied (the limit
lowered to 8MB), what the process still holds outside the pool, and how much of that is live in
glibc's heap (`mallinfo2`: DuckDB's C++ objects; its buffers come from its own allocator).
Between the smallest and the largest size the report gives each figure's growth per row.

Writes `benchmarks/results/duckdb_memory.json` and `duckdb_memory.md` (or `--results-dir`).

    .venv/bin/python -m benchmarks.duckdb_memory [--rows 1000000 3000000]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

from benchmarks import round_reports
from benchmarks.pipeline import RESULTS
from benchmarks.proctree import rss_bytes

COMMAND = ".venv/bin/python -m benchmarks.duckdb_memory"
STEPS: dict[str, tuple[str, ...]] = {
    "append": ("INSERT INTO target SELECT * FROM source",),
    "append twice": ("INSERT INTO target SELECT * FROM source", "INSERT INTO final SELECT * FROM target"),
    "scan": ("SELECT max(COLUMNS(*)) FROM source",),
}
LOAD_MEMORY_LIMIT = "160MB"  # the load's default on two cores (pipelines/load_step.py)
EMPTIED_LIMIT = "8MB"  # low enough that DuckDB evicts every buffer it can
SAMPLE_EVERY_S = 0.02
MIB = 2**20

# (kind, how many, expression of the row number i): the sessions table's 77 columns (47 text,
# 18 DECIMAL(38, 9), 6 timestamps, 3 integers, 3 flags), with its kinds of values: unique ids
# and digests, ids of stations and members repeated hundreds of times, labels, mostly-null ones
COLUMN_KINDS: tuple[tuple[str, int, str], ...] = (
    ("unique digest", 6, "md5((i * {p})::VARCHAR)"),
    ("repeated digest", 12, "CASE WHEN i % {n} = 0 THEN NULL ELSE md5(((i * {p}) % {many})::VARCHAR) END"),
    ("label", 29, "CASE WHEN i % {n} = 0 THEN NULL ELSE 'label-' || ((i * {p}) % {few})::VARCHAR END"),
    ("decimal", 18, "CAST(((i * {p}) % {many}) / 1000 AS DECIMAL(38, 9))"),
    ("timestamp", 6, "TIMESTAMPTZ '2025-01-01 00:00:00+00' + to_seconds((i * {p}) % 31536000)"),
    ("integer", 3, "(i * {p}) % {many}"),
    ("flag", 3, "(i * {p}) % {n} = 0"),
)


def source_columns() -> list[str]:
    """The generated table's select list, column k's values varied by k."""
    columns, k = [], 0
    for _kind, count, expression in COLUMN_KINDS:
        for _ in range(count):
            k += 1
            values = expression.format(p=2 * k + 7919, few=10 * k + 3, many=1000 * k + 3, n=k % 5 + 2)
            columns.append(f"{values} AS c{k:02d}")
    return columns


def make_source(database: Path, rows: int) -> None:
    """The source table, written and checkpointed by this process, which then exits."""
    with duckdb.connect(str(database)) as connection:
        select = ",\n  ".join(source_columns())
        connection.execute(f"CREATE TABLE source AS SELECT {select} FROM range({rows}) AS r(i)")  # noqa: S608
        connection.execute("CREATE TABLE target AS SELECT * FROM source LIMIT 0")
        connection.execute("CREATE TABLE final AS SELECT * FROM source LIMIT 0")
        connection.execute("CHECKPOINT")


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in [
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        ]
    ]


def _glibc_live_bytes() -> int | None:
    """Bytes live in glibc's heap (`mallinfo2().uordblks`), or None without glibc 2.33."""
    mallinfo2 = getattr(ctypes.CDLL(None), "mallinfo2", None)
    if mallinfo2 is None:
        return None
    mallinfo2.restype = _MallInfo2
    return int(mallinfo2().uordblks)


def _pool_bytes(connection: duckdb.DuckDBPyConnection) -> int:
    """What DuckDB accounts for in its pool (every buffer its memory limit governs)."""
    row = connection.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchone()
    return int(row[0] or 0) if row else 0


class _PeakSampler:
    """The highest RSS while a statement runs, and DuckDB's pool at that moment, read through a
    connection of its own (DuckDB serves one statement per connection)."""

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self._connection = connection.cursor()
        self._stop = threading.Event()
        self.peak_rss = 0
        self.pool_at_peak = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._connection.close()

    def _run(self) -> None:
        while True:
            rss = rss_bytes(os.getpid())
            if rss > self.peak_rss:
                self.peak_rss, self.pool_at_peak = rss, _pool_bytes(self._connection)
            if self._stop.wait(SAMPLE_EVERY_S):
                return


def measure_step(step: str, database: Path, threads: int) -> dict[str, Any]:
    """One step in this process, which must be fresh: what it held before, at its peak, and after."""
    config: dict[str, str | bool | int | float | list[str]] = {
        "memory_limit": LOAD_MEMORY_LIMIT,
        "threads": threads,
        "preserve_insertion_order": False,
    }
    with duckdb.connect(str(database), config=config) as connection:
        rss_before, pool_before, glibc_before = rss_bytes(os.getpid()), _pool_bytes(connection), _glibc_live_bytes()
        started = time.perf_counter()
        with _PeakSampler(connection) as sampler:
            for statement in STEPS[step]:
                connection.execute(statement).fetchall()
        seconds = time.perf_counter() - started
        connection.execute("CHECKPOINT")
        connection.execute(f"SET memory_limit = '{EMPTIED_LIMIT}'")
        rss_after, pool_after, glibc_after = rss_bytes(os.getpid()), _pool_bytes(connection), _glibc_live_bytes()
    return {
        "seconds": round(seconds, 2),
        "rss_before_mib": _mib(rss_before),
        "peak_rss_mib": _mib(sampler.peak_rss),
        "pool_at_peak_mib": _mib(sampler.pool_at_peak),
        # the peak beyond the process's start and DuckDB's pool at that moment
        "outside_pool_at_peak_mib": _mib(sampler.peak_rss - rss_before - (sampler.pool_at_peak - pool_before)),
        "pool_after_mib": _mib(pool_after),
        "held_outside_pool_mib": _mib(rss_after - rss_before - (pool_after - pool_before)),
        "glibc_live_growth_mib": (
            _mib(glibc_after - glibc_before) if glibc_after is not None and glibc_before is not None else None
        ),
    }


def _mib(value: int) -> float:
    return round(value / MIB, 1)


def _measure_in_fresh_process(step: str, database: Path, threads: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.duckdb_memory", "--step", step, "--database", str(database)]
    command += ["--threads", str(threads)]
    finished = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if finished.returncode:
        raise RuntimeError(f"the {step} step failed: {finished.stderr.strip()[-500:]}")
    result: dict[str, Any] = json.loads(finished.stdout.strip().splitlines()[-1])
    return result


def measure(sizes: Sequence[int], threads: int) -> dict[str, Any]:
    measurements: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="wirelane-duckdb-memory-") as folder:
        for rows in sizes:
            database = Path(folder) / f"rows-{rows}.duckdb"
            maker = [sys.executable, "-m", "benchmarks.duckdb_memory", "--make", str(rows), "--database", str(database)]
            subprocess.run(maker, check=True)  # noqa: S603 - a process of its own: its memory is gone after
            for step in STEPS:
                measured = _measure_in_fresh_process(step, database, threads)
                measurements.append({"rows": rows, "step": step, **measured})
                print(f"{rows:,} rows, {step}: {measured}", file=sys.stderr)
            database.unlink()
    return {"measurements": measurements, "per_row": per_row_growth(measurements)}


GROWING = ("peak_rss_mib", "outside_pool_at_peak_mib", "held_outside_pool_mib", "glibc_live_growth_mib")


def per_row_growth(measurements: Sequence[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Per step, each figure's growth in bytes per row between the smallest and largest size."""
    growth: dict[str, dict[str, float | None]] = {}
    for step in STEPS:
        done = sorted((m for m in measurements if m["step"] == step), key=lambda m: m["rows"])
        if len(done) < 2 or done[-1]["rows"] == done[0]["rows"]:
            continue
        small, large = done[0], done[-1]
        rows = large["rows"] - small["rows"]
        growth[step] = {
            key: (
                round((large[key] - small[key]) * MIB / rows, 2)
                if large[key] is not None and small[key] is not None
                else None
            )
            for key in GROWING
        }
    return growth


def markdown(report: dict[str, Any]) -> str:
    meta = report["meta"]
    lines = [
        f"# What DuckDB holds outside its {LOAD_MEMORY_LIMIT} pool for the rows a process appends or reads",
        "",
        round_reports.machine_line(meta) + f" DuckDB {meta['duckdb']}, {meta['threads']} threads.",
        "",
        "| rows | step | seconds | RSS before (MiB) | peak RSS | pool at peak | outside the pool at peak "
        "| held outside the pool after | of it live in glibc |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in report["measurements"]:
        cells = [f"{m['rows']:,}", m["step"], m["seconds"], m["rss_before_mib"], m["peak_rss_mib"]]
        cells += [m["pool_at_peak_mib"], m["outside_pool_at_peak_mib"], m["held_outside_pool_mib"]]
        cells.append("" if m["glibc_live_growth_mib"] is None else m["glibc_live_growth_mib"])
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    if report["per_row"]:
        lines += ["", "Growth per row between the smallest and the largest size (bytes):", ""]
        lines += [
            "| step | peak RSS | outside the pool at peak | held after | live in glibc |",
            "|---|---:|---:|---:|---:|",
        ]
        for step, growth in report["per_row"].items():
            values = ["" if growth[key] is None else str(growth[key]) for key in GROWING]
            lines.append(f"| {step} | {' | '.join(values)} |")
    lines += ["", f"Command: `{meta['command']}`", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 3_000_000])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument("--make", type=int, help=argparse.SUPPRESS)  # the source table, in its own process
    parser.add_argument("--step", choices=list(STEPS), help=argparse.SUPPRESS)  # one step, in a fresh process
    parser.add_argument("--database", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.make is not None:
        make_source(args.database, args.make)
        return
    if args.step is not None:
        print(json.dumps(measure_step(args.step, args.database, args.threads)))
        return
    if any(rows < 1 for rows in args.rows) or args.threads < 1:
        parser.error("--rows and --threads must be at least 1")
    meta = round_reports.started() | {"duckdb": duckdb.__version__, "threads": args.threads}
    report = measure(args.rows, args.threads) | {"meta": meta}
    round_reports.finished(meta)
    round_reports.write_report(args.results_dir, "duckdb_memory", COMMAND, argv, report, markdown)


if __name__ == "__main__":
    main()
