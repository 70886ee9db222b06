"""Shaping API documents into warehouse rows: owner organization, UTC timestamps, exact money.

The API writes local times with a basic offset (`2017-10-15T16:44:40+0200`); rows carry
timezone-aware UTC datetimes, so the warehouse stores timestamptz. Money and energy arrive as
JSON numbers; they become Decimals built from their printed form, so 11.9 stays 11.9.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

API_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{4}$")
# keys whose numbers are money or energy, wherever they appear
EXACT_KEYS = frozenset(
    {
        "grossAmount", "netAmount", "taxAmount", "taxRate", "kwh", "limit_price", "limit_kwh",
        "connection_fee", "price", "tax_rate", "amount", "default_tax_rate", "min_kwh", "max_kwh",
        "min_price", "max_price",
    }
)  # fmt: skip


def parse_timestamp(value: str) -> datetime:
    """`2017-10-15T16:44:40+0200` as an aware UTC datetime (fromisoformat reads basic offsets)."""
    return datetime.fromisoformat(value).astimezone(UTC)


# Every property the reference declares `format: date-time` (tests/pipeline/test_records.py
# checks it against the document). Written out rather than read from the document at import:
# that took 0.14 s of every process, both images of a run.
TIMESTAMP_KEYS = frozenset(
    {
        "activation_date", "active_from_date", "active_until_date", "actualEnd", "authDate", "begin", "closedAt",
        "created", "createdAt", "creation_date", "deactivation_date", "end", "event_date", "onboardingCompletedAt",
        "process_begin", "process_end", "session_begin", "session_end", "start", "status_update",
        "terminationEffective", "terminationRequested", "termination_date", "update_date", "updated",
    }
)  # fmt: skip


def _shape(value: Any, key: str | None) -> Any:
    kind = type(value)
    if kind is str:
        if key in TIMESTAMP_KEYS and API_TIMESTAMP.match(value):
            return parse_timestamp(value)
        return value
    if kind is float:
        return Decimal(repr(value)) if key in EXACT_KEYS else value
    if kind is int:
        return Decimal(value) if key in EXACT_KEYS else value
    if kind is dict:
        return {k: _shape(v, k) for k, v in value.items()}
    if kind is list:
        return [_shape(v, key) for v in value]
    return value


def shape(document: dict[str, Any], organization_id: str, **extra: Any) -> dict[str, Any]:
    """A row: the document with typed values, its organization and any extra keys."""
    row: dict[str, Any] = {"organization_id": organization_id, **extra}
    row.update(_shape(document, None))
    return row
