"""The peak memory of a first load by the number of sessions, with and without slices: whether
it still grows with the account.

Against the simulator in its own process (fixed seed, other entities in proportion), for each
size a first load `wirelane-sync run --no-transform` into a fresh DuckDB file and working
folder, once per `sources.wirelane.sessions_per_slice` setting, the settings alternating within
each repetition and the simulator's caches forgotten before each load:

    1000000  the default: a first load bigger than a slice is read and loaded slice by slice,
             each slice in fresh images of the process (README, Loading, Slices)
    0        no slices: one image reads everything, one loads everything

Per load: wall time, peak RSS of the process tree (sampled every 25 ms; the command stays one
process throughout, `os.execv`), the loads it committed, and whether the warehouse holds every
session of the simulator once. Per setting: the peak's growth from the smallest to the largest
size, in MiB and in bytes per session; per size: the time of each setting against no slices.

Writes `benchmarks/results/peak_by_size.json` and `peak_by_size.md` (or `--results-dir`).

    .venv/bin/python -m benchmarks.peak_by_size [--sizes 1000000 3000000] [--slices 1000000 0]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

from benchmarks import round_reports
from benchmarks.pipeline import REPO, WIRELANE_SYNC, _base_env, _check, simulator
from benchmarks.proctree import run_measured
from benchmarks.simulator_scale import _scaled

COMMAND = ".venv/bin/python -m benchmarks.peak_by_size"
NO_SLICES = 0
SAMPLE_EVERY_S = 0.025
MIB = 2**20


def _warehouse(database: Path) -> dict[str, int]:
    with duckdb.connect(str(database), read_only=True) as con:
        sessions = con.execute("SELECT count(*), count(DISTINCT session_id) FROM wirelane_raw.sessions").fetchone()
        loads = con.execute("SELECT count(*) FROM wirelane_raw._dlt_loads WHERE status = 0").fetchone()
    assert sessions is not None and loads is not None
    return {"sessions": int(sessions[0]), "distinct_sessions": int(sessions[1]), "loads": int(loads[0])}


def _first_load(work: Path, sim_info: dict[str, Any], per_slice: int) -> dict[str, Any]:
    (work / ".dlt").mkdir(parents=True)
    # the project's settings, as an operator's working directory has them
    shutil.copy(REPO / ".dlt" / "config.toml", work / ".dlt" / "config.toml")
    database = work / "wirelane.duckdb"
    env = {
        **_base_env(work),
        "SOURCES__WIRELANE__BASE_URL": sim_info["base_url"],
        "SOURCES__WIRELANE__TOKEN_URL": sim_info["token_url"],
        "SOURCES__WIRELANE__ORGANIZATIONS": json.dumps(sim_info["organizations"]),
        # as the pipeline benchmark runs: no client-side rate limit (the API's 429s still govern)
        "SOURCES__WIRELANE__REQUESTS_PER_SECOND": "0",
        "SOURCES__WIRELANE__SESSIONS_PER_SLICE": str(per_slice),
        "DESTINATION__DUCKDB__CREDENTIALS": str(database),
    }
    command = [WIRELANE_SYNC, "--progress", "off", "run", "--no-transform"]
    what = f"the first load with sessions_per_slice = {per_slice}"
    measured = _check(run_measured(command, cwd=work, env=env, interval=SAMPLE_EVERY_S), what)
    return {"seconds": measured.seconds, "peak_rss_mib": measured.peak_rss_mib, **_warehouse(database)}


def measure(
    sizes: Sequence[int], slices: Sequence[int], repeat: int, seed: int, entities: Sequence[str] = ()
) -> dict[str, Any]:
    meta = round_reports.started() | {"seed": seed, "entities": list(entities), "repeat": repeat}
    loads: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="wirelane-peak-") as tmp:
        for sessions in sizes:
            root = Path(tmp) / str(sessions)
            with simulator(root / "sim", [*_scaled(sessions), *entities, "--seed", str(seed)]) as sim:
                expected = int(sim.stats()["totals"]["sessions"])
                for repetition in range(1, repeat + 1):
                    for per_slice in slices:
                        sim.forget_caches()  # every load reads as the first one did
                        work = root / f"{per_slice}-{repetition}"
                        load = _first_load(work, sim.info, per_slice)
                        complete = load["sessions"] == load["distinct_sessions"] == expected
                        load = {"sessions_in_api": sessions, "sessions_per_slice": per_slice} | load
                        loads.append(load | {"repetition": repetition, "complete": complete})
                        print(json.dumps(loads[-1]), flush=True)
                        shutil.rmtree(work)
    round_reports.finished(meta)
    return {"meta": meta, "loads": loads, "growth": growth(loads), "against_no_slices": against_no_slices(loads)}


def _medians(loads: Sequence[dict[str, Any]], figure: str) -> dict[tuple[int, int], float]:
    """(size, setting) -> the median of `figure` over the repetitions."""
    grouped: dict[tuple[int, int], list[float]] = {}
    for load in loads:
        grouped.setdefault((load["sessions_in_api"], load["sessions_per_slice"]), []).append(load[figure])
    return {key: statistics.median(values) for key, values in grouped.items()}


def growth(loads: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per setting: the median peak's growth from the smallest to the largest size."""
    peaks = _medians(loads, "peak_rss_mib")
    found: dict[str, dict[str, float]] = {}
    for setting in sorted({per_slice for _, per_slice in peaks}):
        sizes = sorted(size for size, per_slice in peaks if per_slice == setting)
        if len(sizes) < 2:
            continue
        small, large = sizes[0], sizes[-1]
        mib = peaks[large, setting] - peaks[small, setting]
        found[str(setting)] = {
            "from": small,
            "to": large,
            "mib": round(mib, 1),
            "bytes_per_session": round(mib * MIB / (large - small), 2),
        }
    return found


def against_no_slices(loads: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per size and setting: its median time over that of no slices, measured in the same run."""
    seconds = _medians(loads, "seconds")
    found: dict[str, dict[str, float]] = {}
    for (size, setting), value in sorted(seconds.items()):
        base = seconds.get((size, NO_SLICES))
        if setting != NO_SLICES and base:
            found.setdefault(str(size), {})[str(setting)] = round(value / base, 3)
    return found


def _setting(per_slice: int) -> str:
    return "no slices" if per_slice == NO_SLICES else f"slices of {per_slice:,}"


def markdown(report: dict[str, Any]) -> str:
    meta = report["meta"]
    lines = [
        "# Peak memory of a first load by size, with and without slices",
        "",
        round_reports.machine_line(meta),
        "",
        "| sessions | setting | repetition | wall (s) | peak RSS (MiB) | loads | complete |",
        "|---:|---|---:|---:|---:|---:|---|",
    ]
    for load in report["loads"]:
        lines.append(
            f"| {load['sessions_in_api']:,} | {_setting(load['sessions_per_slice'])} | {load['repetition']} "
            f"| {load['seconds']} | {load['peak_rss_mib']} | {load['loads']} | {'yes' if load['complete'] else 'NO'} |"
        )
    if report["growth"]:
        lines += ["", "| setting | peak growth | per session |", "|---|---|---:|"]
        for setting, grown in report["growth"].items():
            lines.append(
                f"| {_setting(int(setting))} | {grown['mib']} MiB from {grown['from']:,} to {grown['to']:,} sessions "
                f"| {grown['bytes_per_session']} bytes |"
            )
    if report["against_no_slices"]:
        lines += ["", "| sessions | setting | time against no slices |", "|---:|---|---:|"]
        for size, ratios in report["against_no_slices"].items():
            for setting, ratio in ratios.items():
                lines.append(f"| {int(size):,} | {_setting(int(setting))} | {ratio:.3f}x |")
    lines += ["", f"Command: `{meta['command']}`", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 3_000_000], help="sessions per load")
    parser.add_argument(
        "--slices", type=int, nargs="+", default=[1_000_000, NO_SLICES], help="sessions_per_slice settings (0: none)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="loads per size and setting")
    round_reports.add_world_arguments(parser)
    args = parser.parse_args(argv)
    if args.repeat < 1 or any(size < 1 for size in args.sizes) or any(value < 0 for value in args.slices):
        parser.error("--repeat and --sizes must be at least 1, --slices at least 0")
    report = measure(args.sizes, args.slices, args.repeat, args.seed, round_reports.world_options(args))
    round_reports.write_report(args.results_dir, "peak_by_size", COMMAND, argv, report, markdown)


if __name__ == "__main__":
    main()
