"""What the benchmarks beside `pipeline` (`webhook_lag`, `state_history`, `duckdb_memory`,
`peak_by_size`) share: the options that size the simulator's world, the facts a report starts
with, and how a report is written. One place, so that all say the same about the machine and
the code."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.pipeline import RESULTS, code_version, machine


def add_world_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stations", type=int, help="stations (default: in proportion, at least 300)")
    parser.add_argument("--members", type=int, help="members (default: in proportion, at least 2,000)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--results-dir", type=Path, default=RESULTS)


def world_options(args: argparse.Namespace) -> list[str]:
    """The simulator options `add_world_arguments` asked for, beyond the size in sessions."""
    entities = ["--stations", str(args.stations)] if args.stations else []
    return entities + (["--members", str(args.members)] if args.members else [])


def started(options: Sequence[str] | None = None) -> dict[str, Any]:
    """A report's facts at its start: the commit, the time, the machine, and the simulator's
    options where it ran against one."""
    facts = {"code": code_version(), "date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine()}
    return facts if options is None else facts | {"simulator": list(options)}


def finished(meta: dict[str, Any]) -> None:
    meta["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]


def machine_line(meta: dict[str, Any]) -> str:
    m = meta["machine"]
    return (
        f"{meta['date']}, code {meta['code']}, {m['cpus']} CPUs ({m['cpu_model']}), {m['ram_gib']} GiB, "
        f"load average {m['loadavg_start']} at start, {m['loadavg_end']} at end."
    )


def write_report(
    directory: Path,
    name: str,
    command: str,
    argv: Sequence[str] | None,
    report: dict[str, Any],
    markdown: Callable[[dict[str, Any]], str],
) -> None:
    """`name`.json and `name`.md in `directory`, the command that made them in the report."""
    report["meta"]["command"] = " ".join([command, *(sys.argv[1:] if argv is None else argv)])
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    (directory / f"{name}.md").write_text(text)
    print(text)
