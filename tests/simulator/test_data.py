"""The generated world is one a domain expert would believe, and it is deterministic.

Everything is read over HTTP, as a client sees it. Prices are recomputed here with an
independent implementation of the documented pricing rules (Decimal arithmetic, one session at
a time), so the simulator's vectorised engine is checked against a second opinion.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from simulator import spec
from simulator.reference_data import FRENCH_CITIES, GERMAN_CITIES
from tests.api_client import ApiClient

JSON = dict[str, Any]
CENT = Decimal("0.01")
DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")


def parse(ts: str) -> datetime:
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S%z")


@pytest.fixture(scope="module")
def world(api: ApiClient) -> JSON:
    """Everything the API serves, per organization."""
    data: JSON = {}
    for org in api.organizations:
        base = f"/organizations/id/{org}"
        stations = api.get_all(f"{base}/stations", {"include_roaming": "true"})
        details = {s["id"]: api.get(f"{base}/stations/id/{s['id']}").json() for s in stations}
        tariffs = [api.get(f"{base}/tariffs/id/{t['id']}").json() for t in api.get_all(f"{base}/tariffs")]
        models = {}
        for tariff in tariffs:
            for price in tariff["prices"]:
                model = api.get(f"{base}/tariffs/id/{tariff['id']}/prices/id/{price['id']}").json()
                models[model["price_id"]] = model | {"tariff_id": tariff["tariff_id"]}
        data[org] = {
            "stations": list(details.values()),
            "sessions": api.get_all(f"{base}/sessions", {"order_by": "sessionId"}),
            "tariffs": tariffs,
            "price_models": models,
            "members": api.get_all(f"{base}/members"),
        }
    return data


def all_sessions(world: JSON) -> list[JSON]:
    return [s for org in world.values() for s in org["sessions"]]


def connectors_by_evse(world: JSON) -> dict[str, tuple[JSON, JSON]]:
    return {c["evseid"]: (c, st) for org in world.values() for st in org["stations"] for c in st["connectors"]}


# -- determinism ---------------------------------------------------------------------------
def test_same_seed_same_bytes_other_seed_other_bytes(make_simulator: Any) -> None:
    def snapshot(seed: int) -> list[bytes]:
        running = make_simulator(seed=seed)
        with ApiClient(running) as client:
            org = client.organizations[0]
            return [
                client.get(f"/organizations/id/{org}/{path}", {"page_size": 100000, **params}).content
                for path, params in (
                    ("sessions", {"order_by": "sessionId"}),
                    ("stations", {"include_roaming": "true"}),
                    ("members", {}),
                    ("tariffs", {}),
                )
            ]

    first, again, other = snapshot(7), snapshot(7), snapshot(8)
    assert first == again
    assert all(a != b for a, b in zip(first, other, strict=True))


# -- places and hardware -------------------------------------------------------------------
def test_stations_sit_in_real_cities_with_fitting_hardware(world: JSON) -> None:
    cities = {(c.name, c.zip_code): c for c in (*GERMAN_CITIES, *FRENCH_CITIES)}
    for org in world.values():
        for station in org["stations"]:
            address = station["address"]
            city = cities[(address["city"], address["zip_code"])]
            assert address["country"] == city.country
            assert station["timezone"] == city.timezone
            coordinates = station["coordinates"]
            assert abs(coordinates["latitude"] - city.latitude) < 0.2
            assert abs(coordinates["longitude"] - city.longitude) < 0.3
            assert 1 <= len(station["connectors"]) <= 4
            for connector in station["connectors"]:
                if connector["charging_type"] == "AC":
                    assert connector["power"] in (11.0, 22.0)
                    assert "TYPE_2" in connector["plug_types"]
                else:
                    assert 50 <= connector["power"] <= 300
                    assert "CCS" in connector["plug_types"]


def test_every_documented_session_enum_value_occurs(world: JSON) -> None:
    sessions = all_sessions(world)
    assert {s["identification_type"] for s in sessions} == set(spec.enum("ChargingSessionInfo", "identification_type"))
    statuses = Counter(s["status"] for s in sessions)
    assert statuses["closed"] / len(sessions) > 0.9
    assert {"closed", "error", "canceled"} <= set(statuses)
    assert {s.get("roaming_provider") for s in sessions} == {None, "hubject", "eclearing"}
    errors = [s for s in sessions if s["status"] == "error"]
    assert errors and all(s["error_code"] in spec.enum("ChargingSessionInfo", "error_code") for s in errors)
    assert all("error_code" not in s for s in sessions if s["status"] == "closed")


# -- physics -------------------------------------------------------------------------------
def test_energy_duration_and_power_fit_the_connector(world: JSON) -> None:
    by_evse = connectors_by_evse(world)
    checked = 0
    for s in all_sessions(world):
        if s["status"] != "closed" or s["kwh"] == 0:
            continue
        connector, _ = by_evse[s["location"]["evse_id"]]
        assert s["location"]["charging_type"] == connector["charging_type"]
        seconds = (parse(s["session_end"]) - parse(s["session_begin"])).total_seconds()
        assert s["session_duration"] == int(seconds // 60)
        assert round(s["meter_stop"] - s["meter_start"]) == round(s["kwh"] * 1000)
        average_kw = s["kwh"] / (seconds / 3600)
        assert average_kw <= connector["power"] * 1.0001, s["session_id"]
        assert s["kwh"] < 100
        checked += 1
    assert checked > 3000


def test_no_overlaps_and_continuous_meters_per_evse(world: JSON) -> None:
    per_evse: dict[str, list[JSON]] = defaultdict(list)
    for s in all_sessions(world):
        per_evse[s["location"]["evse_id"]].append(s)
    for sessions in per_evse.values():
        sessions.sort(key=lambda s: parse(s["process_begin"]))
        for before, after in pairwise(sessions):
            assert "process_end" in before, "only the last session of a connector may still be open"
            assert parse(before["process_end"]) <= parse(after["process_begin"])
        meters = [s for s in sessions if "meter_start" in s]
        for before, after in pairwise(meters):
            assert after["meter_start"] >= before["meter_stop"]


def test_start_times_follow_daily_and_weekly_curves(world: JSON) -> None:
    by_evse = connectors_by_evse(world)
    hours: dict[str, Counter[int]] = {"AC": Counter(), "DC": Counter()}
    weekdays: Counter[int] = Counter()
    for s in all_sessions(world):
        _, station = by_evse[s["location"]["evse_id"]]
        local = parse(s["process_begin"]).astimezone(ZoneInfo(station["timezone"]))
        hours[s["location"]["charging_type"]][local.hour] += 1
        if s["location"]["charging_type"] == "AC":
            weekdays[local.weekday()] += 1
    night = sum(hours["AC"][h] for h in (2, 3, 4))
    morning = sum(hours["AC"][h] for h in (7, 8, 9))
    assert morning > 4 * night
    assert sum(hours["DC"][h] for h in (11, 12, 13)) > 4 * sum(hours["DC"][h] for h in (2, 3, 4))
    assert sum(weekdays[d] for d in range(5)) / 5 > sum(weekdays[d] for d in (5, 6)) / 2


# -- prices --------------------------------------------------------------------------------
def _round_qty(quantity: int, step: int, mode: str) -> Decimal:
    if mode == "EXACT" or step <= 1:
        return Decimal(quantity)
    rounding = ROUND_CEILING if mode == "UP" else ROUND_FLOOR
    return (Decimal(quantity) / step).quantize(Decimal(1), rounding=rounding) * step


def _restrictions_match(
    restrictions: JSON, local: datetime, energy_wh: int, duration_s: int, time_dimension: bool
) -> bool:
    minute = local.hour * 60 + local.minute
    if "start_time" in restrictions or "end_time" in restrictions:
        start = int(restrictions.get("start_time", "00:00")[:2]) * 60 + int(restrictions.get("start_time", "00:00")[3:])
        end = (
            int(restrictions.get("end_time", "00:00")[:2]) * 60 + int(restrictions.get("end_time", "00:00")[3:]) or 1440
        )
        inside = start <= minute < end if start < end else (minute >= start or minute < end)
        if not inside:
            return False
    if "day_of_week" in restrictions and DAYS[local.weekday()] not in restrictions["day_of_week"]:
        return False
    if not time_dimension:
        if duration_s < restrictions.get("min_duration", 0):
            return False
        if "max_duration" in restrictions and duration_s >= restrictions["max_duration"]:
            return False
    return True


def expected_price(model: JSON, energy_wh: int, duration_s: int, local: datetime) -> dict[str, Decimal]:
    """The documented pricing rules, written independently of simulator/pricing.py."""
    zero = Decimal(0)
    if model["free"]:
        return {"start": zero, "energy": zero, "time": zero, "total": zero, "tax": zero}
    energy_amount = zero
    time_amount = zero
    priced: set[str] = set()
    for element in model["elements"]:
        restrictions = {k: v for entry in element.get("restrictions", []) for k, v in entry.items()}
        for component in element["price_components"]:
            kind = component["type"]
            if kind in priced or not _restrictions_match(restrictions, local, energy_wh, duration_s, kind != "ENERGY"):
                continue
            priced.add(kind)
            price = Decimal(str(component["price"]))
            if kind == "ENERGY":
                qty = _round_qty(energy_wh, component["step_size"], model["rounding_mode_energy"])
                energy_amount = qty / 1000 * price
            else:
                low = restrictions.get("min_duration", 0)
                high = restrictions.get("max_duration", 10**12)
                window = min(max(duration_s, low), high) - low
                qty = _round_qty(window, component["step_size"], model["rounding_mode_time"])
                time_amount += qty / 60 * price
    start = Decimal(str(model["connection_fee"])) if duration_s >= model["tolerance_duration"] else zero
    energy = energy_amount.quantize(CENT, ROUND_HALF_UP)
    time = time_amount.quantize(CENT, ROUND_HALF_UP)
    total = start + energy + time
    tax = (total * Decimal(str(model["tax_rate"])) / 100).quantize(CENT, ROUND_HALF_UP)
    return {"start": start, "energy": energy, "time": time, "total": total, "tax": tax}


def money(value: float) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


def test_every_price_is_what_its_price_model_gives(world: JSON) -> None:
    by_evse = connectors_by_evse(world)
    checked = 0
    for org in world.values():
        for s in org["sessions"]:
            if s["status"] != "closed":
                assert "totalPrice" not in s
                continue
            model = org["price_models"][s["price_model"]]
            assert model["tariff_id"] == s["tariff"]
            assert model["rule_charging_type"] == s["location"]["charging_type"]
            _, station = by_evse[s["location"]["evse_id"]]
            begin = parse(s["session_begin"])
            duration = int((parse(s["session_end"]) - begin).total_seconds())
            energy_wh = round(s["kwh"] * 1000)
            want = expected_price(model, energy_wh, duration, begin.astimezone(ZoneInfo(station["timezone"])))
            total = s["totalPrice"]
            assert money(s["startFeePrice"]["netAmount"]) == want["start"], s["session_id"]
            assert money(s["energyDimensionsPrice"]["netAmount"]) == want["energy"], s["session_id"]
            assert money(s["timeDimensionsPrice"]["netAmount"]) == want["time"], s["session_id"]
            assert money(total["netAmount"]) == want["total"], s["session_id"]
            assert money(total["taxAmount"]) == want["tax"], s["session_id"]
            assert money(total["grossAmount"]) == want["total"] + want["tax"]
            assert Decimal(str(total["taxRate"])) * 100 == Decimal(str(model["tax_rate"]))
            checked += 1
    assert checked > 3000


def test_sessions_use_the_price_model_valid_at_their_start(world: JSON) -> None:
    changed = 0
    for org in world.values():
        for s in org["sessions"]:
            if "price_model" not in s:
                continue
            model = org["price_models"][s["price_model"]]
            started = parse(s["process_begin"])
            assert parse(model["creation_date"]) <= started
            if not model["active"]:
                assert started < parse(model["update_date"])
                changed += 1
    assert changed > 0, "some tariffs changed price during the simulated period"


def test_tax_rate_follows_the_country(world: JSON) -> None:
    by_evse = connectors_by_evse(world)
    for s in all_sessions(world):
        if "totalPrice" in s:
            country = by_evse[s["location"]["evse_id"]][1]["address"]["country"]
            assert s["totalPrice"]["taxRate"] == {"DE": 0.19, "FR": 0.2}[country]


def test_members_link_to_sessions_and_groups(world: JSON) -> None:
    for org in world.values():
        accounts = {m["account"]["account_id"] for m in org["members"]}
        customers = [s["customer"]["account_id"] for s in org["sessions"] if "account_id" in s.get("customer", {})]
        assert customers and set(customers) <= accounts
        assert all(m["member_groups"] for m in org["members"])


def test_sizes_are_exactly_what_was_asked(api: ApiClient) -> None:
    from tests.conftest import SMALL

    stats = api.admin("GET", "stats").json()
    assert stats["organizations"] == api.organizations == ["DEMOTENANT", "BORNES-ATLANTIQUE"]
    totals = stats["totals"]
    assert (totals["sessions"], totals["charging_stations"], totals["members"]) == (
        SMALL.sessions,
        SMALL.stations,
        SMALL.members,
    )
    for org, counts in stats["counts"].items():
        listed = int(api.get(f"/organizations/id/{org}/sessions", {"page_size": 1}).headers["X-Total-Count"])
        assert listed == counts["sessions"]
