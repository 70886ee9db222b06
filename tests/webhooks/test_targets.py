"""Which records a batch of events asks to read again (pure: no HTTP)."""

from __future__ import annotations

import orjson

from sources.wirelane.webhooks import targets
from tests.webhooks.signing import event

ORGS = ["DEMOTENANT", "BORNES-ATLANTIQUE"]
SESSION = "7f1c0c52-0000-4000-8000-000000000001"


def test_each_record_once_in_first_seen_order() -> None:
    events = [
        event("charging_station", "7", "DEMOTENANT"),
        event("charging_session", SESSION, "DEMOTENANT"),
        event("charging_station", "7", "DEMOTENANT"),
        event("charging_session", SESSION, "DEMOTENANT"),
        event("charging_station", "7", "BORNES-ATLANTIQUE"),
        event("tariff", "1", "DEMOTENANT"),
        event("tariff", "2", "DEMOTENANT"),
    ]
    planned = targets(events, ORGS)
    assert planned.sessions == [f"DEMOTENANT/{SESSION}"]
    assert planned.stations == ["DEMOTENANT/7", "BORNES-ATLANTIQUE/7"]
    assert planned.tariff_organizations == ["DEMOTENANT"]
    assert planned.ignored == 0


def test_the_organization_may_come_from_core_data_when_the_owner_is_a_tenant_code() -> None:
    by_tenant = event("charging_session", SESSION, "dewln")
    by_tenant["core_data"] = orjson.dumps({"organization_id": "BORNES-ATLANTIQUE"}).decode()
    assert targets([by_tenant], ORGS).sessions == [f"BORNES-ATLANTIQUE/{SESSION}"]


def test_foreign_unknown_and_malformed_events_are_ignored() -> None:
    foreign = event("charging_session", SESSION, "SOMEONE")
    foreign["core_data"] = orjson.dumps({"organization_id": "SOMEONE"}).decode()
    broken_core = event("charging_session", SESSION, "SOMEONE")
    broken_core["core_data"] = "{not json"
    events = [
        foreign,
        broken_core,
        event("member", "ACC-1", "DEMOTENANT"),
        event("charging_station", "DE*WLN*7003", "DEMOTENANT"),  # outside the id pattern
        {"resource_type": "charging_session"},
    ]
    planned = targets(events, ORGS)
    assert planned.empty
    assert planned.ignored == len(events)
