"""How big and fast the simulator is: start-up time, memory, and paging throughput.

Runs `wirelane-sync simulate` as a separate process (as users and the pipeline benchmark do),
pages through every session of every organization with httpx, twice (cold: pages rendered;
warm: pages served from the simulator's page cache), and reads the server's memory from
/proc. Writes benchmarks/results/simulator.json and .md.

    .venv/bin/python -m benchmarks.simulator_scale [--sizes 100000 1000000] [--page-size 10000]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from benchmarks.simulator_process import simulator_process

RESULTS = Path(__file__).parent / "results"


def _proc_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _scaled(sessions: int) -> list[str]:
    factor = sessions / 100_000
    return [
        "--sessions", str(sessions),
        "--stations", str(max(300, round(300 * factor))),
        "--members", str(max(2000, round(2000 * factor))),
    ]  # fmt: skip


def _page_all(client: httpx.Client, info: dict[str, Any], token: str, page_size: int) -> tuple[int, int, float]:
    rows = size = 0
    started = time.perf_counter()
    for org in info["organizations"]:
        page = 1
        while True:
            response = client.get(
                f"{info['base_url']}/organizations/id/{org}/sessions",
                params={"page": page, "page_size": page_size, "order_by": "updateDate", "order_direction": "asc"},
                headers={"Authorization": f"Bearer {token}"},
            )
            response.raise_for_status()
            batch = orjson.loads(response.content)
            rows += len(batch)
            size += len(response.content)
            if len(batch) < page_size:
                break
            page += 1
    return rows, size, time.perf_counter() - started


def measure(sessions: int, page_size: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        with simulator_process(Path(tmp), *_scaled(sessions)) as (process, info):
            ready_s = time.perf_counter() - started
            rss_ready = _proc_kib(process.pid, "VmRSS")
            with httpx.Client(timeout=300) as client:
                form = {k: info[k] for k in ("client_id", "client_secret", "username", "password")}
                token = client.post(info["token_url"], data=form | {"grant_type": "password"}).json()["access_token"]
                rows, size, cold_s = _page_all(client, info, token, page_size)
                _, _, warm_s = _page_all(client, info, token, page_size)
            return {
                "sessions": sessions,
                "page_size": page_size,
                "ready_s": round(ready_s, 2),
                "rss_ready_mib": round(rss_ready / 1024),
                "rss_after_paging_mib": round(_proc_kib(process.pid, "VmRSS") / 1024),
                "peak_rss_mib": round(_proc_kib(process.pid, "VmHWM") / 1024),
                "rows_served": rows,
                "mib_served": round(size / 2**20),
                "cold_s": round(cold_s, 2),
                "cold_rows_per_s": round(rows / cold_s),
                "warm_s": round(warm_s, 2),
                "warm_rows_per_s": round(rows / warm_s),
            }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--page-size", type=int, default=10_000)
    args = parser.parse_args()
    results = [measure(size, args.page_size) for size in args.sizes]
    RESULTS.mkdir(exist_ok=True)
    meta = {"machine": f"{platform.machine()}, {platform.python_version()}", "date": time.strftime("%Y-%m-%d")}
    (RESULTS / "simulator.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    header = (
        "| sessions | ready | RSS ready | peak RSS | served | cold paging | warm paging |\n"
        "|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    rows = "".join(
        f"| {r['sessions']:,} | {r['ready_s']} s | {r['rss_ready_mib']} MiB | {r['peak_rss_mib']} MiB "
        f"| {r['mib_served']} MiB | {r['cold_s']} s ({r['cold_rows_per_s']:,} rows/s) "
        f"| {r['warm_s']} s ({r['warm_rows_per_s']:,} rows/s) |\n"
        for r in results
    )
    table = header + rows
    (RESULTS / "simulator.md").write_text(
        f"# Simulator scale ({meta['date']}, page_size {args.page_size})\n\n{table}\n"
        "Command: `.venv/bin/python -m benchmarks.simulator_scale`\n"
    )
    print(table)


if __name__ == "__main__":
    main()
