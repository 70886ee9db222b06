"""Organization events (the reference's `x-webhooks: organization-event`) as rows and as work.

An event says that something changed, not what it is now: the current record is read again
through its detail endpoint (`targets`), so duplicates and events out of order come to the
same result. The events themselves become rows of `webhook_events`, for lag and audit queries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from sources.wirelane import settings as defaults
from sources.wirelane.privacy import Pseudonymizer
from sources.wirelane.records import shape

Row = dict[str, Any]
SESSION = "charging_session"
STATION = "charging_station"
TARIFF = "tariff"
# the resource whose personal fields an event's `data` may carry (privacy.PERSONAL_FIELDS)
PRIVACY_RESOURCE = {SESSION: "sessions", "member": "members"}
ENVELOPE = (
    "id", "tenant", "resource_id", "resource_type", "resource_owner", "correlation_id", "action", "source",
    "actor_tenant", "actor_type", "actor_id", "event_date", "event_name",
)  # fmt: skip
ENCODED = ("data", "core_data")


@dataclass
class Targets:
    """What a batch of events asks to read again, each record once."""

    sessions: list[str] = field(default_factory=list)  # ORGANIZATION/SESSION_ID
    stations: list[str] = field(default_factory=list)  # ORGANIZATION/STATION_ID
    tariff_organizations: list[str] = field(default_factory=list)
    ignored: int = 0  # events of other organizations, of types we do not load, or malformed

    @property
    def empty(self) -> bool:
        return not (self.sessions or self.stations or self.tariff_organizations)


def targets(events: list[Row], organizations: list[str]) -> Targets:
    """The records to read again for these events, in first-seen order, without repeats."""
    wanted = Targets()
    seen: set[tuple[str, str, str]] = set()
    for event in events:
        kind, owner, resource = event.get("resource_type"), organization(event, organizations), event.get("resource_id")
        if not (owner is not None and isinstance(resource, str)):
            wanted.ignored += 1
            continue
        if kind not in (SESSION, STATION, TARIFF) or not defaults.ID_PATTERN.match(resource):
            wanted.ignored += 1
            continue
        key = (kind, owner, resource if kind != TARIFF else "")
        if key in seen:
            continue
        seen.add(key)
        if kind == SESSION:
            wanted.sessions.append(f"{owner}/{resource}")
        elif kind == STATION:
            wanted.stations.append(f"{owner}/{resource}")
        else:
            # tariffs are versioned on a full listing of the organization (SCD2 with the
            # organization as merge key): a partial load would retire the tariffs not in it
            wanted.tariff_organizations.append(owner)
    return wanted


def organization(event: Row, organizations: list[str]) -> str | None:
    """The configured organization an event belongs to: its `resource_owner`, or else the
    `organization_id` of its `core_data` (the reference's example has a tenant code as owner,
    so the organization may only be there); None when neither names a configured one."""
    owner = event.get("resource_owner")
    if isinstance(owner, str) and owner in organizations:
        return owner
    try:
        core = orjson.loads(event.get("core_data") or "null")
    except (orjson.JSONDecodeError, TypeError):
        return None
    named = core.get("organization_id") if isinstance(core, dict) else None
    return named if isinstance(named, str) and named in organizations else None


def event_row(event: Row, received_at: float, privacy: Pseudonymizer, organizations: list[str]) -> Row:
    """One `webhook_events` row: the envelope typed like every row, `data` and `core_data` as
    the JSON text the API sent, with personal fields hashed.

    `data` may hold anything the API knows about the resource. For resource types whose
    personal fields we know, those are hashed as in their own tables; for the others, with
    pseudonymization on, it is not stored at all rather than stored in clear."""
    envelope = {name: event.get(name) for name in ENVELOPE}
    owner = envelope["resource_owner"] if isinstance(envelope["resource_owner"], str) else ""
    row = shape(envelope, organization(event, organizations) or owner)
    row["received_at"] = datetime.fromtimestamp(received_at, UTC)
    for name in ENCODED:
        row[name] = _encoded(event.get(name), envelope["resource_type"], privacy)
    return row


def _encoded(value: Any, resource_type: Any, privacy: Pseudonymizer) -> str | None:
    if not isinstance(value, str):
        return None
    if not privacy.enabled or resource_type in (STATION, TARIFF):
        return value  # in clear as configured, or of a type that carries no personal data
    if not isinstance(resource_type, str) or resource_type not in PRIVACY_RESOURCE:
        return None
    resource = PRIVACY_RESOURCE[resource_type]
    try:
        decoded = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if isinstance(decoded, dict):
        privacy.apply(resource, decoded)
    return orjson.dumps(decoded).decode()
