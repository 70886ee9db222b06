"""Filtering and ordering of list endpoints, as the reference's query parameters describe.

Sessions are filtered and sorted with numpy over the column store; the smaller entity lists
in plain Python. Every ordering breaks ties by the entity's internal id, ascending, so pages
are stable; missing values sort last in both directions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from simulator import timefmt
from simulator.sessions import IDENT, IDENTIFICATION_TYPES, NONE, STATUS, STATUSES
from simulator.validation import ApiError
from simulator.world import JSON, Member, Organization, Station, Tariff, World

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def _bad(name: str, problem: str) -> ApiError:
    return ApiError(400, "validation_error", f"Invalid query parameter '{name}': {problem}")


# -- sessions ------------------------------------------------------------------------------
def _rank(values: Sequence[str]) -> IntArray:
    """Dense ranks of strings, for sorting by a text attribute through an index."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = np.empty(len(values), dtype=np.int64)
    for rank, i in enumerate(order):
        ranks[i] = rank
    return ranks


def _connector_attributes(world: World) -> dict[str, Any]:
    conns = world.connectors
    stations = world.stations
    orgs = world.organizations
    labels = {
        "chargingStationId": [stations[c.station].station_id for c in conns],
        "pointScmId": [c.document["scm_id"] for c in conns],
        "evseid": [c.document["evseid"] for c in conns],
        "chargingType": [c.charging_type for c in conns],
        "plugType": [c.document["plug_types"][0] for c in conns],
        "country": [stations[c.station].document["address"]["country"] for c in conns],
        "city": [stations[c.station].document["address"]["city"] for c in conns],
        "zipCode": [stations[c.station].document["address"]["zip_code"] for c in conns],
        "ownerId": [orgs[stations[c.station].org].tenant for c in conns],
    }
    search_text = [
        " ".join(
            (
                c.document["evseid"],
                f"{orgs[stations[c.station].org].country}WLNE{stations[c.station].id:06d}-{c.number}",
                stations[c.station].station_id,
                stations[c.station].document["address"]["city"],
                stations[c.station].document["address"]["zip_code"],
                stations[c.station].document["address"]["street"],
            )
        ).lower()
        for c in conns
    ]
    return {
        "ranks": {name: _rank(values) for name, values in labels.items()},
        "search": search_text,
        "charge_point_id": {
            f"{orgs[stations[c.station].org].country}WLNE{stations[c.station].id:06d}-{c.number}": c.index
            for c in conns
        },
        "scm_id": {c.document["scm_id"]: c.index for c in conns},
        "evseid": {c.document["evseid"]: c.index for c in conns},
    }


def connector_attributes(world: World) -> dict[str, Any]:
    # connectors never change after the build, so they are indexed once per world
    if "connectors" not in world.cache:
        world.cache["connectors"] = _connector_attributes(world)
    attributes: dict[str, Any] = world.cache["connectors"]
    return attributes


def _connector_mask(world: World, connectors: set[int]) -> BoolArray:
    wanted = np.zeros(len(world.connectors), dtype=np.bool_)
    wanted[list(connectors)] = True
    mask: BoolArray = wanted[world.sessions.connector]
    return mask


def session_filter(world: World, org: Organization, params: JSON, identification_of: Callable[[int], str]) -> IntArray:
    """Indices of the organization's sessions that match every given filter."""
    s = world.sessions
    attrs = connector_attributes(world)
    mask: BoolArray = s.org == org.index
    if "charge_point_id" in params:
        ids = params["charge_point_id"]
        mask &= _connector_mask(world, {attrs["charge_point_id"][i] for i in ids if i in attrs["charge_point_id"]})
    if "charging_point_id" in params:
        found = attrs["scm_id"].get(params["charging_point_id"])
        mask &= _connector_mask(world, {found} if found is not None else set())
    if "evseid" in params:
        mask &= _connector_mask(world, {attrs["evseid"][e] for e in params["evseid"] if e in attrs["evseid"]})
    start_key = np.where(s.begin != NONE, s.begin, s.creation)
    if "date_picker_since" in params:
        mask &= start_key >= timefmt.parse_api(params["date_picker_since"])
    if "date_picker_until" in params:
        mask &= start_key < timefmt.parse_api(params["date_picker_until"])
    if "identification_type" in params:
        mask &= np.isin(s.ident_type, [IDENT[t] for t in params["identification_type"]])
    if "status" in params:
        mask &= np.isin(s.status, [STATUS[x] for x in params["status"] if x in STATUS])
    if "organization_type" in params:
        roles = set(params["organization_type"])
        role_mask = np.zeros(s.n, dtype=np.bool_)
        if roles & {"cpo", "owner"}:
            role_mask |= True
        if "emp" in roles:
            role_mask |= s.emp == org.index
        mask &= role_mask
    if "owner_id" in params and org.tenant not in params["owner_id"] and org.id not in params["owner_id"]:
        mask &= False
    if "tariffId" in params:
        tariffs = [t.index for t in world.tariffs if t.tariff_id == params["tariffId"]]
        mask &= np.isin(s.tariff, tariffs)
    if "priceModelId" in params:
        models = [p.index for p in world.price_models if p.price_id == params["priceModelId"]]
        mask &= np.isin(s.price_model, models)
    if params.get("search"):
        term = params["search"].lower()
        matched = {i for i, text in enumerate(attrs["search"]) if term in text}
        by_text = _connector_mask(world, matched)
        hex_term = term.replace("-", "")
        if len(hex_term) >= 4 and all(ch in "0123456789abcdef" for ch in hex_term) and len(hex_term) <= 16:
            shift = np.uint64(64 - 4 * len(hex_term))
            by_text |= (s.id_hi >> shift) == np.uint64(int(hex_term, 16))
        mask &= by_text
    indices = np.flatnonzero(mask)
    if "identification" in params:
        wanted = params["identification"]
        indices = np.asarray([i for i in indices.tolist() if identification_of(i) == wanted], dtype=np.int64)
    return indices.astype(np.int64)


def session_sort_key(world: World, order_by: str) -> tuple[IntArray, BoolArray]:
    """A sortable integer key per session and which sessions lack the value."""
    s = world.sessions
    n = s.n
    missing: BoolArray = np.zeros(n, dtype=np.bool_)
    ranks = connector_attributes(world)["ranks"]
    key: IntArray
    if order_by == "sessionId":
        order = np.lexsort((s.id_lo, s.id_hi))
        key = np.empty(n, dtype=np.int64)
        key[order] = np.arange(n)
    elif order_by in ranks:
        key = ranks[order_by][s.connector]
    elif order_by == "emp":
        key = _rank(world.emp_parties)[s.emp]
    elif order_by == "status":
        key = _rank(STATUSES)[s.status]
    elif order_by == "chargingSessionType":
        key = _rank(IDENTIFICATION_TYPES)[s.ident_type]
    elif order_by == "tariff":
        tariff_ranks = _rank([t.tariff_id for t in world.tariffs] + [""])
        key = tariff_ranks[s.tariff]
        missing = s.tariff == NONE
    elif order_by == "price":
        key = np.where(s.total_net != NONE, s.total_net + s.total_tax, 0)
        missing = s.total_net == NONE
    elif order_by == "kwh":
        key = s.energy_wh.astype(np.int64)
    else:
        column = {
            "sessionBegin": "begin",
            "sessionEnd": "end",
            "creationDate": "creation",
            "updateDate": "update",
        }[order_by]
        key = s.column(column).astype(np.int64)
        missing = key == NONE
    return key.astype(np.int64), missing


def order_sessions(world: World, indices: IntArray, order_by: str, descending: bool) -> IntArray:
    key, missing = session_sort_key(world, order_by)
    k = key[indices]
    if descending:
        k = -k
    order = np.lexsort((indices, k, missing[indices]))
    result: IntArray = indices[order]
    return result


# -- stations ------------------------------------------------------------------------------
def _haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(a))


def station_list(world: World, org: Organization, params: JSON) -> list[Station]:
    if "point_groups" in params and "has_point_group" in params:
        raise _bad("has_point_group", "must not be combined with point_groups")
    origin: tuple[float, float] | None = None
    if "lat" in params or "lon" in params:
        if "lat" not in params or "lon" not in params:
            raise _bad("lat" if "lat" not in params else "lon", "lat and lon must be given together")
        try:
            origin = (float(params["lat"]), float(params["lon"]))
        except ValueError as error:
            raise _bad("lat", "not a number") from error
    if ("distance" in params or params.get("order_by") == "distance") and origin is None:
        raise _bad("distance" if "distance" in params else "order_by", "needs lat and lon")
    power: tuple[int, int] | None = None
    if "power_range" in params:
        low, high = (int(x) for x in params["power_range"].split("-"))
        power = (low, high)

    def conns(st: Station) -> list[JSON]:
        return [world.connectors[i].document | {"status": world.connectors[i].status} for i in st.connector_indices]

    result = []
    distances: dict[int, float] = {}
    for index in org.station_indices:
        st = world.stations[index]
        doc = st.document
        cs = conns(st)
        if st.roaming and not params.get("include_roaming", False):
            continue
        if origin is not None:
            distances[st.index] = _haversine_m(origin[0], origin[1], st.latitude, st.longitude)
            if "distance" in params and params["distance"] != "" and distances[st.index] > int(params["distance"]):
                continue
        if not _station_matches(params, org, doc, cs):
            continue
        if power is not None and not any(power[0] <= c["power"] <= power[1] for c in cs):
            continue
        if params.get("search"):
            term = params["search"].lower()
            haystack = " ".join(
                (doc["station_id"], doc["address"]["city"], doc["address"]["zip_code"],
                 doc["address"]["street"], doc["charging_site_name"])
            ).lower()  # fmt: skip
            if term not in haystack:
                continue
        result.append(st)

    order_by = params.get("order_by", "address_zip_code")
    keys: dict[str, Callable[[Station], Any]] = {
        "station_id": lambda st: st.station_id,
        "distance": lambda st: distances.get(st.index, 0.0),
        "status_update": lambda st: max(world.connectors[i].status_update for i in st.connector_indices),
        "address_zip_code": lambda st: st.document["address"]["zip_code"],
        "address_city": lambda st: st.document["address"]["city"],
    }
    return _ordered(result, keys[order_by], lambda st: st.id, params.get("order_direction", "asc") == "desc")


def _station_matches(params: JSON, org: Organization, doc: JSON, cs: list[JSON]) -> bool:
    """The list filters that look at the station document and its connectors."""
    checks: tuple[tuple[str, Callable[[Any], bool]], ...] = (
        ("auth_type", lambda v: bool(set(v) & set(doc["authentication_types"]))),
        ("owner_id", lambda v: doc["owner"] in v or org.id in v),
        ("charging_type", lambda v: any(c["charging_type"] in v for c in cs)),
        ("onboarded", lambda v: (doc["onboarding"] == "done") == v),
        ("charging_provider", lambda v: doc["charging_provider"] in v),
        ("plug_types", lambda v: any(set(c["plug_types"]) & set(v) for c in cs)),
        ("status", lambda v: any(c["status"] in v for c in cs)),
        ("point_groups", lambda v: any(str(g["id"]) in v for c in cs for g in c["charging_groups"])),
        ("has_point_group", lambda v: any(c["charging_groups"] for c in cs) == v),
        ("charging_sites", lambda v: doc["charging_site_id"] in v),
    )
    return all(name not in params or test(params[name]) for name, test in checks)


def _ordered(items: list[Any], key: Callable[[Any], Any], tie: Callable[[Any], Any], descending: bool) -> list[Any]:
    """Sort by key in either direction, always breaking ties by `tie` ascending."""
    by_tie = sorted(items, key=tie)
    return sorted(by_tie, key=key, reverse=descending)


# -- members -------------------------------------------------------------------------------
def member_list(world: World, org: Organization, params: JSON) -> list[Member]:
    result = []
    for index in org.member_indices:
        m = world.members[index]
        doc = m.document
        if "account_status" in params and doc["account"]["status"] not in params["account_status"]:
            continue
        if "member_status" in params and doc["status"] not in params["member_status"]:
            continue
        if "member_group_ids" in params and not set(m.group_ids) & set(params["member_group_ids"]):
            continue
        if "has_member_roles" in params:
            has_roles = any(g["rights"] for g in doc["member_groups"])
            if has_roles != params["has_member_roles"]:
                continue
        if params.get("search"):
            term = params["search"].lower()
            if term not in f"{doc['email']} {doc['account']['name']} {m.account_id}".lower():
                continue
        result.append(m)
    keys: dict[str, Callable[[Member], Any]] = {
        "created": lambda m: m.created,
        "email": lambda m: m.document["email"],
        "status": lambda m: m.document["status"],
    }
    order_by = params.get("order_by", "created")
    return _ordered(result, keys[order_by], lambda m: m.id, params.get("order_direction", "desc") == "desc")


# -- tariffs -------------------------------------------------------------------------------
TARIFF_TYPE_FILTER = {"unregistered": "direct_payment"}


def tariff_list(world: World, org: Organization, params: JSON, language: str) -> list[Tariff]:
    result = []
    types = params.get("types")
    wanted_types = None if types is None or "" in types else {TARIFF_TYPE_FILTER.get(t, t) for t in types}
    for index in org.tariff_indices:
        t = world.tariffs[index]
        doc = t.document
        if wanted_types is not None and t.tariff_type not in wanted_types:
            continue
        if "marketplace_ids" in params and not set(doc["marketplace_ids"]) & set(params["marketplace_ids"]):
            continue
        if "roaming_provider" in params and t.roaming_platform != params["roaming_provider"]:
            continue
        if "status" in params and ("active" if doc["active"] else "inactive") not in params["status"]:
            continue
        result.append(t)

    def name(t: Tariff) -> str:
        names = {n["language"]: n["text"] for n in t.document["name"]}
        return str(names.get(language, t.document["name"][0]["text"]))

    keys: dict[str, Callable[[Tariff], Any]] = {
        "priority": lambda t: t.document["priority"],
        "name": name,
        "active_from_date": lambda t: timefmt.parse_api(t.document["active_from_date"]),
        "active_until_date": lambda t: timefmt.parse_api(t.document["active_until_date"]),
    }
    order_by = params.get("order_by", "priority")
    return _ordered(result, keys[order_by], lambda t: t.id, params.get("order_direction", "desc") == "desc")


# -- station sub-resources -----------------------------------------------------------------
def case_list(station: Station, params: JSON) -> list[JSON]:
    cases = [c for c in station.cases if "status" not in params or c["status"] in params["status"]]
    order_by = params.get("order_by", "caseNumber")

    def key(case: JSON) -> Any:
        if order_by == "createdAt":
            return timefmt.parse_api(case["createdAt"])
        return case[order_by]

    return _ordered(cases, key, lambda c: c["caseNumber"], params.get("order_direction", "asc") == "desc")


def page_slice(total: int, page: int, page_size: int) -> slice:
    start = (page - 1) * page_size
    return slice(min(start, total), min(start + page_size, total))
