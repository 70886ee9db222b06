"""Run a command and measure it from outside: wall time and the peak RSS of its process tree.

Why from outside: the three variants of the pipeline benchmark (the limit, dlt's rest_api
peer, `wirelane-sync run`) must be measured the same way, and two of them start their own
children (dbt, dlt's normalize workers); memory that a child uses counts against the loader.
psutil is not a dependency, so the tree is read from /proc every `interval` seconds: each
sample sums the resident set of the process and all its descendants, and the peak of those
sums is reported. Shared pages count once per process (an upper bound), and a child that
lives shorter than one interval can be missed (a lower bound): good to a few MiB for the
processes measured here, which live for seconds.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Measured:
    """One command's wall time, peak tree RSS, exit code and output."""

    seconds: float
    peak_rss_mib: float
    returncode: int
    stdout: str
    stderr: str


def _children() -> dict[int, list[int]]:
    """Parent pid -> child pids, for every process visible in /proc."""
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue  # exited between scandir and read
        # the command name (field 2) may contain spaces and parentheses: split after its end
        fields = stat[stat.rfind(")") + 2 :].split()
        tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def rss_bytes(pid: int) -> int:
    """Resident bytes of one process right now (0 once it is gone)."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_BYTES
    except (OSError, IndexError, ValueError):
        return 0


def tree_rss_bytes(root: int) -> int:
    """Resident bytes of `root` and all its descendants right now (0 once it is gone)."""
    tree = _children()
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss_bytes(pid)
        stack.extend(tree.get(pid, ()))
    return total


def run_measured(
    command: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    interval: float = 0.05,
    timeout: float | None = None,
) -> Measured:
    """Runs `command` to its end, sampling its tree's RSS every `interval` seconds."""
    peak = 0
    started = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603 (the benchmark's own commands)
        list(command), cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_bytes(process.pid))
            done.wait(interval)

    sampler = threading.Thread(target=sample, name="rss-sampler", daemon=True)
    sampler.start()
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    return Measured(round(seconds, 2), round(peak / 2**20, 1), process.returncode, stdout, stderr)
