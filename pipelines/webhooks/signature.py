"""Checking a delivery's `Wirelane-Signature` header (the scheme is in docs/webhooks.md).

The signed bytes are the timestamp, the delivery id and the raw body, so none can be changed
without the secret; a captured delivery stops being accepted once its timestamp is too old, and
before that its delivery id gives it away when it comes again (the receiver remembers them).
Comparisons are constant-time: a receiver that answers faster for a better guess leaks the
signature byte by byte.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

HEADER = "Wirelane-Signature"
DELIVERY_HEADER = "Wirelane-Delivery-Id"
MAX_DELIVERY_ID = 100
SCHEME = "v1"
DEFAULT_TOLERANCE_S = 300


class BadSignature(Exception):
    """Why a delivery was refused, in words safe to log (no secret, no signature)."""


@dataclass(frozen=True)
class Signed:
    timestamp: int
    delivery_id: str


def expected(secret: str, timestamp: int, delivery_id: str, body: bytes) -> str:
    signed = f"{timestamp}.{delivery_id}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify(
    header: str | None, delivery_id: str | None, body: bytes, secret: str, now: float, tolerance_s: float
) -> Signed:
    """The delivery's signed timestamp and id, or BadSignature saying what is wrong."""
    if not header:
        raise BadSignature(f"no {HEADER} header")
    if not delivery_id or len(delivery_id) > MAX_DELIVERY_ID:
        raise BadSignature(f"no {DELIVERY_HEADER} header (or one over {MAX_DELIVERY_ID} characters)")
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if sep:
            fields.setdefault(name, []).append(value)
    stamps, signatures = fields.get("t", []), fields.get(SCHEME, [])
    if len(stamps) != 1 or not stamps[0].isdigit() or not signatures:
        raise BadSignature(f"malformed {HEADER} header: expected t=<unix seconds>,{SCHEME}=<hex>")
    timestamp = int(stamps[0])
    want = expected(secret, timestamp, delivery_id, body)
    if not any(hmac.compare_digest(s.encode(), want.encode()) for s in signatures):
        raise BadSignature("signature does not match (wrong secret, or the body was changed)")
    if abs(now - timestamp) > tolerance_s:
        raise BadSignature(f"signed {int(now - timestamp)} s ago, outside the {int(tolerance_s)} s tolerance")
    return Signed(timestamp, delivery_id)
