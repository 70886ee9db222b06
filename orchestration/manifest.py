"""The dbt project as dagster-dbt sees it, with a manifest that matches the project's files.

dagster-dbt builds its assets from `manifest.json`, which only `dbt parse` writes, and
`DbtProject.prepare_if_dev()` parses under `dagster dev` only: a deployment, a run process or a
test would load a stale manifest or none. So the manifest is parsed here whenever a file of the
project is newer than it (models get added while the project grows), by one process at a time
(every run process loads the code location), into a target folder per warehouse, so that the
DuckDB and the Postgres manifests and `wirelane-sync transform`'s artifacts never overwrite one
another. dbt is the venv's own executable: a scheduled run has no activated venv on its PATH.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from orchestration.locks import exclusive
from orchestration.warehouse import profile_environment
from pipelines.destinations import Destination
from pipelines.transform import PROJECT_DIR

DBT_EXECUTABLE = Path(sys.executable).with_name("dbt")
# what `dbt parse` reads; target/, logs/ and dbt_packages/ are dbt's output
PROJECT_INPUTS = (
    "dbt_project.yml", "profiles.yml", "packages.yml", "dependencies.yml",
    "models", "macros", "tests", "seeds", "snapshots", "analyses",
)  # fmt: skip


def wirelane_dbt_project(destination: Destination) -> DbtProject:
    """`dbt_project/` with the profile target named after the warehouse (`duckdb` or `postgres`)."""
    return DbtProject(
        PROJECT_DIR,
        profiles_dir=PROJECT_DIR,
        target=destination,
        target_path=Path("target") / f"dagster-{destination}",
    )


def dbt_resource(project: DbtProject) -> DbtCliResource:
    return DbtCliResource(project_dir=project, dbt_executable=str(DBT_EXECUTABLE))


def newest_input_change(project_dir: Path) -> float:
    """The latest modification among the project's inputs; folders count too, because adding or
    removing a file changes its folder's time."""
    newest = 0.0
    for name in PROJECT_INPUTS:
        top = project_dir / name
        if not top.exists():
            continue
        newest = max(newest, top.stat().st_mtime)
        for folder, _, files in os.walk(top):
            newest = max(newest, Path(folder).stat().st_mtime)
            for file in files:
                newest = max(newest, (Path(folder) / file).stat().st_mtime)
    return newest


def manifest_is_current(project: DbtProject) -> bool:
    manifest = project.manifest_path
    return manifest.exists() and manifest.stat().st_mtime >= newest_input_change(project.project_dir)


def prepare_manifest(project: DbtProject, destination: Destination) -> Path:
    """Runs `dbt parse` unless the manifest is newer than every input; returns the manifest's path.

    The parse sees the warehouse's profile variables, as the builds will: dbt keeps its parse
    cache (which the builds start from) only for the profile it was made with."""
    if not manifest_is_current(project):
        with exclusive(f"dbt-parse:{project.manifest_path}", "the dbt manifest"):
            if not manifest_is_current(project):  # another process may have parsed meanwhile
                with profile_environment(destination):
                    dbt_resource(project).cli(["parse", "--quiet"], target_path=project.target_path).wait()
    return project.manifest_path
