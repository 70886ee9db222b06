"""Connector statuses as the station listing shows them.

A connector's status changes many times a day, and each change alters the station's list
row. Reading the station's detail again for it cost one request per changed station: at
3,000 stations, about 1,000 of an incremental run's 1,160 requests, for two fields the list
row already carries. So a station's detail is read again only when something other than its
connectors' status changed (changes.DetailPlan over `without_status`), and the statuses the
listing showed are written onto the loaded connectors after the load
(pipelines/connector_status.py). That write is idempotent and kept in no state: a run that
dies before it leaves the next run to write the same statuses again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sources.wirelane.records import parse_timestamp

VOLATILE_CONNECTOR_KEYS = frozenset({"status", "status_update"})


@dataclass(frozen=True, slots=True)  # slots: a run holds one per listed connector while it loads
class ConnectorStatus:
    organization_id: str
    station_id: str  # the station's numeric `id`, as text
    evse_id: str
    status: str | None
    updated_at: datetime | None  # `status_update`, UTC


def without_status(station: dict[str, Any]) -> dict[str, Any]:
    """The list row without what changes with every status change: what decides a new read."""
    connectors = [
        {k: v for k, v in connector.items() if k not in VOLATILE_CONNECTOR_KEYS}
        for connector in station.get("connectors") or []
    ]
    return {**station, "connectors": connectors}


def listed_statuses(organization_id: str, station: dict[str, Any]) -> list[ConnectorStatus]:
    """The statuses of a list row's connectors (those with an EVSE id, which names the row)."""
    found = []
    for connector in station.get("connectors") or []:
        evse_id = connector.get("evseid")
        if not evse_id:
            continue
        updated = connector.get("status_update")
        found.append(
            ConnectorStatus(
                organization_id,
                str(station["id"]),
                str(evse_id),
                connector.get("status"),
                parse_timestamp(updated) if isinstance(updated, str) else None,
            )
        )
    return found


# the statuses the station listing of the source built last showed; reset with every source
_LISTED: list[ConnectorStatus] = []


def start_run() -> None:
    _LISTED.clear()


def record(statuses: list[ConnectorStatus]) -> None:
    _LISTED.extend(statuses)


def listed() -> list[ConnectorStatus]:
    return list(_LISTED)
