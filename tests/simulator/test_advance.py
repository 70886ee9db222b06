"""Time moves: `POST /_simulator/advance` changes the world the way incremental loading expects.

The property a client relies on: after the clock moves from t0 to t1, every record that changed
(and every new one) has an `update_date` in (t0, t1], no record moved backwards, and none is
stamped in the future. A scan by `updateDate` descending that stops at t0 then finds exactly
the changes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from simulator.world import SimulatorSizes
from tests.api_client import ApiClient

JSON = dict[str, Any]
SIZES = SimulatorSizes(organizations=2, stations=20, members=60, sessions=3000, days=30)


def parse(ts: str) -> datetime:
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S%z")


def sessions(client: ApiClient) -> dict[str, JSON]:
    return {
        s["session_id"]: s
        for org in client.organizations
        for s in client.get_all(f"/organizations/id/{org}/sessions", {"order_by": "sessionId"})
    }


def clock(client: ApiClient) -> datetime:
    return parse(client.admin("GET", "stats").json()["now"])


def test_advance_stamps_every_change_inside_the_window(make_simulator: Any) -> None:
    with ApiClient(make_simulator(sizes=SIZES)) as client:
        before, t0 = sessions(client), clock(client)
        summary = client.admin("POST", "advance", {"minutes": 18 * 60}).json()
        after, t1 = sessions(client), clock(client)
    assert (t1 - t0).total_seconds() == 18 * 3600
    assert summary["new_sessions"] > 0 and summary["closed_sessions"] > 0
    assert set(before) <= set(after)
    new = set(after) - set(before)
    assert len(new) == summary["new_sessions"]
    changed = {sid for sid in before if after[sid] != before[sid]}
    assert changed, "open sessions progress or close"
    for sid, s in after.items():
        updated = parse(s["update_date"])
        assert updated <= t1
        if sid in new or sid in changed:
            assert t0 < updated, sid
        else:
            assert updated <= t0
        if sid in before:
            assert updated >= parse(before[sid]["update_date"])
    for sid in new:
        assert parse(after[sid]["creation_date"]) > t0


def test_a_scan_by_update_date_stops_at_the_cursor(make_simulator: Any) -> None:
    """What an incremental client does: newest first, stop at the last seen update_date."""
    with ApiClient(make_simulator(sizes=SIZES)) as client:
        org = client.organizations[0]
        path = f"/organizations/id/{org}/sessions"
        before = {s["session_id"]: s for s in client.get_all(path)}
        cursor = max(parse(s["update_date"]) for s in before.values())
        client.admin("POST", "advance", {"minutes": 180})
        found: dict[str, JSON] = {}
        page = 1
        while True:
            batch = client.get(
                path, {"order_by": "updateDate", "order_direction": "desc", "page": page, "page_size": 50}
            ).json()
            fresh = [s for s in batch if parse(s["update_date"]) > cursor]
            found.update({s["session_id"]: s for s in fresh})
            if len(fresh) < len(batch) or len(batch) < 50:
                break
            page += 1
        after = {s["session_id"]: s for s in client.get_all(path)}
    expected = {sid for sid, s in after.items() if sid not in before or s != before[sid]}
    assert expected and set(found) == expected


def test_sessions_move_through_statuses_and_get_priced_when_closed(make_simulator: Any) -> None:
    with ApiClient(make_simulator(sizes=SIZES)) as client:
        before = sessions(client)
        open_before = {
            sid
            for sid, s in before.items()
            if s["status"] not in ("closed", "error", "canceled", "error_consecutive_start")
        }
        client.admin("POST", "advance", {"minutes": 24 * 60})
        after = sessions(client)
    assert open_before
    for sid in open_before:
        s = after[sid]
        assert s["status"] in ("closed", "error"), s["status"]
        if s["status"] == "closed":
            assert "totalPrice" in s and "session_end" in s and "process_end" in s
            assert s["kwh"] >= before[sid]["kwh"]


def test_late_updates_correct_old_sessions(make_simulator: Any) -> None:
    with ApiClient(make_simulator(sizes=SIZES)) as client:
        before, t0 = sessions(client), clock(client)
        summary = client.admin("POST", "advance", {"minutes": 3 * 24 * 60}).json()
        after = sessions(client)
    assert summary["late_updates"] > 0
    corrected = [
        sid
        for sid, s in before.items()
        if s["status"] == "closed" and after[sid]["kwh"] != s["kwh"] and parse(s["session_end"]) < t0
    ]
    assert len(corrected) >= 1
    for sid in corrected:
        assert after[sid]["kwh"] < before[sid]["kwh"]
        assert after[sid]["totalPrice"]["netAmount"] <= before[sid]["totalPrice"]["netAmount"]
        assert after[sid]["meter_stop"] - after[sid]["meter_start"] == round(after[sid]["kwh"] * 1000)


def test_tariffs_get_new_prices_and_stations_change_status(make_simulator: Any) -> None:
    with ApiClient(make_simulator(sizes=SIZES)) as client:
        org = client.organizations[0]
        stations_before = client.get_all(f"/organizations/id/{org}/stations", {"include_roaming": "true"})
        summary = client.admin("POST", "advance", {"minutes": 120 * 24 * 60}).json()
        stations_after = client.get_all(f"/organizations/id/{org}/stations", {"include_roaming": "true"})
        tariffs = [
            client.get(f"/organizations/id/{o}/tariffs/id/{t['id']}").json()
            for o in client.organizations
            for t in client.get_all(f"/organizations/id/{o}/tariffs")
        ]
    assert summary["tariff_changes"] > 0
    retired = [p for t in tariffs for p in t["prices"] if not p["active"]]
    assert retired
    for tariff in tariffs:
        for charging_type in ("AC", "DC"):
            assert sum(1 for p in tariff["prices"] if p["active"] and p["rule_charging_type"] == charging_type) == 1
    statuses_before = [c["status"] for s in stations_before for c in s["connectors"]]
    statuses_after = [c["status"] for s in stations_after for c in s["connectors"]]
    assert statuses_before != statuses_after


def test_advance_is_deterministic(make_simulator: Any) -> None:
    def run() -> bytes:
        with ApiClient(make_simulator(sizes=SIZES)) as client:
            for minutes in (30, 240, 1440):
                client.admin("POST", "advance", {"minutes": minutes})
            org = client.organizations[1]
            return client.get(
                f"/organizations/id/{org}/sessions", {"order_by": "sessionId", "page_size": 100000}
            ).content

    assert run() == run()


def test_advance_rejects_bad_bodies(make_simulator: Any) -> None:
    with ApiClient(make_simulator(sizes=SIZES)) as client:
        for body in ({}, {"minutes": 0}, {"minutes": -5}, {"minutes": "10"}, {"minutes": 1.5}, {"minutes": True}, [1]):
            response = client.admin("POST", "advance", body)
            assert response.status_code == 400, body
            assert response.json()["error_code"] == "validation_error"
        assert client.admin("POST", "advance", {"minutes": 1}).status_code == 200
