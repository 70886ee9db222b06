"""The history benchmark: what a long series of scheduled runs costs as dlt's history piles up.

Against the simulator in its own process (fixed seed), two warehouses are loaded in full, then
round after round the simulator's clock moves (a tenth of the pipeline benchmark's 1 % advance:
an hourly run's change) and each runs `wirelane-sync run --no-transform`, as a schedule does:

    pruned  `state_history = 1`, the default: the states and packages of older loads are deleted
            once a load has completed (pipelines/history.py)
    kept    `state_history = 0`: every state and package stays, as dlt leaves them

Per run: exit code, seconds, peak RSS of the process tree, the state rows and bytes in the
warehouse's `_dlt_pipeline_state`, and the working folder's bytes. A variant that fails three
runs in a row is not run again (its first failure is reported).

Writes `benchmarks/results/state_history.json` and `state_history.md` (or `--results-dir`).

    .venv/bin/python -m benchmarks.state_history [--sessions 1000000] [--rounds 50]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

from benchmarks import round_reports
from benchmarks.pipeline import (
    REPO,
    WIRELANE_SYNC,
    _base_env,
    _check,
    advance_minutes,
    simulator,
)
from benchmarks.proctree import run_measured
from benchmarks.simulator_scale import _scaled

COMMAND = ".venv/bin/python -m benchmarks.state_history"
VARIANTS = {"pruned": "1", "kept": "0"}  # variant -> state_history
GIVE_UP_AFTER = 3  # failed runs in a row


def _folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def _state_rows(database: Path) -> tuple[int, int]:
    with duckdb.connect(str(database), read_only=True) as con:
        found = con.execute(
            "SELECT count(*), coalesce(sum(length(state)), 0) FROM wirelane_raw._dlt_pipeline_state"
        ).fetchone()
    return (int(found[0]), int(found[1])) if found else (0, 0)


def _error_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.startswith("error:")]
    return lines[-1] if lines else (stderr.strip().splitlines() or [""])[-1]


def _run(workdir: Path, env: dict[str, str]) -> dict[str, Any]:
    measured = run_measured([WIRELANE_SYNC, "--progress", "off", "run", "--no-transform"], cwd=workdir, env=env)
    rows, state_bytes = _state_rows(workdir / "wirelane.duckdb")
    return {
        "returncode": measured.returncode,
        "seconds": measured.seconds,
        "peak_rss_mib": measured.peak_rss_mib,
        "state_rows": rows,
        "state_mb": round(state_bytes / 1e6, 1),
        "warehouse_mb": round((workdir / "wirelane.duckdb").stat().st_size / 1e6, 1),
        "working_folder_mb": round(_folder_bytes(workdir / "dlt") / 1e6, 1),
        "error": _error_line(measured.stderr) if measured.returncode else None,
    }


def measure(sessions: int, rounds: int, seed: int, entities: Sequence[str] = ()) -> dict[str, Any]:
    options = [*_scaled(sessions), *entities, "--seed", str(seed)]
    minutes = max(1, advance_minutes(sessions) // 10)
    meta = round_reports.started(options) | {"minutes_per_round": minutes}
    runs: dict[str, list[dict[str, Any]]] = {variant: [] for variant in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="wirelane-history-") as tmp:
        root = Path(tmp)
        with simulator(root / "sim", options) as sim:
            envs = {}
            for variant, keep in VARIANTS.items():
                (root / variant / ".dlt").mkdir(parents=True)
                # the project's settings, as an operator's working directory has them
                shutil.copy(REPO / ".dlt" / "config.toml", root / variant / ".dlt" / "config.toml")
                envs[variant] = {
                    **_base_env(root / variant),
                    "SOURCES__WIRELANE__BASE_URL": sim.info["base_url"],
                    "SOURCES__WIRELANE__TOKEN_URL": sim.info["token_url"],
                    "SOURCES__WIRELANE__ORGANIZATIONS": json.dumps(sim.info["organizations"]),
                    "SOURCES__WIRELANE__REQUESTS_PER_SECOND": "0",
                    "SOURCES__WIRELANE__STATE_HISTORY": keep,
                    "DESTINATION__DUCKDB__CREDENTIALS": str(root / variant / "wirelane.duckdb"),
                }
                command = [WIRELANE_SYNC, "--progress", "off", "run", "--no-transform"]
                full = _check(run_measured(command, cwd=root / variant, env=envs[variant]), f"the {variant} full load")
                meta.setdefault("full_load_s", {})[variant] = full.seconds
            for number in range(1, rounds + 1):
                sim.advance(minutes)
                for variant in VARIANTS:
                    done = runs[variant]
                    if len(done) >= GIVE_UP_AFTER and all(run["returncode"] for run in done[-GIVE_UP_AFTER:]):
                        continue
                    sim.forget_caches()
                    done.append({"round": number} | _run(root / variant, envs[variant]))
                    print(json.dumps({"variant": variant} | done[-1]), flush=True)
    round_reports.finished(meta)
    return {"sessions": sessions, "rounds": rounds, "meta": meta, "runs": runs}


def _cells(run: dict[str, Any] | None) -> list[str]:
    """A run's four columns: seconds (or why it failed), peak, state rows, working folder."""
    if run is None:
        return ["not run", "", "", ""]
    first = f"**failed**: {run['error']}" if run["returncode"] else str(run["seconds"])
    rows = f"{run['state_rows']} ({run['state_mb']} MB)"
    return [first, str(run["peak_rss_mib"]), rows, str(run["working_folder_mb"])]


def markdown(report: dict[str, Any]) -> str:
    meta, runs = report["meta"], report["runs"]
    by_round = {variant: {run["round"]: run for run in done} for variant, done in runs.items()}
    shown = sorted({1, report["rounds"], *range(10, report["rounds"] + 1, 10)} | _first_failures(runs))
    lines = [
        f"# dlt's history over {report['rounds']} runs: {report['sessions']:,} sessions, "
        f"{meta['minutes_per_round']} simulated minutes per round",
        "",
        round_reports.machine_line(meta)
        + " Full loads: "
        + ", ".join(f"{variant} {seconds} s" for variant, seconds in meta["full_load_s"].items())
        + ".",
        "",
        "| round | pruned: run (s) | peak (MiB) | state rows | working folder (MB) "
        "| kept: run (s) | peak (MiB) | state rows | working folder (MB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for number in shown:
        cells = [cell for variant in VARIANTS for cell in _cells(by_round[variant].get(number))]
        lines.append(f"| {number} | {' | '.join(cells)} |")
    lines += ["", f"Command: `{meta['command']}`", ""]
    return "\n".join(lines)


def _first_failures(runs: dict[str, list[dict[str, Any]]]) -> set[int]:
    return {
        next(run["round"] for run in done if run["returncode"])
        for done in runs.values()
        if any(r["returncode"] for r in done)
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=50)
    round_reports.add_world_arguments(parser)
    args = parser.parse_args(argv)
    entities = round_reports.world_options(args)
    report = measure(args.sessions, args.rounds, args.seed, entities)
    round_reports.write_report(args.results_dir, "state_history", COMMAND, argv, report, markdown)


if __name__ == "__main__":
    main()
