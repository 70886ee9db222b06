"""Where each dbt invocation writes its artifacts, and how many of them are kept.

dagster-dbt gives every invocation a target folder of its own (compiled SQL, run results, logs:
about 10 MB here) and never removes one; with the marts rebuilt after every hourly load that
grows by a quarter of a gigabyte a day. So the invocations write under the project's Dagster
target folder, the newest few stay for inspection, and older ones are removed. Each folder
starts with a copy of the parse cache `dbt parse` left beside the manifest, so that dbt parses
only what changed instead of the whole project on every run.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dagster_dbt import DbtProject

RUNS_KEPT = 5
PARSE_CACHE = "partial_parse.msgpack"


def runs_folder(project: DbtProject) -> Path:
    return project.project_dir / project.target_path / "runs"


@contextmanager
def invocation_target(project: DbtProject, run_id: str) -> Iterator[Path]:
    """A fresh target folder for one invocation; the oldest beyond `RUNS_KEPT` go afterwards."""
    target = runs_folder(project) / f"{time.time_ns()}-{run_id[:8]}"
    target.mkdir(parents=True)
    cache = project.project_dir / project.target_path / PARSE_CACHE
    if cache.exists():
        shutil.copy2(cache, target / PARSE_CACHE)
    try:
        yield target
    finally:
        prune(runs_folder(project), RUNS_KEPT)


def prune(folder: Path, keep: int) -> None:
    """Removes all but the `keep` newest invocation folders (their names start with the time)."""
    invocations = sorted((path for path in folder.iterdir() if path.is_dir()), key=lambda path: path.name)
    for old in invocations[: max(len(invocations) - keep, 0)]:
        shutil.rmtree(old, ignore_errors=True)
