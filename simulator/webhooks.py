"""Sending organization events to a callback URL, as docs/webhooks.md says the API does.

The event loop owns the world, so it only renders events and hands their bytes to a queue;
worker threads with their own HTTP client deliver them, so a slow or dead receiver never slows
the API. Each attempt is a new delivery (new delivery id, fresh timestamp, signed anew), spaced
by tenacity's exponential backoff with jitter. With several workers, and with retries, events
overtake each other: the order is not guaranteed, as the contract says.

Delivery faults (duplicates, losses, shuffled batches) exist so that receivers and the
polling safety net can be tested against the at-least-once promise.

The secret only ever goes into the HMAC: never into a log line, a report or an error message.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import queue
import random
import threading
import time
import uuid
from dataclasses import dataclass, field, fields
from typing import Any

import httpx
import orjson
import tenacity

from simulator.world import JSON

log = logging.getLogger("simulator.webhooks")

SIGNATURE_HEADER = "Wirelane-Signature"
RETRY_STATUSES = frozenset({408, 429})  # and every 5xx
WORKERS = 4
MAX_ATTEMPTS_LIMIT = 100


class _Retryable(Exception):
    """An attempt worth repeating: no answer, a timeout, 408, 429 or 5xx."""


class _Stopping(Exception):
    """The dispatcher is shutting down: abandon the delivery."""


@dataclass(frozen=True)
class WebhookConfig:
    """Where and how events are sent; `url=None` means not at all."""

    url: str | None = None
    secret: str | None = field(default=None, repr=False)
    duplicate_rate: float = 0.0  # each event is delivered twice with this probability
    drop_rate: float = 0.0  # each event is lost (never sent) with this probability
    shuffle: bool = False  # each batch (one clock move) is queued in a seeded random order
    max_attempts: int = 10
    backoff_s: float = 0.5  # the first wait; doubling, plus up to as much jitter, up to max_backoff_s
    max_backoff_s: float = 30.0
    timeout_s: float = 10.0  # per attempt

    def __post_init__(self) -> None:
        _check(self)

    @property
    def sending(self) -> bool:
        return self.url is not None

    def report(self) -> JSON:
        """The settings as the admin route shows them: whether a secret is set, never which."""
        shown: JSON = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "secret"}
        shown["secret_set"] = bool(self.secret)
        return shown


def _number(name: str, value: Any, low: float, high: float, *, low_open: bool = False) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ValueError(f"{name} must be a number")
    if value > high or value < low or (low_open and value == low):
        raise ValueError(f"{name} must be {'over' if low_open else 'at least'} {low:g} and at most {high:g}")


def _check(config: WebhookConfig) -> None:
    """ValueError naming the setting that is wrong (and never echoing the secret)."""
    if config.url is not None:
        if not isinstance(config.url, str) or not config.url.startswith(("http://", "https://")):
            raise ValueError("url must be an http(s) URL, or null to stop sending")
        try:
            host = httpx.URL(config.url).host
        except httpx.InvalidURL:
            host = ""
        if not host:
            raise ValueError("url must be an http(s) URL with a host")
        if not isinstance(config.secret, str) or not config.secret:
            raise ValueError("a url needs a secret (a non-empty string) to sign the events with")
    elif config.secret is not None and not isinstance(config.secret, str):
        raise ValueError("secret must be a string")
    _number("duplicate_rate", config.duplicate_rate, 0, 1)
    _number("drop_rate", config.drop_rate, 0, 1)
    if not isinstance(config.shuffle, bool):
        raise ValueError("shuffle must be true or false")
    if not isinstance(config.max_attempts, int) or isinstance(config.max_attempts, bool):
        raise ValueError("max_attempts must be an integer")
    if not 1 <= config.max_attempts <= MAX_ATTEMPTS_LIMIT:
        raise ValueError(f"max_attempts must be from 1 to {MAX_ATTEMPTS_LIMIT}")
    _number("max_backoff_s", config.max_backoff_s, 0, 3600, low_open=True)
    _number("backoff_s", config.backoff_s, 0, config.max_backoff_s, low_open=True)
    _number("timeout_s", config.timeout_s, 0, 300, low_open=True)


def parse(payload: Any) -> WebhookConfig:
    """The admin route's body (it replaces every setting); ValueError says what is wrong."""
    if not isinstance(payload, dict):
        raise ValueError("the body must be a JSON object")
    known = [f.name for f in fields(WebhookConfig)]
    unknown = sorted(str(key) for key in payload if key not in known)
    if unknown:
        raise ValueError(f"unknown setting {', '.join(unknown)}; known: {', '.join(known)}")
    if payload.get("url") is None:
        payload = {k: v for k, v in payload.items() if k != "secret"}  # nothing to sign: not kept
    return WebhookConfig(**payload)


def signature(secret: str, timestamp: int, delivery_id: str, body: bytes) -> str:
    """The `Wirelane-Signature` header value (docs/webhooks.md)."""
    signed = f"{timestamp}.{delivery_id}.".encode() + body
    return f"t={timestamp},v1={hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()}"


def plan(
    bodies: list[tuple[str, bytes]], config: WebhookConfig, rng: random.Random
) -> tuple[list[tuple[str, bytes]], int, int]:
    """The deliveries one batch becomes under the delivery faults: (deliveries, dropped, duplicated)."""
    order = list(bodies)
    if config.shuffle:
        rng.shuffle(order)
    deliveries: list[tuple[str, bytes]] = []
    dropped = duplicated = 0
    for event in order:
        if config.drop_rate and rng.random() < config.drop_rate:
            dropped += 1
            continue
        deliveries.append(event)
        if config.duplicate_rate and rng.random() < config.duplicate_rate:
            deliveries.append(event)
            duplicated += 1
    return deliveries, dropped, duplicated


COUNTERS = ("published", "delivered", "attempts", "retries", "rejected", "gave_up", "dropped", "duplicated", "pending")


@dataclass(frozen=True)
class _Job:
    event_id: str
    body: bytes
    config: WebhookConfig  # the settings the event was published under


class Dispatcher:
    """Delivers published events from worker threads; counters count since the simulator started.

    A new configuration applies to events published after it: those already queued are
    delivered (or retried, or given up) under the settings they were published with, as a
    real sender's queued deliveries would be.
    """

    def __init__(self, config: WebhookConfig | None = None, seed: int = 0, workers: int = WORKERS) -> None:
        self.config = config or WebhookConfig()
        self.seed = seed
        self.workers = workers
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._http: httpx.Client | None = None
        self._stopping = threading.Event()
        self._lock = threading.Condition()
        self._counts = dict.fromkeys(COUNTERS, 0)
        self._last_failure: str | None = None

    # -- the event loop's side -------------------------------------------------------------
    @property
    def sending(self) -> bool:
        return self.config.sending and not self._stopping.is_set()

    def configure(self, config: WebhookConfig) -> None:
        self.config = config

    def publish(self, events: list[JSON], batch: int) -> None:
        """Queues one clock move's events and returns at once; the delivery faults act here,
        seeded by the world's seed and the batch, so a run repeats exactly."""
        config = self.config
        if not events or not self.sending:
            return
        bodies = [(str(event["id"]), orjson.dumps(event)) for event in events]
        deliveries, dropped, duplicated = plan(bodies, config, random.Random(f"{self.seed}/{batch}"))
        self._add(published=len(bodies), dropped=dropped, duplicated=duplicated, pending=len(deliveries))
        if deliveries:
            self._start()
        for event_id, body in deliveries:
            self._queue.put(_Job(event_id, body, config))

    def report(self) -> JSON:
        with self._lock:
            counts: JSON = dict(self._counts)
            last = self._last_failure
        return {**self.config.report(), **counts, "last_failure": last}

    # -- for tests, scripts and shutdown ---------------------------------------------------
    def wait_idle(self, timeout_s: float) -> bool:
        """True once nothing is queued or in flight; False if that takes longer than timeout_s."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while self._counts["pending"] > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
        return True

    def stop(self, timeout_s: float = 5.0) -> None:
        """Abandons what is still queued (a stopped simulator sends nothing more) and ends the workers."""
        self._stopping.set()
        for _ in self._threads:
            self._queue.put(None)
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        abandoned = 0
        while True:
            try:
                abandoned += self._queue.get_nowait() is not None
            except queue.Empty:
                break
        self._add(pending=-abandoned)
        if self._http is not None:
            self._http.close()

    # -- the workers' side -----------------------------------------------------------------
    def _add(self, **changes: int) -> None:
        with self._lock:
            for name, value in changes.items():
                self._counts[name] += value
            self._lock.notify_all()

    def _start(self) -> None:
        if self._threads:
            return
        self._http = httpx.Client(
            headers={"User-Agent": "wirelane-simulator"},
            limits=httpx.Limits(max_connections=self.workers, max_keepalive_connections=self.workers),
        )
        for number in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"webhooks-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _work(self) -> None:
        while not self._stopping.is_set():
            job = self._queue.get()
            if job is None:
                return
            try:
                outcome = self._deliver(job)
            except _Stopping:
                self._add(pending=-1)
                return
            except Exception:  # a worker must not die: wait_idle would wait for its job forever
                log.exception("webhook delivery of event %s failed unexpectedly", job.event_id)
                outcome = "gave_up"
            self._add(**{outcome: 1, "pending": -1})

    def _sleep(self, seconds: float) -> None:
        if self._stopping.wait(seconds):
            raise _Stopping

    def _deliver(self, job: _Job) -> str:
        """'delivered', 'rejected' or 'gave_up'."""
        config = job.config
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Retryable),
            stop=tenacity.stop_after_attempt(config.max_attempts),
            wait=tenacity.wait_exponential_jitter(
                multiplier=config.backoff_s, max=config.max_backoff_s, jitter=config.backoff_s
            ),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    status = self._attempt(job, attempt.retry_state.attempt_number)
        except _Retryable as error:
            self._failed(f"event {job.event_id}: gave up after {config.max_attempts} attempts ({error})")
            return "gave_up"
        if 200 <= status < 300:
            return "delivered"
        self._failed(f"event {job.event_id}: rejected with HTTP {status}, not retried")
        return "rejected"

    def _attempt(self, job: _Job, number: int) -> int:
        if self._stopping.is_set() or self._http is None:
            raise _Stopping
        config = job.config
        assert config.url is not None and config.secret is not None  # checked when published
        delivery_id = str(uuid.uuid4())
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(config.secret, int(time.time()), delivery_id, job.body),
            "Wirelane-Delivery-Id": delivery_id,
            "Wirelane-Event-Id": job.event_id,
            "Wirelane-Delivery-Attempt": str(number),
        }
        self._add(attempts=1, retries=int(number > 1))
        try:
            response = self._http.post(config.url, content=job.body, headers=headers, timeout=config.timeout_s)
        except httpx.TransportError as error:
            raise _Retryable(f"no answer: {type(error).__name__}") from None
        if response.status_code in RETRY_STATUSES or response.status_code >= 500:
            raise _Retryable(f"HTTP {response.status_code}")
        return response.status_code

    def _failed(self, message: str) -> None:
        log.warning("webhook %s", message)
        with self._lock:
            self._last_failure = message
