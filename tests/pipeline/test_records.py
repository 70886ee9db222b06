"""The shaping tables in sources/wirelane/records.py agree with the vendor's reference."""

from __future__ import annotations

from typing import Any

from simulator import spec
from sources.wirelane.records import TIMESTAMP_KEYS


def test_the_timestamp_keys_are_every_property_the_reference_declares_date_time() -> None:
    declared: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.get("properties", {}).items():
                if isinstance(value, dict) and value.get("format") == "date-time":
                    declared.add(key)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec.normalised_document()["components"]["schemas"])
    assert declared == TIMESTAMP_KEYS
