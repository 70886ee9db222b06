"""Incremental runs read again only the details whose list row changed; sweeps read them all.

Against the simulator: its `advance` changes connector status (in the station list) and never
a member's payment method, so between sweeps a run must read no member detail and only the
details of the stations whose list row changed in more than its connectors' status, and still
leave the warehouse equal to the API (the statuses written from the listing).
"""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from dlt.common import json

from pipelines import load
from sources.wirelane import changes, source
from sources.wirelane.statuses import without_status
from tests.pipeline.api_equality import (
    LOADED_CONNECTOR_STATUSES,
    assert_equal,
    duckdb_fetch,
    listed_connector_statuses,
)
from tests.pipeline.conftest import Workspace

JSON = dict[str, Any]
DETAIL_OPERATIONS = (
    "getOrganizationMemberPaymentMethod",
    "getMemberSubscription",
    "organizationFindChargingStation",
    "organizationListStationCases",
    "getOrganizationChargingStationConnection",
    "getOrganizationChargingStationMaintenance",
)


@pytest.fixture
def ws(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv("SOURCES__WIRELANE__PSEUDONYMIZE", "false")  # compared with the API in clear
    monkeypatch.setenv("SOURCES__WIRELANE__REQUESTS_PER_SECOND", "0")
    return workspace


def detail_requests(ws: Workspace, operations: tuple[str, ...] = DETAIL_OPERATIONS) -> dict[str, int]:
    return {operation: ws.requests(operation) for operation in operations}


def since(before: dict[str, int], ws: Workspace) -> dict[str, int]:
    """The requests of each operation in `before` made since it was counted."""
    return {operation: ws.requests(operation) - count for operation, count in before.items()}


def station_listing(ws: Workspace) -> dict[tuple[str, str], JSON]:
    return {
        (org, station["id"]): station
        for org in ws.api.organizations
        for station in ws.api.get_all(f"/organizations/id/{org}/stations", {"include_roaming": "true"})
    }


def members_with_accounts(ws: Workspace) -> int:
    return sum(
        1
        for org in ws.api.organizations
        for member in ws.api.get_all(f"/organizations/id/{org}/members")
        if (member.get("account") or {}).get("account_id")
    )


def test_between_sweeps_only_changed_list_rows_are_read_again(ws: Workspace) -> None:
    load.run("duckdb")
    stations_before = station_listing(ws)
    before = detail_requests(ws)
    changed = 0
    for _ in range(6):  # until some connector status changed
        ws.api.admin("POST", "advance", {"minutes": 90}).raise_for_status()
        listing = station_listing(ws)
        changed = sum(1 for key, row in listing.items() if stations_before.get(key) != row)
        if changed:
            break
    assert changed, "the simulator changed no station in nine hours"

    load.run("duckdb")

    read = since(before, ws)
    assert read["getOrganizationMemberPaymentMethod"] == 0
    assert read["getMemberSubscription"] == 0
    # the statuses come from the listing; only a station changed in more is read again
    reread = sum(
        1 for key, row in listing.items() if without_status(stations_before.get(key) or {}) != without_status(row)
    )
    assert read["organizationFindChargingStation"] == reread < changed
    # a status change is not a change of the station's cases, connection chain or maintenance
    assert read["organizationListStationCases"] == 0
    assert read["getOrganizationChargingStationConnection"] == 0
    assert_equal(duckdb_fetch(str(ws.duckdb_file)), ws.api)
    assert set(ws.query(LOADED_CONNECTOR_STATUSES)) == listed_connector_statuses(ws.api)


def test_a_sweep_reads_every_detail_again(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    refresh_s = 20.0
    monkeypatch.setenv("SOURCES__WIRELANE__DETAIL_REFRESH_H", str(refresh_s / 3600))
    swept = time.time()
    load.run("duckdb")
    before = detail_requests(ws)
    load.run("duckdb")
    assert time.time() - swept < refresh_s, "the second run began after the refresh interval: make it longer"
    assert since(before, ws)["getOrganizationMemberPaymentMethod"] == 0, "no sweep within the interval"
    time.sleep(max(0.0, swept + refresh_s + 0.5 - time.time()))
    before = detail_requests(ws)
    load.run("duckdb")
    read = since(before, ws)
    stations = len(station_listing(ws))
    assert read["getOrganizationMemberPaymentMethod"] == members_with_accounts(ws)
    assert read["organizationFindChargingStation"] == stations
    assert read["getOrganizationChargingStationConnection"] == stations


def test_zero_refresh_reads_every_detail_on_every_run(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__WIRELANE__DETAIL_REFRESH_H", "0")
    load.run("duckdb")
    before = detail_requests(ws)
    load.run("duckdb")
    assert since(before, ws)["getMemberSubscription"] == members_with_accounts(ws)


def test_a_full_refresh_sweeps(ws: Workspace) -> None:
    load.run("duckdb")
    before = detail_requests(ws)
    load.run("duckdb", full_refresh=True)
    assert since(before, ws)["organizationFindChargingStation"] == len(station_listing(ws))
    assert_equal(duckdb_fetch(str(ws.duckdb_file)), ws.api)


def test_between_sweeps_records_gone_from_the_api_are_marked_deleted(ws: Workspace) -> None:
    load.run("duckdb")
    org = ws.api.organizations[0]
    member = next(m for m in ws.api.get_all(f"/organizations/id/{org}/members") if m.get("account"))
    account = member["account"]["account_id"]
    station = ws.api.get(f"/organizations/id/{org}/stations", {"page_size": 1}).json()[0]
    removed = {"organization": org, "members": [account], "stations": [station["id"]]}
    assert ws.api.admin("POST", "remove", removed).json() == {"members": 1, "stations": 1}
    before = detail_requests(ws)

    load.run("duckdb")

    assert since(before, ws)["getOrganizationMemberPaymentMethod"] == 0, "no sweep: nothing read again"
    for table in ("members", "member_payment_methods", "member_subscriptions"):
        gone = ws.query(f"select account_id from wirelane_raw.{table} where _wl_deleted_at is not null")
        had = ws.query(f"select count(*) from wirelane_raw.{table} where account_id = '{account}'")[0][0]
        assert gone == ([(account,)] if had else []), table
    assert ws.query(
        "select organization_id, id from wirelane_raw.charging_stations where _wl_deleted_at is not null"
    ) == [(org, station["id"])]
    assert_equal(duckdb_fetch(str(ws.duckdb_file)), ws.api)


def test_records_back_in_the_listing_lose_their_deletion_mark(ws: Workspace) -> None:
    """A member or station removed and brought back unchanged, between sweeps: its row is the
    one remembered, but it was marked gone meanwhile, so it is loaded again, without the mark."""
    load.run("duckdb")
    org = ws.api.organizations[0]
    member = next(m for m in ws.api.get_all(f"/organizations/id/{org}/members") if m.get("account"))
    station = ws.api.get(f"/organizations/id/{org}/stations", {"page_size": 1}).json()[0]
    body = {"organization": org, "members": [member["account"]["account_id"]], "stations": [station["id"]]}
    assert ws.api.admin("POST", "remove", body).json() == {"members": 1, "stations": 1}
    assert load.run("duckdb").rows.get("members", 0) == 0, "unchanged members are not loaded again"
    marked = "select count(*) from wirelane_raw.{} where _wl_deleted_at is not null"
    assert ws.query(marked.format("members"))[0][0] == 1 and ws.query(marked.format("charging_stations"))[0][0] == 1
    assert ws.api.admin("POST", "restore", body).json() == {"members": 1, "stations": 1}

    assert load.run("duckdb").rows.get("members") == 1, "the member back, and only it"

    for table in ("members", "member_payment_methods", "member_subscriptions", "charging_stations"):
        assert ws.query(marked.format(table))[0][0] == 0, table
    assert_equal(duckdb_fetch(str(ws.duckdb_file)), ws.api)


def test_a_sweep_reads_member_and_station_listings_in_short_pages(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a sweep the detail tables' listings ask for pages of `LISTING_PAGE_SIZE` rows, which
    bounds what their transformers hold at once; between sweeps, at the configured size (only
    changed rows are read, and each page is a request); nothing is lost either way."""
    monkeypatch.setattr(source, "LISTING_PAGE_SIZE", 7)
    listings = ("getMembers", "organizationFindChargingStations")
    before = detail_requests(ws, listings)
    load.run("duckdb")
    swept = since(before, ws)
    before = detail_requests(ws, listings)
    load.run("duckdb")
    between = since(before, ws)

    members = [len(ws.api.get_all(f"/organizations/id/{org}/members")) for org in ws.api.organizations]
    stations = [sum(1 for (listed, _) in station_listing(ws) if listed == org) for org in ws.api.organizations]
    assert 7 < max(members) < 1000 and 7 < max(stations) < 1000, "sizes for several short pages and one full one"
    assert swept == {
        "getMembers": sum(max(1, math.ceil(n / 7)) for n in members),
        "organizationFindChargingStations": sum(max(1, math.ceil(n / 7)) for n in stations),
    }
    assert between == {operation: len(ws.api.organizations) for operation in listings}
    assert_equal(duckdb_fetch(str(ws.duckdb_file)), ws.api)


def _state_file() -> Path:
    return Path(load.make_pipeline("duckdb").working_dir) / "state.json"


def _fingerprints(state: JSON) -> dict[str, dict[str, Any]]:
    resources = state["sources"]["wirelane"]["resources"]
    return {table: value["fingerprints"] for table, value in resources.items() if "fingerprints" in value}


def _listed_keys(ws: Workspace, org: str) -> dict[str, set[str]]:
    """Each detail table's record keys as the organization's listings show them."""
    members = ws.api.get_all(f"/organizations/id/{org}/members")
    accounts = {account for m in members if (account := (m.get("account") or {}).get("account_id"))}
    stations = {str(s["id"]) for s in ws.api.get_all(f"/organizations/id/{org}/stations", {"include_roaming": "true"})}
    return {
        "members": {str(m["id"]) for m in members},
        "member_payment_methods": accounts,
        "member_subscriptions": accounts,
        "charging_stations": stations,
        "station_cases": stations,
        "station_connection_chains": stations,
        "station_maintenance_windows": stations,
    }


def test_fingerprints_are_saved_once_per_distinct_set_as_compact_strings(ws: Workspace) -> None:
    """The state holds no record key in clear, only digests; tables fed by one listing share one
    saved set (members; member accounts; stations: three per organization); and every form an
    earlier version saved (a compact string per table, `digest key` lines, and before them a
    dict) is still read: no sweep after an upgrade."""
    load.run("duckdb")
    state = json.typed_loads(_state_file().read_text())
    saved, sets = _fingerprints(state), state["sources"]["wirelane"][changes.SETS_KEY]
    assert set(saved) == set(_listed_keys(ws, ws.api.organizations[0]))
    assert len(sets) == 3 * len(ws.api.organizations)
    assert all(value.startswith(changes.COMPACT) for value in sets.values())
    earlier: dict[str, dict[str, int]] = {}
    for table, prints in saved.items():
        assert set(prints) == set(ws.api.organizations)
        for org, value in prints.items():
            assert isinstance(value, str) and value.startswith(changes.REFERENCE)
            keys = _listed_keys(ws, org)[table]
            assert not any(key in sets[value[len(changes.REFERENCE) :]] for key in keys if len(key) > 6), (
                "no key in clear"
            )
            remembered = changes.stored_fingerprints(value, sets)
            by_digest = {changes.key_digest(key): key for key in keys}
            assert remembered.keys() == by_digest.keys(), (table, org)
            as_before = {by_digest[key]: f"{digest:016x}" for key, digest in remembered.items()}
            lines = "\n".join(f"{digest} {key}" for key, digest in as_before.items())
            compact = sets[value[len(changes.REFERENCE) :]]
            # as the versions before saved them
            prints[org] = as_before if table.startswith("station") else lines if table == "members" else compact
            earlier.setdefault(table, {})[org] = len(remembered)
    _state_file().write_text(json.typed_dumps(state))
    before = detail_requests(ws)
    load.run("duckdb")
    assert set(since(before, ws).values()) == {0}, "read as remembered: nothing changed, nothing swept"
    state = json.typed_loads(_state_file().read_text())
    again, sets = _fingerprints(state), state["sources"]["wirelane"][changes.SETS_KEY]
    assert {
        t: {o: len(changes.stored_fingerprints(v, sets)) for o, v in p.items()} for t, p in again.items()
    } == earlier
    assert all(value.startswith(changes.REFERENCE) for prints in again.values() for value in prints.values())
    assert len(sets) == 3 * len(ws.api.organizations)


def test_fingerprints_come_back_from_the_warehouse(ws: Workspace) -> None:
    """A fresh container: dlt restores the state from the warehouse's state row, strings and all."""
    load.run("duckdb")
    shutil.rmtree(load.make_pipeline("duckdb").working_dir)
    before = detail_requests(ws)
    load.run("duckdb")
    assert since(before, ws)["getOrganizationMemberPaymentMethod"] == 0, "no sweep: the fingerprints came back"


def test_a_table_whose_saved_set_is_gone_sweeps(ws: Workspace) -> None:
    """A reference to a set the source's state no longer holds (the state edited, a set lost)
    reads as no fingerprints: that table reads every record again, the others only the changed."""
    load.run("duckdb")
    state = json.typed_loads(_state_file().read_text())
    source = state["sources"]["wirelane"]
    stations = source["resources"]["charging_stations"]["fingerprints"]
    for reference in stations.values():
        source[changes.SETS_KEY].pop(reference[len(changes.REFERENCE) :])
    _state_file().write_text(json.typed_dumps(state))
    before = detail_requests(ws)
    load.run("duckdb")
    read = since(before, ws)
    listed = len(station_listing(ws))
    # the four station tables shared the set: all of them sweep
    assert read["organizationFindChargingStation"] == read["getOrganizationChargingStationConnection"] == listed
    assert read["getOrganizationMemberPaymentMethod"] == 0
