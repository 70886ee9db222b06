"""What the simulator was asked, for tests that count a drain's requests."""

from __future__ import annotations

from tests.pipeline.conftest import Workspace

# the list operations a drain must never call: it reads the named records through their details
LISTS = ("findOrganizationChargingSessions", "organizationFindChargingStations", "getMembers")


def requests(ws: Workspace) -> dict[str, int]:
    by_operation: dict[str, int] = ws.api.admin("GET", "stats").json()["requests"]["by_operation"]
    return by_operation
