"""Response parsing under odd but valid JSON (hypothesis): nulls everywhere, empty strings, huge
numbers, unicode, deep nesting. Shaping never raises, never loses or reorders a value, types
exactly the money and time keys it should, and pseudonymization replaces only strings.

Numbers span what the reference declares: `integer` (int64) and `number` (`format: double`);
orjson reads both exactly (doubles by their shortest repr, which is how `shape` makes Decimals)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from sources.wirelane.privacy import PERSONAL_FIELDS, Pseudonymizer
from sources.wirelane.records import API_TIMESTAMP, EXACT_KEYS, TIMESTAMP_KEYS, shape

KEYS = st.sampled_from(
    sorted(EXACT_KEYS | set(list(TIMESTAMP_KEYS)[:12]) | {"email", "secret", "identification", "label", "name", "x"})
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["", "2017-10-15T16:44:40+0200", "2017-10-15T16:44:40Z", "not a date", "ü€😀\x00"])
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS | st.text(max_size=8), children, max_size=5),
    max_leaves=30,
)
DOCUMENTS = st.dictionaries(KEYS | st.text(max_size=8), JSON_VALUES, max_size=8)


def _roundtrip(document: dict[str, Any]) -> dict[str, Any]:
    """What the client hands to `shape`: the document as the API's bytes, parsed by orjson."""
    parsed: dict[str, Any] = orjson.loads(orjson.dumps(document))
    return parsed


def _check(original: Any, shaped: Any, key: str | None) -> None:
    if isinstance(original, dict):
        assert isinstance(shaped, dict) and list(shaped) == list(original)
        for k, v in original.items():
            _check(v, shaped[k], k)
    elif isinstance(original, list):
        assert isinstance(shaped, list) and len(shaped) == len(original)
        for v, s in zip(original, shaped, strict=True):
            _check(v, s, key)
    elif isinstance(original, bool) or original is None:
        assert shaped is original
    elif isinstance(original, int | float) and key in EXACT_KEYS:
        assert isinstance(shaped, Decimal) and shaped == Decimal(
            repr(original) if isinstance(original, float) else original
        )
    elif isinstance(original, str) and key in TIMESTAMP_KEYS and API_TIMESTAMP.match(original):
        assert isinstance(shaped, datetime) and shaped.tzinfo == UTC
        assert shaped == datetime.fromisoformat(original)
    else:
        assert shaped == original and type(shaped) is type(original)


@settings(max_examples=300, deadline=None)
@given(DOCUMENTS)
def test_shaping_keeps_every_value_and_types_only_money_and_time(document: dict[str, Any]) -> None:
    parsed = _roundtrip(document)
    row = shape(copy.deepcopy(parsed), "ORG", extra=1)
    assert row["organization_id"] == "ORG" or "organization_id" in parsed
    _check(parsed, {k: row[k] for k in parsed}, None)


@settings(max_examples=200, deadline=None)
@given(DOCUMENTS, st.sampled_from(sorted(PERSONAL_FIELDS)))
def test_pseudonymization_replaces_only_non_empty_strings(document: dict[str, Any], resource: str) -> None:
    parsed = _roundtrip(document)
    row = shape(copy.deepcopy(parsed), "ORG")
    before = copy.deepcopy(row)
    Pseudonymizer("k" * 32).apply(resource, row)
    for path in PERSONAL_FIELDS[resource]:
        if path[0] in before and not isinstance(before[path[0]], dict | list):
            value = before[path[0]]
            if len(path) == 1 and isinstance(value, str) and value:
                assert row[path[0]] != value and len(row[path[0]].split("@")[0]) == 32
            else:
                assert row[path[0]] == value
    assert set(row) == set(before)
