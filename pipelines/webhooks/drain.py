"""`run --from-webhooks`: the queued events as one load, and marking them done once it is in.

A batch is what was pending when the drain began; events arriving meanwhile wait for the next
drain. Nothing is taken off the queue before the load has committed: a drain that fails or is
killed leaves its events pending, and the next one loads them again (the merges on the event
id and on each record's key make that harmless).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from pipelines.webhooks.queue import Queued, WebhookQueue, configured_path
from sources.wirelane.webhooks import Targets, targets

Row = dict[str, Any]
DEFAULT_MAX_EVENTS = 50_000  # per drain: bounds the detail requests and the memory of one run


@dataclass
class Batch:
    queue: WebhookQueue
    items: list[Queued]
    events: list[Row] = field(default_factory=list)  # {"event": EventLog, "received_at": epoch s}
    malformed: int = 0
    targets: Targets = field(default_factory=Targets)

    @property
    def empty(self) -> bool:
        return not self.items

    def plan(self, organizations: list[str]) -> Targets:
        self.targets = targets([item["event"] for item in self.events], organizations)
        return self.targets

    def done(self, load_id: str | None) -> None:
        self.queue.mark_done((item.seq for item in self.items), load_id)

    def summary(self) -> dict[str, int]:
        left = self.queue.counts()["pending"]
        return {
            "events": len(self.items),
            "sessions": len(self.targets.sessions),
            "stations": len(self.targets.stations),
            "tariff_organizations": len(self.targets.tariff_organizations),
            "ignored": self.targets.ignored + self.malformed,
            "pending": int(left or 0),
        }


def claim(max_events: int = DEFAULT_MAX_EVENTS) -> Batch:
    """The pending events, oldest first, parsed (a body that is not an object is ignored)."""
    queue = WebhookQueue(configured_path())
    batch = Batch(queue, queue.pending(max_events))
    for item in batch.items:
        try:
            event = orjson.loads(item.body)
        except orjson.JSONDecodeError:
            event = None
        if isinstance(event, dict):
            batch.events.append({"event": event, "received_at": item.received_at})
        else:
            batch.malformed += 1
    return batch
