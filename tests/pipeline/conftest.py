"""Fixtures for pipeline tests: a private simulator, an isolated working folder, a DuckDB file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from simulator.server import RunningSimulator
from simulator.world import SimulatorSizes
from tests.api_client import ApiClient
from tests.postgres_server import PostgresServer, remove, start_postgres

SIZES = SimulatorSizes(organizations=2, stations=16, members=40, sessions=1500, days=20)


@dataclass
class Workspace:
    simulator: RunningSimulator
    api: ApiClient
    root: Path

    @property
    def duckdb_file(self) -> Path:
        return self.root / "wirelane.duckdb"

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.duckdb_file), read_only=True) as con:
            return con.sql(sql).fetchall()

    def requests(self, operation: str) -> int:
        by_operation: dict[str, int] = self.api.admin("GET", "stats").json()["requests"]["by_operation"]
        return by_operation.get(operation, 0)


@pytest.fixture
def workspace(
    make_simulator: Callable[..., RunningSimulator], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Workspace]:
    simulator = make_simulator(sizes=SIZES)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt"))
    monkeypatch.setenv("SOURCES__WIRELANE__BASE_URL", simulator.api_url)
    monkeypatch.setenv("SOURCES__WIRELANE__TOKEN_URL", simulator.token_url)
    monkeypatch.setenv("SOURCES__WIRELANE__PAGE_SIZE", "200")
    monkeypatch.setenv("SOURCES__WIRELANE__MAX_BACKOFF_S", "2")
    with ApiClient(simulator) as api:
        yield Workspace(simulator, api, tmp_path)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = start_postgres()
    yield server
    remove(server)
