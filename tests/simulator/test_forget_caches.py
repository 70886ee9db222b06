"""`POST /_simulator/forget-caches`: the benchmark repeats a step and must find the server as
the first repetition did, with nothing rendered ahead; the answers themselves must not change."""

from __future__ import annotations

from collections.abc import Callable

from simulator.server import RunningSimulator
from simulator.world import SimulatorSizes
from tests.api_client import ApiClient

SIZES = SimulatorSizes(organizations=1, stations=5, members=10, sessions=300, days=30)


def _cached_connectors(running: RunningSimulator) -> int:
    return sum(connector.session_parts is not None for connector in running.world.connectors)


def test_forgetting_the_caches_drops_what_was_rendered_and_keeps_the_answers(
    make_simulator: Callable[..., RunningSimulator],
) -> None:
    running = make_simulator(SIZES)
    org = running.world.organizations[0].id
    with ApiClient(running) as api:
        path = f"/organizations/id/{org}/sessions"
        first = api.get(path, {"page": 1, "page_size": 100}).json()
        assert _cached_connectors(running) > 0 and running.world.cache

        forgotten = api.admin("POST", "forget-caches")

        assert forgotten.status_code == 200 and forgotten.json() == {"forgotten": True}
        assert _cached_connectors(running) == 0 and not running.world.cache
        assert api.get(path, {"page": 1, "page_size": 100}).json() == first
        assert _cached_connectors(running) > 0
