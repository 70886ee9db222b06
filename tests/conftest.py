"""Shared fixtures: real simulators on loopback, small enough to keep the suite fast."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from simulator.server import RunningSimulator, SimulatorSettings, start_in_thread
from simulator.world import SimulatorSizes
from tests.api_client import ApiClient

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")

# Small but complete: every entity and every status shows up at this size.
SMALL = SimulatorSizes(organizations=2, stations=40, members=150, sessions=4000, days=90)


@pytest.fixture(scope="session")
def simulator() -> Iterator[RunningSimulator]:
    """One read-only simulator for the whole session: tests must not mutate it."""
    running = start_in_thread(SimulatorSettings(port=0, seed=42, sizes=SMALL))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def api(simulator: RunningSimulator) -> Iterator[ApiClient]:
    with ApiClient(simulator) as client:
        yield client


@pytest.fixture
def make_simulator() -> Iterator[Callable[..., RunningSimulator]]:
    """A fresh simulator per call, for tests that advance the clock or inject faults."""
    started: list[RunningSimulator] = []

    def factory(
        sizes: SimulatorSizes = SMALL,
        seed: int = 42,
        faults: dict[str, object] | None = None,
        *,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
    ) -> RunningSimulator:
        settings = SimulatorSettings(
            port=0, seed=seed, sizes=sizes, faults=faults, webhook_url=webhook_url, webhook_secret=webhook_secret
        )
        running = start_in_thread(settings)
        started.append(running)
        return running

    yield factory
    for running in started:
        running.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The modules with a test marked `slow` (half a minute or more) first, each kept whole and
    in its order. Workers take a module at a time in this order (pyproject: `--dist=loadfile
    --no-loadscope-reorder`), so the long modules start early and the many short ones fill the
    end. xdist's own order (most tests first) left the long few-test modules to the end, where
    one worker ran them alone while the other idled: the whole suite kept its two workers 79 %
    busy (1,560 CPU-seconds in 981 s)."""
    slow_modules = {item.path for item in items if item.get_closest_marker("slow") is not None}
    items.sort(key=lambda item: item.path not in slow_modules)
