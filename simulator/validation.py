"""Request parameters checked against the reference's own parameter definitions.

Every path, query and header parameter of every operation is validated from the normalised
OpenAPI document: type (integer, boolean, string, array), pattern, enum, bounds and length.
A request that breaks a rule is answered `400` with the reference's `HttpError` body, naming
the parameter. Unknown query parameters are ignored, as the real API does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from simulator import spec

JSON = dict[str, Any]


class ApiError(Exception):
    """An error answered with the reference's `HttpError` body."""

    def __init__(self, status: int, error_code: str, error_message: str) -> None:
        super().__init__(error_message)
        self.status = status
        self.error_code = error_code
        self.error_message = error_message

    def body(self) -> JSON:
        return {"error_code": self.error_code, "error_message": self.error_message}


def _invalid(location: str, name: str, problem: str) -> ApiError:
    return ApiError(400, "validation_error", f"Invalid {location} parameter '{name}': {problem}")


@dataclass(frozen=True)
class ParameterRule:
    name: str
    location: str  # path, query or header
    schema: JSON
    required: bool
    explode: bool

    def coerce(self, raw: Sequence[str]) -> Any:
        if self.schema.get("type") == "array":
            values: list[str] = []
            for item in raw:
                values.extend(item.split(",") if not self.explode else [item])
            item_schema = self.schema.get("items", {})
            return [self._scalar(value, item_schema) for value in values]
        return self._scalar(raw[-1], self.schema)

    def _scalar(self, value: str, schema: JSON) -> Any:
        kind = schema.get("type", "string")
        result: Any = value
        if kind == "integer":
            if not re.fullmatch(r"[-+]?\d+", value.strip()):
                raise _invalid(self.location, self.name, f"{value!r} is not an integer")
            result = int(value)
            if "minimum" in schema and result < schema["minimum"]:
                raise _invalid(self.location, self.name, f"must be >= {schema['minimum']}")
            if "maximum" in schema and result > schema["maximum"]:
                raise _invalid(self.location, self.name, f"must be <= {schema['maximum']}")
        elif kind == "boolean":
            lowered = value.lower()
            if lowered not in ("true", "false"):
                raise _invalid(self.location, self.name, f"{value!r} is not true or false")
            result = lowered == "true"
        else:
            if "pattern" in schema and not re.search(schema["pattern"], value):
                raise _invalid(self.location, self.name, f"{value!r} does not match {schema['pattern']}")
            if "maxLength" in schema and len(value) > schema["maxLength"]:
                raise _invalid(self.location, self.name, f"longer than {schema['maxLength']} characters")
        if "enum" in schema and result not in schema["enum"]:
            allowed = ", ".join(repr(v) for v in schema["enum"])
            raise _invalid(self.location, self.name, f"{value!r} is not one of {allowed}")
        return result


def rules_for(path: str) -> list[ParameterRule]:
    rules = []
    for parameter in spec.operation_parameters(path):
        schema = parameter["schema"]
        explode = parameter.get("explode", parameter.get("style", "form") == "form")
        rules.append(
            ParameterRule(
                name=parameter["name"],
                location=parameter["in"],
                schema=schema,
                required=bool(parameter.get("required")),
                explode=bool(explode),
            )
        )
    return rules


@dataclass(frozen=True)
class Validator:
    """Validates one operation's parameters; built once per route."""

    path: str
    rules: tuple[ParameterRule, ...]

    @classmethod
    def for_path(cls, path: str) -> Validator:
        return cls(path=path, rules=tuple(rules_for(path)))

    def validate(
        self,
        path_params: Mapping[str, str],
        query: Mapping[str, Sequence[str]],
        headers: Mapping[str, str],
    ) -> JSON:
        """Typed parameter values, defaults applied; raises ApiError on the first bad one."""
        values: JSON = {}
        for rule in self.rules:
            raw: Sequence[str] | None
            if rule.location == "path":
                raw = [path_params[rule.name]] if rule.name in path_params else None
            elif rule.location == "header":
                header = headers.get(rule.name.lower())
                raw = [header] if header is not None else None
            else:
                raw = query.get(rule.name)
            if raw is None:
                if rule.required:
                    raise _invalid(rule.location, rule.name, "is required")
                if "default" in rule.schema:
                    values[rule.name] = rule.schema["default"]
                continue
            values[rule.name] = rule.coerce(raw)
        page = values.get("page")
        if page is not None and page < 1:
            raise _invalid("query", "page", "must be >= 1")
        return values
