"""The warehouse equals the API: every table, every key, the latest version of every record.

This is the promise the fault matrix checks after every fault. The expected rows are built from
the API's own answers (read with the plain test client, after the faults are switched off) by
`records.shape`, the pipeline's own typing of a document, and flattened the way dlt names
columns. Every scalar the API sends must be in the row with the same value, every column the
document no longer has must be null, no key may appear twice, and every list the API sends
must have as many child rows. Rows marked deleted and closed SCD2 versions are history, not
the current picture, and are left out.

Personal values are compared in clear: tests that use this run with `pseudonymize = false`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import duckdb
import psycopg2
from dlt.common.normalizers.naming.snake_case import NamingConvention

from sources.wirelane.records import shape
from tests.api_client import ApiClient

JSON = dict[str, Any]
Key = tuple[Any, ...]
Fetch = Callable[[str], list[JSON]]
DATASET = "wirelane_raw"
_NAMING = NamingConvention()
MAX_NESTING = 2  # the source's max_table_nesting


@dataclass
class Expected:
    """One table's expected rows, by key, as flattened scalars and child-list lengths."""

    key: tuple[str, ...]
    rows: dict[Key, JSON] = field(default_factory=dict)
    lists: dict[Key, dict[str, int]] = field(default_factory=dict)

    def add(self, row: JSON) -> None:
        scalars: JSON = {}
        lists: dict[str, int] = {}
        _flatten(row, (), scalars, lists)
        key = tuple(scalars[name] for name in self.key)
        assert key not in self.rows, f"the API itself lists {key} twice"
        self.rows[key] = scalars
        self.lists[key] = lists


def _flatten(value: JSON, path: tuple[str, ...], scalars: JSON, lists: dict[str, int]) -> None:
    """dlt's rules with `max_table_nesting=2`: objects flatten into `a__b` columns and lists
    become child tables down to two levels; anything nested deeper is one JSON column."""
    for key, item in value.items():
        here = (*path, key)
        name = _NAMING.normalize_path(_NAMING.make_path(*here))
        if isinstance(item, dict | list) and len(here) > MAX_NESTING:
            scalars[name] = item
        elif isinstance(item, dict):
            _flatten(item, here, scalars, lists)
        elif isinstance(item, list):
            lists[name] = len(item)
        else:
            scalars[name] = item


def expected_warehouse(api: ApiClient, organizations: list[str] | None = None) -> dict[str, Expected]:
    """What the warehouse must hold, read from the API table by table."""
    tables = {
        "sessions": Expected(("session_id",)),
        "members": Expected(("organization_id", "id")),
        "member_payment_methods": Expected(("organization_id", "account_id")),
        "member_subscriptions": Expected(("organization_id", "account_id")),
        "charging_stations": Expected(("organization_id", "id")),
        "station_cases": Expected(("organization_id", "station_id", "position")),
        "station_connection_chains": Expected(("organization_id", "station_id", "position")),
        "station_maintenance_windows": Expected(("organization_id", "station_id", "position")),
        "tariffs": Expected(("organization_id", "id")),
        "price_models": Expected(("organization_id", "tariff_internal_id", "id")),
    }
    for org in organizations or api.organizations:
        base = f"/organizations/id/{org}"
        for document in api.get_all(f"{base}/sessions", {"order_by": "sessionId"}):
            tables["sessions"].add(shape(document, org))
        for member in api.get_all(f"{base}/members"):
            account = (member.get("account") or {}).get("account_id")
            tables["members"].add(shape(member, org, account_id=account))
            if not account:
                continue
            for table, suffix in (
                ("member_payment_methods", "payment_method"),
                ("member_subscriptions", "subscription"),
            ):
                response = api.get(f"{base}/members/aid/{account}/{suffix}")
                if response.status_code != 404:
                    response.raise_for_status()
                    tables[table].add(shape(response.json(), org, account_id=account))
        for station in api.get_all(f"{base}/stations", {"include_roaming": "true"}):
            detail = _json(api, f"{base}/stations/id/{station['id']}")
            tables["charging_stations"].add(shape(detail, org))
            for table, suffix, paged in (
                ("station_cases", "cases", True),
                ("station_connection_chains", "connection", False),
                ("station_maintenance_windows", "maintenance", True),
            ):
                path = f"{base}/stations/id/{station['id']}/{suffix}"
                items = api.get_all(path) if paged else _json(api, path)
                for position, item in enumerate(items):
                    tables[table].add(shape(item, org, station_id=station["id"], position=position))
        for tariff in api.get_all(f"{base}/tariffs"):
            detail = _json(api, f"{base}/tariffs/id/{tariff['id']}")
            tables["tariffs"].add(shape(detail, org))
            for price in detail.get("prices") or []:
                model = _json(api, f"{base}/tariffs/id/{tariff['id']}/prices/id/{price['id']}")
                tables["price_models"].add(
                    shape(model, org, tariff_id=detail["tariff_id"], tariff_internal_id=detail["id"])
                )
    return tables


def _json(api: ApiClient, path: str) -> Any:
    response = api.get(path)
    response.raise_for_status()
    return response.json()


def _same(loaded: Any, expected: Any) -> bool:
    """Equal as the warehouse types it: exact numbers, aware timestamps, JSON columns decoded
    (where timestamps and decimals are strings)."""
    if expected is None or loaded is None:
        return expected is None and loaded is None
    if isinstance(expected, dict | list) and isinstance(loaded, str):
        loaded = json.loads(loaded)
    if isinstance(expected, dict):
        return (
            isinstance(loaded, dict)
            and {k for k, v in loaded.items() if v is not None} == {k for k, v in expected.items() if v is not None}
            and all(_same(loaded.get(k), v) for k, v in expected.items())
        )
    if isinstance(expected, list):
        return isinstance(loaded, list) and len(loaded) == len(expected) and all(map(_same, loaded, expected))
    if isinstance(expected, datetime) and isinstance(loaded, str):
        return datetime.fromisoformat(loaded) == expected
    if isinstance(expected, Decimal) and isinstance(loaded, str):
        return Decimal(loaded) == expected
    if isinstance(expected, datetime) or isinstance(loaded, datetime):
        return isinstance(loaded, datetime) and isinstance(expected, datetime) and loaded == expected
    if isinstance(expected, bool) or isinstance(loaded, bool):
        return bool(loaded) == bool(expected) and type(loaded) is type(expected)
    if isinstance(expected, int | float | Decimal) and isinstance(loaded, int | float | Decimal):
        return Decimal(repr(loaded) if isinstance(loaded, float) else loaded) == Decimal(
            repr(expected) if isinstance(expected, float) else expected
        )
    return bool(loaded == expected)


def differences(fetch: Fetch, api: ApiClient, organizations: list[str] | None = None) -> Iterator[str]:
    """Every way the warehouse differs from the API, one line each (none: they are equal)."""
    expected = expected_warehouse(api, organizations)
    for table, want in expected.items():
        columns = {row["column_name"] for row in fetch(_columns_sql(table))}
        if not columns:
            if want.rows:
                yield f"{table}: missing, the API has {len(want.rows)} rows"
            continue
        current = [c for c in ("_wl_deleted_at", "_dlt_valid_to") if c in columns]
        where = " and ".join(f"{c} is null" for c in current) or "true"
        rows = fetch(f"select * from {DATASET}.{table} where {where}")
        loaded: dict[Key, JSON] = {}
        for row in rows:
            key = tuple(row[name] for name in want.key)
            if key in loaded:
                yield f"{table}: key {key} loaded twice"
            loaded[key] = row
        if missing := sorted(set(want.rows) - set(loaded), key=str)[:5]:
            yield f"{table}: {len(set(want.rows) - set(loaded))} rows missing, e.g. {missing}"
        if extra := sorted(set(loaded) - set(want.rows), key=str)[:5]:
            yield f"{table}: {len(set(loaded) - set(want.rows))} rows the API does not have, e.g. {extra}"
        for key in set(want.rows) & set(loaded):
            yield from _row_differences(table, key, want.rows[key], loaded[key], columns)
        yield from _child_differences(fetch, table, want, loaded)


def _row_differences(table: str, key: Key, want: JSON, row: JSON, columns: set[str]) -> Iterator[str]:
    for name, value in want.items():
        if name not in columns:
            if value is not None:
                yield f"{table} {key}: no column {name} for {value!r}"
        elif not _same(row[name], value):
            yield f"{table} {key}: {name} is {row[name]!r}, the API says {value!r}"
    data_columns = {c for c in columns if not c.startswith("_dlt") and not c.startswith("_wl")}
    for name in data_columns - set(want):
        if row[name] is not None and "__v_" not in name:
            yield f"{table} {key}: {name} is {row[name]!r}, the API no longer sends it"


def _child_differences(fetch: Fetch, table: str, want: Expected, loaded: dict[Key, JSON]) -> Iterator[str]:
    """Every list the API sends has as many rows in its child table, under the current row."""
    children = {name for lists in want.lists.values() for name in lists}
    for child in sorted(children):
        child_table = f"{table}__{child}"
        if not fetch(_columns_sql(child_table)):
            if any(lists.get(child) for lists in want.lists.values()):
                yield f"{child_table}: missing"
            continue
        counts = {
            row["parent"]: row["n"]
            for row in fetch(f"select _dlt_parent_id as parent, count(*) as n from {DATASET}.{child_table} group by 1")
        }
        for key, lists in want.lists.items():
            if key in loaded and counts.get(loaded[key]["_dlt_id"], 0) != lists.get(child, 0):
                have = counts.get(loaded[key]["_dlt_id"], 0)
                yield f"{child_table} {key}: {have} rows, the API lists {lists.get(child, 0)}"


# the connector statuses the warehouse holds, as `listed_connector_statuses` gives them (the
# child-table comparison above counts connectors; their statuses are written apart)
LOADED_CONNECTOR_STATUSES = (
    "select s.organization_id, cast(s.id as varchar), c.evseid, c.status, c.status_update "
    f"from {DATASET}.charging_stations__connectors c join {DATASET}.charging_stations s on c._dlt_parent_id = s._dlt_id"
)


def listed_connector_statuses(api: ApiClient) -> set[tuple[str, str, str, str | None, datetime | None]]:
    """(organization, station id, EVSE id, status, status_update) of every listed connector."""
    return {
        (
            org,
            str(station["id"]),
            connector["evseid"],
            connector.get("status"),
            _instant(connector.get("status_update")),
        )
        for org in api.organizations
        for station in api.get_all(f"/organizations/id/{org}/stations", {"include_roaming": "true"})
        for connector in station.get("connectors") or []
    }


def _instant(value: str | None) -> datetime | None:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z") if value else None


def _columns_sql(table: str) -> str:
    return (
        "select column_name from information_schema.columns "
        f"where table_schema = '{DATASET}' and table_name = '{table}'"
    )


def assert_equal(
    fetch: Fetch, api: ApiClient, organizations: list[str] | None = None, faults: JSON | None = None
) -> None:
    """Fails with the first differences found. The test client reads the API with the faults
    off, or with `faults` (say a schema drift the warehouse should reflect)."""
    api.admin("POST", "faults", faults or {"profile": "none"}).raise_for_status()
    found = list(differences(fetch, api, organizations))
    assert not found, f"{len(found)} differences:\n" + "\n".join(found[:25])


def snapshot(fetch: Fetch) -> dict[str, list[str]]:
    """Every row of every table of the dataset, loads and state included, in a stable order:
    equal snapshots mean a run changed nothing."""
    tables = fetch(f"select table_name from information_schema.tables where table_schema = '{DATASET}'")
    return {
        row["table_name"]: sorted(
            repr(sorted(r.items())) for r in fetch(f"select * from {DATASET}.{row['table_name']}")
        )
        for row in tables
    }


def duckdb_fetch(path: str) -> Fetch:
    def fetch(sql: str) -> list[JSON]:
        with duckdb.connect(path, read_only=True) as con:
            cursor = con.execute(sql)
            names = [d[0] for d in cursor.description or []]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    return fetch


def postgres_fetch(dsn: str) -> Fetch:
    def fetch(sql: str) -> list[JSON]:
        with psycopg2.connect(dsn) as con, con.cursor() as cursor:
            cursor.execute(sql)
            names = [d[0] for d in cursor.description or []]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    return fetch
