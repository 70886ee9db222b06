"""Conformance with the reference, derived from the document itself rather than hand-copied.

Every operation answers in every organization, every response validates against its schema
(and carries no key the schema does not document), timestamps are written the way the
reference's examples are, every enum value of every parameter is accepted, and values outside
an enum, a pattern or a bound are rejected with the reference's `HttpError` body naming the
parameter.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema
import pytest

from simulator import spec
from tests.api_client import ApiClient

JSON = dict[str, Any]
DOC = spec.normalised_document()
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{4}$")
BERLIN = ZoneInfo("Europe/Berlin")
# invalid values for parameters with a pattern (one per parameter, violating it)
PATTERN_VIOLATIONS = {
    "charging_point_id": "bad id!",
    "date_picker_since": "2026-13-01",
    "date_picker_until": "yesterday",
    "lat": "north",
    "lon": "east",
    "distance": "-5",
    "power_range": "22to300",
    "point_groups": "abc",
    "charging_sites": "not-a-uuid",
    "Accept-Language": "1234",
    "member_group_ids": "group*with*stars",
}


def resolve(node: JSON) -> JSON:
    return spec.resolve(DOC, node)


@pytest.fixture(scope="module")
def ids(api: ApiClient) -> dict[str, dict[str, Any]]:
    """Real path parameter values per organization."""
    found: dict[str, dict[str, Any]] = {}
    for org in api.organizations:
        base = f"/organizations/id/{org}"
        members = api.get(f"{base}/members", {"page_size": 1000}).json()
        with_both = next(
            m
            for m in members
            if all(
                api.get(f"{base}/members/aid/{m['account']['account_id']}/{sub}").status_code == 200
                for sub in ("payment_method", "subscription")
            )
        )
        station = api.get(f"{base}/stations", {"include_roaming": "true", "page_size": 1}).json()[0]
        tariff = api.get(f"{base}/tariffs", {"page_size": 1}).json()[0]
        price = api.get(f"{base}/tariffs/id/{tariff['id']}").json()["prices"][0]
        session = api.get(f"{base}/sessions", {"page_size": 1}).json()[0]
        found[org] = {
            "organizationId": org,
            "accountId": with_both["account"]["account_id"],
            "stationId": station["id"],
            "tariffId": tariff["id"],
            "priceModelId": int(price["id"]),
            "sessionId": session["session_id"],
        }
    return found


def concrete(path: str, values: dict[str, Any]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), path)


def base_params(path: str) -> dict[str, str]:
    """Parameters some requests need to be valid at all (distance ordering needs a point)."""
    return {"lat": "52.52", "lon": "13.40"} if path.endswith("/stations") else {}


def merged_properties(schema: JSON) -> JSON:
    """Properties of a schema with its `allOf` parts merged in order (later parts win)."""
    node = resolve(schema)
    properties: JSON = {}
    for part in node.get("allOf", []):
        properties.update(merged_properties(part))
    properties.update(node.get("properties", {}))
    return properties


def undocumented_keys(value: Any, schema: JSON, where: str = "$") -> list[str]:
    """Keys present in the response that its schema does not document."""
    schema = resolve(schema)
    problems: list[str] = []
    if isinstance(value, list):
        items = schema.get("items")
        if items:
            for i, item in enumerate(value):
                problems += undocumented_keys(item, items, f"{where}[{i}]")
        return problems
    if not isinstance(value, dict):
        return problems
    properties = merged_properties(schema)
    if not properties:  # free-form objects (Plan.properties, exceptionalOpenings)
        return problems
    for key, item in value.items():
        if key not in properties:
            problems.append(f"{where}.{key}")
        else:
            problems += undocumented_keys(item, properties[key], f"{where}.{key}")
    return problems


def timestamps(value: Any, schema: JSON) -> list[str]:
    """Every value the schema declares a date-time."""
    schema = resolve(schema)
    found: list[str] = []
    if isinstance(value, list) and "items" in schema:
        for item in value:
            found += timestamps(item, schema["items"])
    elif isinstance(value, dict):
        properties = merged_properties(schema)
        for key, item in value.items():
            prop = resolve(properties.get(key, {}))
            if prop.get("format") == "date-time" and isinstance(item, str):
                found.append(item)
            else:
                found += timestamps(item, prop)
    return found


def response_schema(path: str, status: str = "200") -> JSON:
    operation = DOC["paths"][path]["get"]
    response = resolve(operation["responses"].get(status, operation["responses"]["default"]))
    schema: JSON = response["content"]["application/json"]["schema"]
    return schema


def validate(body: Any, schema: JSON) -> None:
    jsonschema.Draft7Validator({**schema, "components": DOC["components"]}).validate(body)


@pytest.mark.parametrize("path", list(DOC["paths"]))
def test_every_operation_answers_in_the_documented_shape(api: ApiClient, ids: dict[str, JSON], path: str) -> None:
    schema = response_schema(path)
    for org_ids in ids.values():
        response = api.get(concrete(path, org_ids), base_params(path))
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        validate(body, schema)
        assert undocumented_keys(body, schema) == []
        for stamp in timestamps(body, schema):
            assert TIMESTAMP.match(stamp), stamp
            instant = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S%z")
            assert instant.utcoffset() == instant.astimezone(BERLIN).utcoffset(), stamp
        listed = "X-Total-Count" in DOC["paths"][path]["get"]["responses"]["200"].get("headers", {})
        if listed:
            assert isinstance(body, list)
            assert int(response.headers["X-Total-Count"]) >= len(body)
        else:
            assert "X-Total-Count" not in response.headers


def query_parameters(path: str) -> list[JSON]:
    return [p for p in spec.operation_parameters(path) if p["in"] in ("query", "header")]


ENUM_CASES = [
    (path, p["name"])
    for path in DOC["paths"]
    for p in query_parameters(path)
    if "enum" in p["schema"] or "enum" in p["schema"].get("items", {})
]


@pytest.mark.parametrize(("path", "name"), ENUM_CASES)
def test_every_enum_value_is_accepted_and_others_are_not(
    api: ApiClient, ids: dict[str, JSON], path: str, name: str
) -> None:
    parameter = next(p for p in query_parameters(path) if p["name"] == name)
    schema = parameter["schema"]
    values = schema.get("enum") or schema["items"]["enum"]
    url = concrete(path, next(iter(ids.values())))
    for value in values:
        response = api.get(url, {**base_params(path), name: value})
        assert response.status_code == 200, (name, value, response.text)
    response = api.get(url, {**base_params(path), name: "NOT_A_DOCUMENTED_VALUE"})
    assert response.status_code == 400
    body = response.json()
    validate(body, response_schema(path, "default"))
    assert body["error_code"] == "validation_error" and f"'{name}'" in body["error_message"]


PATTERN_CASES = [
    (path, p["name"])
    for path in DOC["paths"]
    for p in query_parameters(path)
    if "pattern" in p["schema"] or "pattern" in p["schema"].get("items", {})
]


def test_every_patterned_parameter_has_a_violation_case() -> None:
    assert {name for _, name in PATTERN_CASES} == set(PATTERN_VIOLATIONS)


@pytest.mark.parametrize(("path", "name"), PATTERN_CASES)
def test_pattern_violations_are_rejected(api: ApiClient, ids: dict[str, JSON], path: str, name: str) -> None:
    url = concrete(path, next(iter(ids.values())))
    value = PATTERN_VIOLATIONS[name]
    if name == "Accept-Language":
        response = api.get(url, headers={name: value})
    else:
        response = api.get(url, {**base_params(path), name: value})
    assert response.status_code == 400, response.text
    assert f"'{name}'" in response.json()["error_message"]


PAGED = [path for path in DOC["paths"] if any(p["name"] == "page_size" for p in spec.operation_parameters(path))]


@pytest.mark.parametrize("path", PAGED)
@pytest.mark.parametrize(("name", "value"), [("page_size", 0), ("page_size", 1_000_001), ("page", 0), ("page", "x")])
def test_paging_bounds(api: ApiClient, ids: dict[str, JSON], path: str, name: str, value: Any) -> None:
    response = api.get(concrete(path, next(iter(ids.values()))), {name: value})
    assert response.status_code == 400
    assert f"'{name}'" in response.json()["error_message"]


@pytest.mark.parametrize("path", [p for p in DOC["paths"] if re.search(r"\{(stationId|tariffId|priceModelId)\}", p)])
def test_integer_path_parameters(api: ApiClient, ids: dict[str, JSON], path: str) -> None:
    org_ids = next(iter(ids.values()))
    for name in re.findall(r"\{(stationId|tariffId|priceModelId)\}", path):
        response = api.get(concrete(path, org_ids | {name: "abc"}))
        assert response.status_code == 400
        assert f"'{name}'" in response.json()["error_message"]
        missing = api.get(concrete(path, org_ids | {name: 987654321}))
        assert missing.status_code == 404
        validate(missing.json(), response_schema(path, "default"))


@pytest.mark.parametrize("path", [p for p in DOC["paths"] if "{accountId}" in p or "{sessionId}" in p])
def test_string_ids_follow_the_reference_pattern(api: ApiClient, ids: dict[str, JSON], path: str) -> None:
    org_ids = next(iter(ids.values()))
    name = "accountId" if "{accountId}" in path else "sessionId"
    assert api.get(concrete(path, org_ids | {name: "has*star"})).status_code == 400
    assert api.get(concrete(path, org_ids | {name: "unknown-id"})).status_code == 404


def test_unknown_organization_and_route(api: ApiClient) -> None:
    forbidden = api.get("/organizations/id/NOT-MINE/sessions")
    assert forbidden.status_code == 403
    validate(forbidden.json(), response_schema("/organizations/id/{organizationId}/sessions", "default"))
    assert api.get("/organizations/id/bad*org/sessions").status_code in (400, 403)
    assert api.get("/no/such/route").status_code == 404
    assert api.http.post(f"{api.simulator.api_url}/organizations/id/DEMOTENANT/sessions").status_code == 405


def test_served_document_is_the_reference_pointed_here(api: ApiClient) -> None:
    served = api.http.get(f"{api.simulator.base_url}/openapi.json").json()
    assert served["servers"] == [{"url": api.simulator.api_url, "description": "Wirelane API simulator"}]
    assert set(DOC["paths"]) <= set(served["paths"])
    flows = served["components"]["securitySchemes"]["OAuth2Password"]["flows"]["password"]
    assert flows["tokenUrl"] == api.simulator.token_url
    for path in DOC["paths"]:
        assert served["paths"][path]["get"]["parameters"] == DOC["paths"][path]["get"]["parameters"]
