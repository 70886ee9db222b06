"""The vendor's OpenAPI document, loaded once and normalised into valid OpenAPI 3.0.

The simulator is driven by this document rather than by a second, hand-copied description:
request validation, enums used by the data generator and the `/openapi.json` it serves all
come from here. The vendor file is kept verbatim (`openapi/wirelane-openapi-2.0.yml`); the
few places where it is not valid OpenAPI 3.0 are repaired in `normalise()` and listed in
`simulator/README.md`.
"""

from __future__ import annotations

import copy
import functools
from importlib import resources
from typing import Any

import yaml

API_PREFIX = "/apis/emc"
VENDOR_FILE = "wirelane-openapi-2.0.yml"

JSON = dict[str, Any]


# libyaml's parser when PyYAML has it (its wheels do): the pipeline imports this document on
# every run, and the pure-Python parser took 0.15 s of each process start
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _NoTimestampLoader(_SafeLoader):  # type: ignore[misc]
    """Keeps `2020-12-24` and friends as strings, as a JSON document would."""


_NoTimestampLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in _SafeLoader.yaml_implicit_resolvers.items()
}

_PARAMETER_SCHEMA_KEYS = ("type", "enum", "default", "items", "pattern", "minimum", "maximum")


def vendor_text() -> str:
    return resources.files("simulator.openapi").joinpath(VENDOR_FILE).read_text(encoding="utf-8")


@functools.cache
def vendor_document() -> JSON:
    loaded: JSON = yaml.load(vendor_text(), Loader=_NoTimestampLoader)  # noqa: S506 (safe loader subclass)
    return loaded


def _normalise_parameter(parameter: JSON) -> JSON:
    """Moves OpenAPI 2 style `type`/`enum`/`items` from the parameter into its `schema`."""
    if "schema" in parameter or "$ref" in parameter:
        return parameter
    fixed = {k: v for k, v in parameter.items() if k not in _PARAMETER_SCHEMA_KEYS}
    fixed["schema"] = {k: parameter[k] for k in _PARAMETER_SCHEMA_KEYS if k in parameter}
    if fixed["schema"].get("type") == "array":
        fixed.setdefault("style", "form")
        fixed.setdefault("explode", True)
    return fixed


def _stringify_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _stringify_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stringify_keys(v) for v in value]
    return value


@functools.cache
def normalised_document() -> JSON:
    """The vendor document made valid OpenAPI 3.0, with its content otherwise unchanged."""
    doc: JSON = _stringify_keys(copy.deepcopy(vendor_document()))
    for parameter_name, parameter in list(doc["components"]["parameters"].items()):
        doc["components"]["parameters"][parameter_name] = _normalise_parameter(parameter)
    for path_item in doc["paths"].values():
        for operation in path_item.values():
            operation["parameters"] = [_normalise_parameter(p) for p in operation["parameters"]]
    for hook in doc.get("x-webhooks", {}).values():
        for operation in hook.values():
            body = operation.get("requestBody", {})
            if "$ref" in body and "/schemas/" in body["$ref"]:
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": body["$ref"]}}},
                }
    return doc


def resolve(doc: JSON, node: JSON) -> JSON:
    """Follows local `$ref`s until a concrete node is reached."""
    while "$ref" in node:
        target: Any = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def operation(path: str) -> JSON:
    doc = normalised_document()
    op: JSON = doc["paths"][path]["get"]
    return op


def operation_parameters(path: str) -> list[JSON]:
    doc = normalised_document()
    return [resolve(doc, p) for p in operation(path)["parameters"]]


def schema_properties(schema_name: str) -> JSON:
    """All properties of a component schema, with `allOf` parts merged."""
    doc = normalised_document()
    merged: JSON = {}

    def collect(node: JSON) -> None:
        node = resolve(doc, node)
        for part in node.get("allOf", []):
            collect(part)
        merged.update(node.get("properties", {}))

    collect({"$ref": f"#/components/schemas/{schema_name}"})
    return merged


def enum(schema_name: str, property_name: str) -> tuple[str, ...]:
    """The documented enum of one property, so the generator never invents a value."""
    doc = normalised_document()
    prop = resolve(doc, schema_properties(schema_name)[property_name])
    if prop.get("type") == "array":
        prop = resolve(doc, prop["items"])
    return tuple(prop["enum"])


def parameter_enum(path: str, name: str) -> tuple[str, ...]:
    for parameter in operation_parameters(path):
        if parameter["name"] == name:
            schema = parameter["schema"]
            if schema.get("type") == "array":
                schema = schema["items"]
            return tuple(schema["enum"])
    raise KeyError(f"{path} has no parameter {name}")


def described_values(path: str, name: str) -> tuple[str, ...]:
    """Values listed only in a parameter's description (session `status` has no enum)."""
    for parameter in operation_parameters(path):
        if parameter["name"] == name:
            lines = parameter.get("description", "").splitlines()
            return tuple(
                line.strip().removeprefix("* `").split("`")[0] for line in lines if line.strip().startswith("* `")
            )
    raise KeyError(f"{path} has no parameter {name}")
