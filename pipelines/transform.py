"""`dbt build` against the warehouse the pipeline loads, configured from the pipeline's settings.

dbt reads `dbt_project/profiles.yml`, whose targets take the destination from environment
variables set here from the dlt configuration (the DuckDB file, or the Postgres DSN), so the
warehouse is configured in one place. dlt and dbt run one after the other, never at once:
DuckDB allows a single writer per file.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import dlt
from dlt.common.configuration.specs import ConnectionStringCredentials

from pipelines.dbt_process import DbtProcess
from pipelines.destinations import DEFAULT_DUCKDB_FILE, Destination
from sources.wirelane.errors import WirelaneConfigError, WirelaneError

PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"
# the raw tables the marts read (dbt_project/models/staging/_wirelane__sources.yml)
REQUIRED_TABLES = frozenset(
    {
        "sessions", "charging_stations", "charging_stations__connectors", "members", "tariffs", "tariffs__name",
        "price_models",
        "price_models__elements", "price_models__elements__price_components", "price_models__elements__restrictions",
    }
)  # fmt: skip


@dataclass
class TransformSummary:
    success: bool
    results: dict[str, int]  # status -> count of nodes


def _destination_env(destination: Destination) -> dict[str, str]:
    if destination == "duckdb":
        path = dlt.config.get("destination.duckdb.credentials", str) or DEFAULT_DUCKDB_FILE
        return {"WIRELANE_DUCKDB_PATH": str(Path(path).resolve())}
    dsn = dlt.secrets.get("destination.postgres.credentials", str)
    if not dsn:
        raise WirelaneConfigError(
            "set DESTINATION__POSTGRES__CREDENTIALS (a postgresql:// DSN) to transform on Postgres"
        )
    credentials = ConnectionStringCredentials(dsn)
    return {
        "WIRELANE_PG_HOST": str(credentials.host or "127.0.0.1"),
        "WIRELANE_PG_PORT": str(credentials.port or 5432),
        "WIRELANE_PG_USER": str(credentials.username or ""),
        "WIRELANE_PG_PASSWORD": str(credentials.password or ""),
        "WIRELANE_PG_DATABASE": str(credentials.database or ""),
    }


# Unit tests check the SQL, not the data: they run in the test suite (`UNIT_TESTS`), not in
# every scheduled build, where they cost seconds and prove nothing new.
BUILD: tuple[str, ...] = ("build", "--exclude-resource-type", "unit_test")
UNIT_TESTS: tuple[str, ...] = ("test", "--select", "test_type:unit")


def _node_name(unique_id: str) -> str:
    """`test.wirelane.unique_fct_x_id.3ff76ed28c` -> `unique_fct_x_id`: the name, not the hash dbt
    appends to long test names."""
    parts = unique_id.split(".")
    return parts[2] if len(parts) > 2 else unique_id


def run_dbt(
    destination: Destination = "duckdb", command: Sequence[str] = BUILD, process: DbtProcess | None = None
) -> TransformSummary:
    """Runs a dbt command in its own process (dbt keeps DuckDB connections open in-process):
    `process` if the caller started one early (pipelines/dbt_process.py), else a new one;
    raises WirelaneError naming the failing nodes."""
    environment = _destination_env(destination)
    target_path = PROJECT_DIR / "target"
    arguments = [
        *command,
        "--project-dir", str(PROJECT_DIR),
        "--profiles-dir", str(PROJECT_DIR),
        "--target", destination,
        "--target-path", str(target_path),
    ]  # fmt: skip
    target_path.mkdir(parents=True, exist_ok=True)
    # one dbt at a time per checkout: runs share target/ (results, the partial-parse cache)
    # a process the caller started is the caller's to end; one started here ends here
    owned: AbstractContextManager[DbtProcess] = nullcontext(process) if process else DbtProcess()
    with (target_path / ".dbt.lock").open("w") as lock, owned as dbt:
        fcntl.flock(lock, fcntl.LOCK_EX)
        (target_path / "run_results.json").unlink(missing_ok=True)  # never read a previous run's results
        finished = dbt.run(environment, arguments)
        results_file = target_path / "run_results.json"
        results = json.loads(results_file.read_text()).get("results", []) if results_file.exists() else []
    statuses: dict[str, int] = {}
    failures = []
    for node in results:
        status = str(node.get("status"))
        statuses[status] = statuses.get(status, 0) + 1
        if status in ("error", "fail"):
            lines = [line.strip() for line in str(node.get("message") or status).splitlines() if line.strip()]
            message = lines[0] if lines else status
            failures.append(f"{_node_name(str(node.get('unique_id', '?')))}: {message}")
    if finished.returncode != 0:
        tail = [line for line in finished.stdout.splitlines() if line.strip()][-1:] or ["see dbt's log"]
        reason = "; ".join(failures[:5]) or tail[0]
        raise WirelaneError(f"dbt {' '.join(command)} failed on {destination}: {reason}")
    return TransformSummary(success=True, results=statuses)
