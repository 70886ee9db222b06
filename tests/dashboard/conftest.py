"""A small loaded warehouse with built marts, one per test module, for the dashboard's tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines import load
from pipelines.transform import run_dbt
from simulator.server import SimulatorSettings, start_in_thread
from simulator.world import SimulatorSizes

# two organizations in several cities, both charging types, enough days for weeks and months
SIZES = SimulatorSizes(organizations=2, stations=16, members=40, sessions=1500, days=45)


@dataclass(frozen=True)
class Warehouse:
    root: Path
    env: dict[str, str]  # what points a process (the dashboard) at this warehouse

    @property
    def duckdb_file(self) -> Path:
        return self.root / "wirelane.duckdb"

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.duckdb_file), read_only=True) as con:
            return con.execute(sql, params or []).fetchall()


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    """Loads a private simulator into DuckDB and runs `dbt build`, then leaves the file closed."""
    root = tmp_path_factory.mktemp("dashboard")
    simulator = start_in_thread(SimulatorSettings(port=0, seed=11, sizes=SIZES))
    env = {
        "DLT_DATA_DIR": str(root / "dlt"),
        "DESTINATION__DUCKDB__CREDENTIALS": str(root / "wirelane.duckdb"),
        "SOURCES__WIRELANE__BASE_URL": simulator.api_url,
        "SOURCES__WIRELANE__TOKEN_URL": simulator.token_url,
        "SOURCES__WIRELANE__PAGE_SIZE": "200",
        "WIRELANE_DASHBOARD_DESTINATION": "duckdb",
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        for name, value in env.items():
            patch.setenv(name, value)
        try:
            load.run("duckdb")
            summary = run_dbt("duckdb")
        finally:
            simulator.stop()
        assert summary.results.get("error", 0) == 0, summary.results
        yield Warehouse(root, env)
