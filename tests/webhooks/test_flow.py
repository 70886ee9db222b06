"""Events from the simulator, through the receiver, into the warehouse: whatever the delivery
does (duplicates, disorder, a forged or replayed delivery, a receiver killed mid-way, events
lost), the warehouse ends equal to the API."""

from __future__ import annotations

import time
from typing import Any

import httpx
import psycopg2
import pytest

from pipelines import load
from simulator.server import free_port
from tests.pipeline.api_equality import assert_equal, duckdb_fetch, postgres_fetch
from tests.pipeline.conftest import Workspace
from tests.postgres_server import PostgresServer
from tests.webhooks.api_requests import LISTS, requests
from tests.webhooks.receiver_process import SECRET, Receiver, receiver
from tests.webhooks.signing import event, signed

JSON = dict[str, Any]


def send_to(ws: Workspace, running: Receiver, **faults: Any) -> None:
    settings = {"url": running.url, "secret": SECRET, "backoff_s": 0.2, "max_backoff_s": 1.0, **faults}
    ws.api.admin("POST", "webhooks", settings).raise_for_status()


def deliveries(ws: Workspace) -> JSON:
    report: JSON = ws.api.admin("GET", "webhooks").json()
    return report


def wait_delivered(ws: Workspace, timeout_s: float = 60) -> JSON:
    deadline = time.monotonic() + timeout_s
    while (report := deliveries(ws))["pending"]:
        assert time.monotonic() < deadline, f"deliveries still pending: {report}"
        time.sleep(0.1)
    return report


def advance(ws: Workspace, minutes: int = 90) -> JSON:
    summary: JSON = ws.api.admin("POST", "advance", {"minutes": minutes}).raise_for_status().json()
    return summary


def test_events_flow_from_the_simulator_to_the_warehouse(ws: Workspace) -> None:
    load.run("duckdb")
    with receiver(ws.root) as running:
        send_to(ws, running, shuffle=True, duplicate_rate=0.3)
        changed = [advance(ws) for _ in range(3)]
        report = wait_delivered(ws)
        assert report["delivered"] == report["published"] + report["duplicated"] > 0
        assert sum(c["connector_status_changes"] for c in changed), "no station changed in 4.5 hours"
        org = ws.api.organizations[0]
        forged = event("charging_session", "00000000-0000-4000-8000-00000000dead", org)
        body, headers = signed("a-secret-the-receiver-does-not-know", forged)
        assert httpx.post(running.url, content=body, headers=headers).status_code == 401
        genuine = event("charging_station", "1", org)
        body, headers = signed(SECRET, genuine)
        assert httpx.post(running.url, content=body, headers=headers).status_code == 200
        assert httpx.post(running.url, content=body, headers=headers).status_code == 409, "a replay"
        before = requests(ws)

        summary = load.run("duckdb", from_webhooks=True)

    read = {name: count - before.get(name, 0) for name, count in requests(ws).items()}
    assert all(read.get(name, 0) == 0 for name in LISTS), read
    assert summary.webhooks is not None
    assert summary.webhooks["events"] == report["published"] + 1, "each event queued once, the forged one not"
    assert read.get("findOrganizationChargingSession", 0) == summary.webhooks["sessions"]
    assert read.get("organizationFindChargingStation", 0) == summary.webhooks["stations"] > 0
    assert_equal(duckdb_fetch(str(ws.duckdb_file)), ws.api)


def test_a_receiver_killed_between_receipt_and_load_loses_nothing(ws: Workspace) -> None:
    load.run("duckdb")
    port = free_port()
    with receiver(ws.root, port=port) as first:
        send_to(ws, first)
        advance(ws)
        wait_delivered(ws)
        first.kill()  # events answered 200 for are on disk, not yet loaded
    advance(ws)  # while nobody listens: the simulator retries
    time.sleep(0.5)
    assert deliveries(ws)["retries"] > 0
    with receiver(ws.root, port=port):
        report = wait_delivered(ws)
        assert report["gave_up"] == 0 and report["rejected"] == 0
        load.run("duckdb", from_webhooks=True)
    assert_equal(duckdb_fetch(str(ws.duckdb_file)), ws.api)


def test_lost_events_are_caught_by_the_next_polling_run(ws: Workspace) -> None:
    load.run("duckdb")
    with receiver(ws.root) as running:
        send_to(ws, running, drop_rate=1.0)
        summary = advance(ws)
        report = wait_delivered(ws)
        assert report["dropped"] == report["published"] > 0 and report["delivered"] == 0
        drained = load.run("duckdb", from_webhooks=True)
    assert drained.webhooks is not None and drained.webhooks["events"] == 0
    assert summary["new_sessions"] + summary["progressed_sessions"] + summary["closed_sessions"] > 0
    load.run("duckdb")
    assert_equal(duckdb_fetch(str(ws.duckdb_file)), ws.api)


def test_events_flow_into_postgres(ws: Workspace, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", postgres.dsn)
    with psycopg2.connect(postgres.dsn) as con, con.cursor() as cur:
        cur.execute("drop schema if exists wirelane_raw cascade; drop schema if exists wirelane_raw_staging cascade")
    load.run("postgres")
    with receiver(ws.root) as running:
        send_to(ws, running, duplicate_rate=0.5)
        advance(ws)
        wait_delivered(ws)
        summary = load.run("postgres", from_webhooks=True)
    assert summary.webhooks is not None and summary.webhooks["events"] > 0
    assert_equal(postgres_fetch(postgres.dsn), ws.api)
