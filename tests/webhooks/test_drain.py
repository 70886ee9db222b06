"""`run --from-webhooks` reads again exactly the records the queued events name, whatever their
order and however often they came, and takes events off the queue only once they are loaded.

The events here are signed by the test (tests/webhooks/signing.py) for records it knows changed,
so the drain is tested on its own; test_flow.py has the simulator send them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from pipelines import load
from pipelines.webhooks.queue import WebhookQueue, configured_path
from sources.wirelane.errors import WirelaneError
from tests.pipeline.api_equality import assert_equal, duckdb_fetch
from tests.pipeline.conftest import Workspace
from tests.pipeline.test_change_detection import station_listing
from tests.webhooks.api_requests import LISTS, requests
from tests.webhooks.receiver_process import SECRET, Receiver, receiver
from tests.webhooks.signing import event, signature_header, signed

JSON = dict[str, Any]


def changed_since(ws: Workspace, stations_before: dict[tuple[str, Any], JSON], since: str) -> list[JSON]:
    """Events for every session updated after `since` and every station whose listing changed."""
    events = []
    for org in ws.api.organizations:
        for session in ws.api.get_all(f"/organizations/id/{org}/sessions", {"order_by": "updateDate"}):
            if session["update_date"] > since:
                events.append(event("charging_session", session["session_id"], org))
    for (org, station_id), row in station_listing(ws).items():
        if stations_before.get((org, station_id)) != row:
            events.append(event("charging_station", str(station_id), org))
    return events


def deliver(running: Receiver, events: list[JSON]) -> None:
    for document in events:
        body, headers = signed(SECRET, document)
        httpx.post(running.url, content=body, headers=headers, timeout=10).raise_for_status()


def since(before: dict[str, int], ws: Workspace) -> dict[str, int]:
    now = requests(ws)
    return {operation: now.get(operation, 0) - before.get(operation, 0) for operation in now}


def advance(ws: Workspace) -> tuple[dict[tuple[str, Any], JSON], str]:
    """Moves the clock until some station changed too; returns the listing and clock before."""
    stations_before = station_listing(ws)
    clock = ws.api.admin("GET", "stats").json()["now"]
    for _ in range(6):
        ws.api.admin("POST", "advance", {"minutes": 90}).raise_for_status()
        if station_listing(ws) != stations_before:
            break
    return stations_before, clock


def test_duplicates_and_disorder_end_with_the_warehouse_equal_to_the_api(ws: Workspace) -> None:
    load.run("duckdb")
    stations_before, clock = advance(ws)
    events = changed_since(ws, stations_before, clock)
    sessions = sum(1 for e in events if e["resource_type"] == "charging_session")
    stations = len(events) - sessions
    assert sessions and stations, "the simulator changed no session or no station"
    twice = [*reversed(events), *events[::3]]  # out of order, and a third of them again
    before = requests(ws)
    with receiver(ws.root) as running:
        deliver(running, twice)

        summary = load.run("duckdb", from_webhooks=True)

    read = since(before, ws)
    assert read.get("findOrganizationChargingSession", 0) == sessions
    assert read.get("organizationFindChargingStation", 0) == stations
    assert all(read.get(name, 0) == 0 for name in LISTS), read
    assert summary.webhooks == {
        "events": len(events), "sessions": sessions, "stations": stations,
        "tariff_organizations": 0, "ignored": 0, "pending": 0,
    }  # fmt: skip
    assert_equal(duckdb_fetch(str(ws.duckdb_file)), ws.api)
    loaded = ws.query("select count(*), count(distinct id) from wirelane_raw.webhook_events")[0]
    assert loaded == (len(events), len(events))

    again = load.run("duckdb", from_webhooks=True)
    assert again.webhooks is not None and again.webhooks["events"] == 0
    assert again.load_id is None


def test_a_failed_drain_leaves_its_events_queued(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    load.run("duckdb")
    stations_before, clock = advance(ws)
    events = changed_since(ws, stations_before, clock)
    with receiver(ws.root) as running:
        deliver(running, events)
    before = ws.query("select count(*), max(_dlt_load_id) from wirelane_raw.sessions")
    ws.api.admin("POST", "faults", {"server_error": {"rate": 1.0, "paths": "/sessions/id/"}}).raise_for_status()
    monkeypatch.setenv("SOURCES__WIRELANE__MAX_ATTEMPTS", "2")

    with pytest.raises(WirelaneError):
        load.run("duckdb", from_webhooks=True)

    assert ws.query("select count(*), max(_dlt_load_id) from wirelane_raw.sessions") == before
    queue = WebhookQueue(configured_path())
    assert len(queue.pending(1000)) == len(events)
    ws.api.admin("POST", "faults", {"profile": "none"}).raise_for_status()
    summary = load.run("duckdb", from_webhooks=True)
    assert summary.webhooks is not None and summary.webhooks["events"] == len(events)
    assert queue.counts()["pending"] == 0
    queue.close()
    assert_equal(duckdb_fetch(str(ws.duckdb_file)), ws.api)


def test_events_the_pipeline_does_not_load_are_kept_and_ignored(ws: Workspace) -> None:
    load.run("duckdb")
    org = ws.api.organizations[0]
    events = [
        event("charging_session", "11111111-2222-4333-8444-555555555555", "SOMEONE-ELSE"),
        event("member", "ACC-1", org),
        event("charging_session", "../../etc", org),
    ]
    before = requests(ws)
    with receiver(ws.root) as running:
        deliver(running, events)
        forged = event("charging_station", "1", org)
        body, headers = signed(SECRET, forged)
        headers["Wirelane-Signature"] = signature_header("not-the-secret-at-all", body, headers["Wirelane-Delivery-Id"])
        assert httpx.post(running.url, content=body, headers=headers).status_code == 401

    summary = load.run("duckdb", from_webhooks=True)

    assert summary.webhooks is not None
    assert summary.webhooks["ignored"] == 3 and summary.webhooks["events"] == 3
    assert sum(since(before, ws).values()) == 0, "nothing to read again"
    stored = ws.query("select resource_type, resource_owner from wirelane_raw.webhook_events order by 1, 2")
    assert stored == [("charging_session", org), ("charging_session", "SOMEONE-ELSE"), ("member", org)]
