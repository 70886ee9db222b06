"""Who hears about the HTTP client's requests (the progress display): apart from the client so
that a process that only loads (pipelines/load_step.py) can show progress without importing
httpx."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger("wirelane_sync")


@dataclass(frozen=True)
class RequestEvent:
    """One attempt of one GET, as observers see it (no URL parameters, no headers: no secrets)."""

    template: str  # the path with placeholders, e.g. /organizations/id/{organizationId}/sessions
    status: int | None  # None when no response came (connection refused, timeout, dropped)
    retry: bool  # a repeat of a failed attempt
    failed: bool  # no usable answer (no response, 429 or 5xx, a malformed body): to be retried
    items: int  # records in the body: a list's length, 1 for an object, 0 for an error or nothing
    page: int | None  # the page number when this is a page of a list, else None
    seconds: float  # the attempt's duration, rate-limit wait excluded


class ClientObserver(Protocol):
    """Told about every request attempt, from whichever thread made it (so: be thread-safe, be
    quick, and never raise: an observer's failure is logged and ignored, it cannot fail a load)."""

    def request_done(self, event: RequestEvent) -> None: ...


_OBSERVERS: list[ClientObserver] = []
_OBSERVERS_LOCK = threading.Lock()


@contextlib.contextmanager
def observe(observer: ClientObserver) -> Iterator[ClientObserver]:
    """Registers `observer` for every client in this process while the block runs.

    Process-wide rather than per client because the clients are built inside the dlt source,
    which the caller does not construct itself.
    """
    with _OBSERVERS_LOCK:
        _OBSERVERS.append(observer)
    try:
        yield observer
    finally:
        with _OBSERVERS_LOCK:
            _OBSERVERS.remove(observer)


def notify(event: RequestEvent) -> None:
    for observer in list(_OBSERVERS):
        try:
            observer.request_done(event)
        except Exception:  # a progress display must never fail a load
            log.warning("observer %r failed; ignored", observer, exc_info=True)


def watched() -> bool:
    """Whether anyone listens: the client builds no event when nobody does."""
    return bool(_OBSERVERS)
