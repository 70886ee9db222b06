"""Connector statuses as the station listing shows them.

A connector's status changes many times a day, and each change alters the station's list
row. Reading the station's detail again for it cost one request per changed station: at
3,000 stations, about 1,000 of an incremental run's 1,160 requests, for two fields the list
row already carries. So a station's detail is read again only when something other than its
connectors' status changed (changes.DetailPlan over `without_status`), and the statuses the
listing showed are written onto the loaded connectors after the load
(pipelines/connector_status.py). That write is idempotent and kept in no state: a run that
dies before it leaves the next run to write the same statuses again.

The run holds the statuses until its load is through, one compressed JSON array per listed page
(`ListedStatuses`), about 14 bytes a connector against 250 as objects
(tests/pipeline/test_listed_statuses.py). As objects, they and the dict of loaded rows they were
compared with took 9 to 11 MiB of the load's peak at 3,000,000 sessions (20,572 connectors).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

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


FIELDS = ("organization_id", "station_id", "evse_id", "status", "updated_at")  # of a page's rows


class ListedStatuses:
    """The statuses a run's listing showed, as pages of JSON compressed at zlib's fastest level
    (`orjson` writes each `updated_at` as RFC 3339 with its offset, which reads back to the same
    instant), read back one page at a time, in the order listed. Compressed, a page is also
    exactly its size: orjson's own bytes keep the room it grew them by."""

    __slots__ = ("_count", "_pages")

    def __init__(self, pages: list[bytes] | None = None, count: int = 0) -> None:
        self._pages = pages if pages is not None else []
        self._count = count

    def add(self, statuses: list[ConnectorStatus]) -> None:
        if statuses:
            page = orjson.dumps([[getattr(one, name) for name in FIELDS] for one in statuses])
            self._pages.append(zlib.compress(page, 1))
            self._count += len(statuses)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[ConnectorStatus]:
        for page in self._pages:
            for org, station, evse, status, updated in orjson.loads(zlib.decompress(page)):
                yield ConnectorStatus(org, station, evse, status, None if updated is None else parse_timestamp(updated))

    def copy(self) -> ListedStatuses:
        return ListedStatuses(list(self._pages), self._count)

    def clear(self) -> None:
        self._pages.clear()
        self._count = 0


# the statuses the station listing of the source built last showed; reset with every source
_LISTED = ListedStatuses()


def start_run() -> None:
    _LISTED.clear()


def record(statuses: list[ConnectorStatus]) -> None:
    """Adds one listed page's statuses."""
    _LISTED.add(statuses)


def listed() -> ListedStatuses:
    return _LISTED.copy()
