"""Pagination, ordering and filtering of every list endpoint, checked against the full lists.

Each ordering is checked in both directions from the documents themselves; each filter by
comparing its answer with filtering the unfiltered list here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from simulator import spec
from tests.api_client import ApiClient

JSON = dict[str, Any]
ORG = "DEMOTENANT"
BASE = f"/organizations/id/{ORG}"


def ts(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")


@pytest.fixture(scope="module")
def everything(api: ApiClient) -> JSON:
    stations = api.get_all(f"{BASE}/stations", {"include_roaming": "true"})
    details = {s["id"]: api.get(f"{BASE}/stations/id/{s['id']}").json() for s in stations}
    return {
        "sessions": api.get_all(f"{BASE}/sessions"),
        "stations": stations,
        "station_details": details,
        "members": api.get_all(f"{BASE}/members"),
        "tariffs": api.get_all(f"{BASE}/tariffs"),
    }


def ids_of(items: list[JSON], key: str = "session_id") -> set[Any]:
    return {item[key] for item in items}


# -- pagination ----------------------------------------------------------------------------
def test_pages_tile_the_list(api: ApiClient, everything: JSON) -> None:
    total = len(everything["sessions"])
    page_size = 300
    seen: list[str] = []
    pages = math.ceil(total / page_size)
    for page in range(1, pages + 1):
        response = api.get(f"{BASE}/sessions", {"page": page, "page_size": page_size, "order_by": "sessionId"})
        assert int(response.headers["X-Total-Count"]) == total
        batch = response.json()
        assert len(batch) == (page_size if page < pages else total - page_size * (pages - 1))
        seen += [s["session_id"] for s in batch]
    assert len(seen) == len(set(seen)) == total
    past = api.get(f"{BASE}/sessions", {"page": pages + 1, "page_size": page_size})
    assert past.json() == [] and int(past.headers["X-Total-Count"]) == total


def test_page_size_one_and_maximum(api: ApiClient, everything: JSON) -> None:
    one = api.get(f"{BASE}/sessions", {"page_size": 1, "page": 3, "order_by": "sessionId"}).json()
    everything_at_once = api.get(f"{BASE}/sessions", {"page_size": 1_000_000, "order_by": "sessionId"}).json()
    assert len(everything_at_once) == len(everything["sessions"])
    assert one == [everything_at_once[2]]


def test_default_page_size_is_50(api: ApiClient) -> None:
    assert len(api.get(f"{BASE}/sessions").json()) == 50


# -- ordering ------------------------------------------------------------------------------
def _session_key(everything: JSON, order_by: str) -> Callable[[JSON], Any]:
    evse_station = {
        c["evseid"]: d for d in everything["station_details"].values() for c in d["connectors"]
    }  # evse id -> station
    evse_connector = {c["evseid"]: c for d in everything["station_details"].values() for c in d["connectors"]}
    keys: dict[str, Callable[[JSON], Any]] = {
        "sessionId": lambda s: s["session_id"],
        "emp": lambda s: s["emp"],
        "ownerId": lambda s: s["location"]["owner"],
        "chargingStationId": lambda s: evse_station[s["location"]["evse_id"]]["station_id"],
        "pointScmId": lambda s: s["charging_point_id"],
        "evseid": lambda s: s["location"]["evse_id"],
        "status": lambda s: s["status"],
        "sessionBegin": lambda s: ts(s["session_begin"]) if "session_begin" in s else None,
        "sessionEnd": lambda s: ts(s["session_end"]) if "session_end" in s else None,
        "tariff": lambda s: s.get("tariff"),
        "price": lambda s: s["totalPrice"]["grossAmount"] if "totalPrice" in s else None,
        "kwh": lambda s: s["kwh"],
        "chargingSessionType": lambda s: s["identification_type"],
        "chargingType": lambda s: s["location"]["charging_type"],
        "plugType": lambda s: evse_connector[s["location"]["evse_id"]]["plug_types"][0],
        "country": lambda s: s["location"]["address"]["country"],
        "city": lambda s: s["location"]["address"]["city"],
        "zipCode": lambda s: s["location"]["address"]["zip_code"],
        "creationDate": lambda s: ts(s["creation_date"]),
        "updateDate": lambda s: ts(s["update_date"]),
    }
    return keys[order_by]


def assert_ordered(values: list[Any], descending: bool) -> None:
    present = [v for v in values if v is not None]
    missing_at = [i for i, v in enumerate(values) if v is None]
    assert missing_at == list(range(len(present), len(values))), "missing values sort last"
    assert present == sorted(present, reverse=descending)


@pytest.mark.parametrize("order_by", spec.parameter_enum("/organizations/id/{organizationId}/sessions", "order_by"))
@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_sessions_ordering(api: ApiClient, everything: JSON, order_by: str, direction: str) -> None:
    listed = api.get(
        f"{BASE}/sessions", {"order_by": order_by, "order_direction": direction, "page_size": 1_000_000}
    ).json()
    assert len(listed) == len(everything["sessions"])
    key = _session_key(everything, order_by)
    assert_ordered([key(s) for s in listed], direction == "desc")


def test_session_default_order_is_newest_first(api: ApiClient) -> None:
    for params in ({}, {"order_direction": ""}):
        listed = api.get(f"{BASE}/sessions", {**params, "page_size": 500}).json()
        assert_ordered([ts(s["creation_date"]) for s in listed], descending=True)


STATION_KEYS: dict[str, Callable[[JSON], Any]] = {
    "station_id": lambda s: s["station_id"],
    "status_update": lambda s: max(ts(c["status_update"]) for c in s["connectors"]),
    "address_zip_code": lambda s: s["address"]["zip_code"],
    "address_city": lambda s: s["address"]["city"],
}


@pytest.mark.parametrize("order_by", spec.parameter_enum("/organizations/id/{organizationId}/stations", "order_by"))
@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_stations_ordering(api: ApiClient, order_by: str, direction: str) -> None:
    params = {"order_by": order_by, "order_direction": direction, "include_roaming": "true", "page_size": 1000}
    listed = api.get(f"{BASE}/stations", {**params, "lat": "52.52", "lon": "13.405"}).json()
    if order_by == "distance":
        key: Callable[[JSON], Any] = lambda s: math.hypot(  # noqa: E731
            s["coordinates"]["latitude"] - 52.52,
            (s["coordinates"]["longitude"] - 13.405) * math.cos(math.radians(52.5)),
        )
        values = [key(s) for s in listed]
        assert values == sorted(values, reverse=direction == "desc") or all(
            abs(a - b) < 1e-4 for a, b in zip(values, sorted(values, reverse=direction == "desc"), strict=True)
        )
    else:
        assert_ordered([STATION_KEYS[order_by](s) for s in listed], direction == "desc")


def test_station_defaults_are_zip_code_ascending(api: ApiClient) -> None:
    listed = api.get(f"{BASE}/stations", {"include_roaming": "true", "page_size": 1000}).json()
    assert_ordered([s["address"]["zip_code"] for s in listed], descending=False)


@pytest.mark.parametrize("order_by", ["created", "email", "status"])
@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_members_ordering(api: ApiClient, order_by: str, direction: str) -> None:
    listed = api.get(f"{BASE}/members", {"order_by": order_by, "order_direction": direction, "page_size": 1000}).json()
    key: Callable[[JSON], Any] = {
        "created": lambda m: ts(m["account"]["created"]),
        "email": lambda m: m["email"],
        "status": lambda m: m["status"],
    }[order_by]
    assert_ordered([key(m) for m in listed], direction == "desc")


@pytest.mark.parametrize("order_by", ["priority", "name", "active_from_date", "active_until_date"])
@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_tariffs_ordering(api: ApiClient, order_by: str, direction: str) -> None:
    listed = api.get(f"{BASE}/tariffs", {"order_by": order_by, "order_direction": direction}).json()
    key: Callable[[JSON], Any] = {
        "priority": lambda t: t["priority"],
        "name": lambda t: next(n["text"] for n in t["name"] if n["language"] == "en"),
        "active_from_date": lambda t: ts(t["active_from_date"]),
        "active_until_date": lambda t: ts(t["active_until_date"]),
    }[order_by]
    assert_ordered([key(t) for t in listed], direction == "desc")


@pytest.mark.parametrize("order_by", ["id", "caseNumber", "title", "status", "createdAt"])
@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_cases_ordering(api: ApiClient, everything: JSON, order_by: str, direction: str) -> None:
    station = max(everything["stations"], key=lambda s: s["id"] % 7)  # any station; cases vary per station
    for st in everything["stations"]:
        cases = api.get(f"{BASE}/stations/id/{st['id']}/cases", {"page_size": 100}).json()
        if len(cases) >= 2:
            station = st
            break
    listed = api.get(
        f"{BASE}/stations/id/{station['id']}/cases", {"order_by": order_by, "order_direction": direction}
    ).json()
    key: Callable[[JSON], Any] = (lambda c: ts(c["createdAt"])) if order_by == "createdAt" else (lambda c: c[order_by])
    assert_ordered([key(c) for c in listed], direction == "desc")


# -- session filters -----------------------------------------------------------------------
def session_filter_cases(everything: JSON) -> list[tuple[dict[str, Any], Callable[[JSON], bool]]]:
    sessions = everything["sessions"]
    sample = next(s for s in sessions if s["status"] == "closed" and s["identification_type"] == "rfid")
    evse = sample["location"]["evse_id"]
    return [
        ({"status": ["error", "canceled"]}, lambda s: s["status"] in ("error", "canceled")),
        ({"status": ["no-such-status"]}, lambda s: False),
        ({"identification_type": ["rfid", "contract_id"]}, lambda s: s["identification_type"] in ("rfid", "contract_id")),
        ({"evseid": evse}, lambda s: s["location"]["evse_id"] == evse),
        ({"charge_point_id": [sample["charge_point_id"]]}, lambda s: s["charge_point_id"] == sample["charge_point_id"]),
        ({"charging_point_id": sample["charging_point_id"]}, lambda s: s["charging_point_id"] == sample["charging_point_id"]),
        ({"tariffId": sample["tariff"]}, lambda s: s.get("tariff") == sample["tariff"]),
        ({"priceModelId": sample["price_model"]}, lambda s: s.get("price_model") == sample["price_model"]),
        ({"identification": sample["identification"]}, lambda s: s["identification"] == sample["identification"]),
        ({"organization_type": ["emp"]}, lambda s: s["emp"] == "demo"),
        ({"organization_type": ["cpo"]}, lambda s: True),
        ({"owner_id": ["demo"]}, lambda s: True),
        ({"owner_id": ["someone"]}, lambda s: False),
        ({"search": sample["session_id"][:6]}, lambda s: s["session_id"].startswith(sample["session_id"][:6])),
        ({"search": sample["location"]["address"]["city"]}, lambda s: s["location"]["address"]["city"] == sample["location"]["address"]["city"]),
    ]  # fmt: skip


def test_session_filters(api: ApiClient, everything: JSON) -> None:
    for params, keep in session_filter_cases(everything):
        answered = api.get_all(f"{BASE}/sessions", params)
        expected = [s for s in everything["sessions"] if keep(s)]
        assert ids_of(answered) == ids_of(expected), params
        if "search" not in params:
            assert expected or params.get("status") == ["no-such-status"] or params.get("owner_id") == ["someone"], (
                params
            )


def _start(s: JSON) -> datetime:
    return ts(s.get("session_begin", s["creation_date"]))


def test_date_picker_filters_on_session_start(api: ApiClient, everything: JSON) -> None:
    since, until = "2026-09-01T00:00:00+0200", "2026-10-01T00:00:00+0200"
    answered = api.get_all(f"{BASE}/sessions", {"date_picker_since": since, "date_picker_until": until})
    expected = [s for s in everything["sessions"] if ts(since) <= _start(s) < ts(until)]
    assert expected and ids_of(answered) == ids_of(expected)
    # an unencoded "+" arrives as a space, which the reference's pattern accepts
    raw = api.http.get(
        f"{api.simulator.api_url}{BASE}/sessions?date_picker_since=2026-09-01T00:00:00+0200&page_size=1",
        headers={"Authorization": f"Bearer {api.token}"},
    )
    assert raw.status_code == 200
    assert int(raw.headers["X-Total-Count"]) == sum(1 for s in everything["sessions"] if _start(s) >= ts(since))


# -- station filters -----------------------------------------------------------------------
def test_roaming_stations_need_include_roaming(api: ApiClient, everything: JSON) -> None:
    default = api.get_all(f"{BASE}/stations")
    assert ids_of(default, "id") == {s["id"] for s in everything["stations"] if not s["roaming"]}
    assert any(s["roaming"] for s in everything["stations"])


def station_filter_cases(everything: JSON) -> list[tuple[dict[str, Any], Callable[[JSON], bool]]]:
    details = everything["station_details"]
    grouped = next(d for d in details.values() if any(c["charging_groups"] for c in d["connectors"]))
    group_id = str(next(c for c in grouped["connectors"] if c["charging_groups"])["charging_groups"][0]["id"])
    site = grouped["charging_site_id"]
    city = grouped["address"]["city"]

    def conns(s: JSON) -> list[JSON]:
        return list(details[s["id"]]["connectors"])

    return [
        ({"charging_type": "DC"}, lambda s: any(c["charging_type"] == "DC" for c in s["connectors"])),
        ({"plug_types": "CHADEMO,SCHUKO"}, lambda s: any({"CHADEMO", "SCHUKO"} & set(c["plug_types"]) for c in s["connectors"])),
        ({"power_range": "50-150"}, lambda s: any(50 <= c["power"] <= 150 for c in s["connectors"])),
        ({"status": "FREE"}, lambda s: any(c["status"] == "FREE" for c in s["connectors"])),
        ({"auth_type": "nfc_terminal"}, lambda s: "nfc_terminal" in s["authentication_types"]),
        ({"onboarded": "false"}, lambda s: s["onboarding"] != "done"),
        ({"charging_provider": "hubject"}, lambda s: s["charging_provider"] == "hubject"),
        ({"point_groups": group_id}, lambda s: any(str(g["id"]) == group_id for c in conns(s) for g in c["charging_groups"])),
        ({"has_point_group": "false"}, lambda s: not any(c["charging_groups"] for c in conns(s))),
        ({"charging_sites": site}, lambda s: s["charging_site_id"] == site),
        ({"search": city}, lambda s: city.lower() in f"{s['station_id']} {s['address']['city']} {s['address']['zip_code']} {s['address']['street']} {s['charging_site_name']}".lower()),
        ({"owner_id": "demo"}, lambda s: True),
    ]  # fmt: skip


def test_station_filters(api: ApiClient, everything: JSON) -> None:
    for params, keep in station_filter_cases(everything):
        answered = api.get_all(f"{BASE}/stations", {**params, "include_roaming": "true"})
        expected = [s for s in everything["stations"] if keep(s)]
        assert ids_of(answered, "id") == ids_of(expected, "id"), params


def test_distance_filter(api: ApiClient, everything: JSON) -> None:
    station = everything["stations"][0]
    lat, lon = station["coordinates"]["latitude"], station["coordinates"]["longitude"]
    near = api.get_all(
        f"{BASE}/stations", {"lat": str(lat), "lon": str(lon), "distance": "2000", "include_roaming": "true"}
    )
    assert station["id"] in ids_of(near, "id")
    for s in near:
        d_lat = (s["coordinates"]["latitude"] - lat) * 111_195
        d_lon = (s["coordinates"]["longitude"] - lon) * 111_195 * math.cos(math.radians(lat))
        assert math.hypot(d_lat, d_lon) <= 2000 * 1.01
    assert len(near) < len(everything["stations"])


@pytest.mark.parametrize(
    "params",
    [
        {"point_groups": "10", "has_point_group": "true"},
        {"distance": "100"},
        {"order_by": "distance"},
        {"lat": "52.5"},
    ],
)
def test_station_filter_combinations_the_reference_forbids(api: ApiClient, params: dict[str, str]) -> None:
    response = api.get(f"{BASE}/stations", params)
    assert response.status_code == 400
    assert response.json()["error_code"] == "validation_error"


# -- members, tariffs, cases ---------------------------------------------------------------
def test_member_filters(api: ApiClient, everything: JSON) -> None:
    members = everything["members"]
    someone = members[5]
    cases: list[tuple[dict[str, Any], Callable[[JSON], bool]]] = [
        ({"member_status": ["active", "pending"]}, lambda m: m["status"] in ("active", "pending")),
        ({"account_status": ["BLOCKED"]}, lambda m: m["account"]["status"] == "BLOCKED"),
        ({"has_member_roles": "true"}, lambda m: any(g["rights"] for g in m["member_groups"])),
        ({"has_member_roles": "false"}, lambda m: not any(g["rights"] for g in m["member_groups"])),
        ({"member_group_ids": ["demo-fleet"]}, lambda m: any(g["id"] == "demo-fleet" for g in m["member_groups"])),
        ({"search": someone["email"][:8]}, lambda m: someone["email"][:8] in f"{m['email']} {m['account']['name']} {m['account']['account_id']}".lower()),
    ]  # fmt: skip
    for params, keep in cases:
        answered = api.get_all(f"{BASE}/members", params)
        assert ids_of(answered, "id") == {m["id"] for m in members if keep(m)}, params


def test_tariff_filters(api: ApiClient, everything: JSON) -> None:
    tariffs = everything["tariffs"]
    cases: list[tuple[dict[str, Any], Callable[[JSON], bool]]] = [
        ({"types": "unregistered"}, lambda t: t["tariff_type"] == "direct_payment"),
        ({"types": ["customer", "member"]}, lambda t: t["tariff_type"] in ("customer", "member")),
        ({"types": ""}, lambda t: True),
        ({"roaming_provider": "hubject"}, lambda t: t["roaming_platform"] == "hubject"),
        ({"status": "active"}, lambda t: t["active"]),
        ({"status": "inactive"}, lambda t: not t["active"]),
        ({"marketplace_ids": "2"}, lambda t: 2 in t["marketplace_ids"]),
    ]
    for params, keep in cases:
        answered = api.get_all(f"{BASE}/tariffs", params)
        assert ids_of(answered, "id") == {t["id"] for t in tariffs if keep(t)}, params


def test_accept_language_picks_the_tariff_name(api: ApiClient) -> None:
    german = api.get(f"{BASE}/tariffs", headers={"Accept-Language": "de-DE"}).json()
    assert all([n["language"] for n in t["name"]] == ["de"] for t in german)
    both = api.get(f"{BASE}/tariffs").json()
    assert all({n["language"] for n in t["name"]} == {"en", "de"} for t in both)


def test_case_status_filter(api: ApiClient, everything: JSON) -> None:
    checked = 0
    for station in everything["stations"]:
        cases = api.get(f"{BASE}/stations/id/{station['id']}/cases").json()
        closed = api.get(f"{BASE}/stations/id/{station['id']}/cases", {"status": ["Closed"]}).json()
        assert closed == [c for c in cases if c["status"] == "Closed"]
        checked += len(cases)
    assert checked > 0
