"""A clock move's changes as the API's organization events (`EventLog`, docs/webhooks.md).

Built from what `advance` recorded (`advance.ChangeSet`) rather than from comparing the world
before and after: a session that appears and starts charging within one advance changed twice,
the advance's summary counts it twice, and a receiver gets both events. Each session event
carries the status and `update_date` the session had right after that change.

Ids come from the seed and the advance count, so the same seed and the same advances send the
same events: a failing delivery test can be replayed event for event.
"""

from __future__ import annotations

import hashlib
import uuid

import orjson

from simulator import render, timefmt
from simulator.advance import ChangeSet
from simulator.sessions import STATUSES
from simulator.world import JSON, Organization, World

SESSION, STATION, TARIFF = "charging_session", "charging_station", "tariff"
# who made the change: the charge point reports sessions and connector states over OCPP; a
# new price is back-office work (the reference's own tariff example says business_relation)
SOURCE = {SESSION: "ocpp", STATION: "ocpp", TARIFF: "business_relation"}
ACTOR_TYPE = "system"
TARIFF_ACTOR = "price-scheduler"


def event_uuid(seed: int, batch: int, label: str) -> str:
    """A UUID (version 4 layout) that depends only on its inputs."""
    digest = hashlib.sha256(f"wirelane-simulator/{seed}/{batch}/{label}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


class _Batch:
    """The events of one clock move: they share a correlation id and number their ids."""

    def __init__(self, world: World, batch: int) -> None:
        self.world, self.batch = world, batch
        self.correlation_id = event_uuid(world.seed, batch, "correlation")
        self.documents: list[JSON] = []

    def add(
        self, org: Organization, kind: str, resource_id: str, action: str, name: str, at: int, data: JSON, actor: str
    ) -> None:
        self.documents.append(
            {
                "id": event_uuid(self.world.seed, self.batch, str(len(self.documents))),
                "tenant": org.tenant,
                "resource_id": resource_id,
                "resource_type": kind,
                "resource_owner": org.id,
                "correlation_id": self.correlation_id,
                "action": action,
                "source": SOURCE[kind],
                "actor_tenant": org.tenant,
                "actor_type": ACTOR_TYPE,
                "actor_id": actor[:50],
                "event_date": timefmt.format_api(at),
                "event_name": name,
                "data": orjson.dumps(data).decode(),
                "core_data": orjson.dumps({"organization_id": org.id}).decode(),
            }
        )


def documents(world: World, changes: ChangeSet) -> list[JSON]:
    """One EventLog per recorded change: sessions in the order they changed, then stations, then tariffs."""
    batch = _Batch(world, changes.batch)
    s = world.sessions
    for change in changes.sessions:
        i = change.index
        org = world.organizations[int(s.org[i])]
        station = world.stations[world.connectors[int(s.connector[i])].station]
        session_id = render.format_session_id(int(s.id_hi[i]), int(s.id_lo[i]))
        data: JSON = {
            "session_id": session_id,
            "status": STATUSES[change.status],
            "update_date": timefmt.format_api(change.at),
        }
        name = f"charging_session_{change.action}"
        batch.add(org, SESSION, session_id, change.action, name, change.at, data, station.station_id)
    for station_change in changes.stations:
        station = world.stations[station_change.index]
        org = world.organizations[station.org]
        if station.index not in org.station_indices:
            continue  # taken out of the organization (offboarded): the API no longer shows it
        data = {
            "id": station.id,
            "station_id": station.station_id,
            "connectors": [
                {"connector_id": world.connectors[ci].number, "status": world.connectors[ci].status}
                for ci in station.connector_indices
            ],
        }
        batch.add(
            org, STATION, str(station.id), "update", "ocpp_charging_station_update", station_change.at, data,
            station.station_id,
        )  # fmt: skip
    for tariff_change in changes.tariffs:
        tariff = world.tariffs[tariff_change.index]
        org = world.organizations[tariff.org]
        data = {
            "id": tariff.id,
            "tariff_id": tariff.tariff_id,
            "update_date": timefmt.format_api(tariff_change.at),
        }
        batch.add(org, TARIFF, str(tariff.id), "update", "tariff_update", tariff_change.at, data, TARIFF_ACTOR)
    return batch.documents
