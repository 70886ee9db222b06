"""A simulator in its own process, as users and pipelines meet it, for the benchmarks."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def simulator_process(workdir: Path, *options: str) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, Any]]]:
    """Starts `wirelane-sync simulate` on a free port; yields the process and its ready file."""
    ready = workdir / "ready.json"
    process = subprocess.Popen(  # noqa: S603 (our own CLI, fixed arguments)
        [sys.executable, "-m", "pipelines.cli", "simulate", "--port", "0", "--ready-file", str(ready), *options],
        stdout=subprocess.DEVNULL,
    )
    try:
        while not ready.exists():
            if process.poll() is not None:
                raise RuntimeError("the simulator exited before it was ready")
            time.sleep(0.05)
        yield process, json.loads(ready.read_text())
    finally:
        process.terminate()
        process.wait(timeout=30)
