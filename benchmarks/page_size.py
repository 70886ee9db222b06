"""Which page size loads sessions fastest: one full sessions load per page size, side by side.

Runs a simulator (its own process) and `wirelane-sync run -r sessions` into a fresh DuckDB file
for each page size, in one run so the figures compare. Writes
benchmarks/results/page_size.{json,md}.

    .venv/bin/python -m benchmarks.page_size [--sessions 100000] [--page-sizes 100 500 1000 5000 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.simulator_process import simulator_process

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--page-sizes", type=int, nargs="+", default=[100, 500, 1000, 5000, 10000])
    args = parser.parse_args()
    results = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        simulator_process(Path(tmp), "--sessions", str(args.sessions)) as (_, info),
    ):
        for page_size in args.page_sizes:
            work = Path(tmp) / f"run-{page_size}"
            work.mkdir()
            env = {
                **os.environ,
                "SOURCES__WIRELANE__BASE_URL": info["base_url"],
                "SOURCES__WIRELANE__TOKEN_URL": info["token_url"],
                "SOURCES__WIRELANE__PAGE_SIZE": str(page_size),
                "DLT_DATA_DIR": str(work / "dlt"),
                "RUNTIME__DLTHUB_TELEMETRY": "false",
            }
            started = time.perf_counter()
            command = [sys.executable, "-m", "pipelines.cli", "run", "-r", "sessions"]
            subprocess.run(command, cwd=work, env=env, check=True, capture_output=True)  # noqa: S603
            seconds = time.perf_counter() - started
            results.append(
                {"page_size": page_size, "seconds": round(seconds, 2), "rows_per_s": round(args.sessions / seconds)}
            )
            print(results[-1], flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "page_size.json").write_text(
        json.dumps({"sessions": args.sessions, "results": results}, indent=2) + "\n"
    )
    table = "| page_size | full sessions load | rows/s |\n|---:|---:|---:|\n" + "".join(
        f"| {r['page_size']:,} | {r['seconds']} s | {r['rows_per_s']:,} |\n" for r in results
    )
    title = f"# Page size ({args.sessions:,} sessions into DuckDB)"
    (RESULTS / "page_size.md").write_text(f"{title}\n\n{table}\nCommand: `.venv/bin/python -m benchmarks.page_size`\n")
    print(table)


if __name__ == "__main__":
    main()
