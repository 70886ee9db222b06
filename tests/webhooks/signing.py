"""The sender's side of docs/webhooks.md, written here independently of both implementations."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from typing import Any

import orjson


def signature_header(secret: str, body: bytes, delivery_id: str, timestamp: int | None = None) -> str:
    stamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{stamp}.{delivery_id}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def event(resource_type: str, resource_id: str, owner: str, **fields: Any) -> dict[str, Any]:
    """An EventLog as the reference describes it."""
    return {
        "id": str(uuid.uuid4()),
        "tenant": owner[:5].lower(),
        "resource_id": resource_id,
        "resource_type": resource_type,
        "resource_owner": owner,
        "correlation_id": str(uuid.uuid4()),
        "action": "update",
        "source": "ocpp",
        "actor_tenant": owner[:5].lower(),
        "actor_type": "system",
        "actor_id": "test",
        "event_date": "2026-11-01T10:43:02+0000",
        "event_name": f"{resource_type}_update",
        "data": orjson.dumps({"id": resource_id}).decode(),
        "core_data": orjson.dumps({"organization_id": owner}).decode(),
        **fields,
    }


def signed(secret: str, document: dict[str, Any], timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    """A new delivery of the event: its own delivery id, signed now (or at `timestamp`)."""
    body = orjson.dumps(document)
    delivery = str(uuid.uuid4())
    headers = {
        "Content-Type": "application/json",
        "Wirelane-Delivery-Id": delivery,
        "Wirelane-Signature": signature_header(secret, body, delivery, timestamp),
        "Wirelane-Event-Id": document["id"],
    }
    return body, headers
