"""The simulator as a webhook sender (docs/webhooks.md), over real HTTP on loopback.

A small receiver in a thread records every request and answers what the test tells it to.
Signatures are checked here with `hmac` directly, not with the simulator's own code: a bug in
the sender's signing must not be able to hide behind the same bug in the check.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jsonschema
import orjson
import pytest

from simulator import advance, events, spec, timefmt, webhooks
from simulator.generate import DEFAULT_NOW, build_world
from simulator.server import RunningSimulator, free_port
from simulator.world import SimulatorSizes
from tests.api_client import ApiClient

JSON = dict[str, Any]
SECRET = "test-webhook-secret-0123456789"
SIZES = SimulatorSizes(organizations=2, stations=12, members=40, sessions=400, days=60)
FAST = {"backoff_s": 0.01, "max_backoff_s": 0.05}
DOC = spec.normalised_document()
EVENT_LOG = jsonschema.Draft7Validator({"$ref": "#/components/schemas/EventLog", "components": DOC["components"]})
API_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{4}$")
SIGNATURE = re.compile(r"^t=(\d+),v1=([0-9a-f]{64})$")


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float  # time.time() on arrival
    status: int  # what the receiver answered

    @property
    def event(self) -> JSON:
        document: JSON = orjson.loads(self.body)
        return document

    @property
    def event_id(self) -> str:
        return self.headers["wirelane-event-id"]


Answer = Callable[[dict[str, str], int], int]  # (headers, how many times this event came before) -> status


class Receiver:
    """Records requests; `answer` decides each status code (200 unless told otherwise)."""

    def __init__(self, answer: Answer | None = None) -> None:
        self.answer: Answer = answer or (lambda headers, seen: 200)
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver._lock:
                    seen = sum(
                        1
                        for r in receiver.requests
                        if r.headers.get("wirelane-event-id") == headers.get("wirelane-event-id")
                    )
                    status = receiver.answer(headers, seen)
                    receiver.requests.append(Received(headers, body, time.time(), status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/wirelane"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def received(self) -> list[Received]:
        with self._lock:
            return list(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


def configure(client: ApiClient, url: str | None, **settings: Any) -> JSON:
    response = client.admin("POST", "webhooks", {"url": url, "secret": SECRET, **settings})
    assert response.status_code == 200, response.text
    report: JSON = response.json()
    return report


def step(client: ApiClient, minutes: int) -> JSON:
    """One advance, and every delivery it caused finished."""
    summary: JSON = client.admin("POST", "advance", {"minutes": minutes}).json()
    assert client.simulator.state.dispatcher.wait_idle(30), client.admin("GET", "webhooks").json()
    return summary


def report(client: ApiClient) -> JSON:
    body: JSON = client.admin("GET", "webhooks").json()
    return body


def verify(request: Received, secret: str = SECRET) -> int:
    """The signed timestamp, after checking the signature as a receiver would."""
    match = SIGNATURE.match(request.headers["wirelane-signature"])
    assert match, request.headers["wirelane-signature"]
    stamp, digest = match.groups()
    signed = f"{stamp}.{request.headers['wirelane-delivery-id']}.".encode() + request.body
    assert hmac.compare_digest(digest, hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest())
    return int(stamp)


def stations(client: ApiClient) -> dict[str, dict[int, str]]:
    """Connector statuses per station id (as the event's resource_id: text)."""
    return {
        str(st["id"]): {c["connector_id"]: c["status"] for c in st["connectors"]}
        for org in client.organizations
        for st in client.get_all(f"/organizations/id/{org}/stations", {"include_roaming": "true"})
    }


def session_ids(client: ApiClient) -> set[str]:
    return {
        s["session_id"] for org in client.organizations for s in client.get_all(f"/organizations/id/{org}/sessions")
    }


# -- what is sent --------------------------------------------------------------------------
def test_every_change_is_one_event_as_the_summary_counts(
    make_simulator: Callable[..., RunningSimulator], receiver: Receiver
) -> None:
    """Sessions, stations and tariffs, over a long advance (every tariff changes within 45
    days) and a few short ones; checked against the summary and against the API itself."""
    running = make_simulator(sizes=SIZES, webhook_url=receiver.url, webhook_secret=SECRET)
    totals: Counter[tuple[str, str]] = Counter()
    correlations: set[str] = set()
    with ApiClient(running) as client:
        for minutes in (45 * 24 * 60, 90, 90, 90):
            before_stations, before_sessions, seen = stations(client), session_ids(client), len(receiver.received())
            summary = step(client, minutes)
            after_stations, after_sessions = stations(client), session_ids(client)
            got = receiver.received()[seen:]
            documents = [r.event for r in got]
            kinds = Counter((d["resource_type"], d["action"]) for d in documents)
            totals.update(kinds)
            assert kinds[("charging_session", "start")] == summary["new_sessions"]
            assert kinds[("charging_session", "close")] == summary["closed_sessions"]
            assert kinds[("charging_session", "update")] == summary["progressed_sessions"] + summary["late_updates"]
            assert kinds[("tariff", "update")] == summary["tariff_changes"]
            started = {d["resource_id"] for d in documents if d["event_name"] == "charging_session_start"}
            assert started == after_sessions - before_sessions
            changed = {sid for sid, connectors in after_stations.items() if connectors != before_stations.get(sid)}
            assert {d["resource_id"] for d in documents if d["resource_type"] == "charging_station"} == changed
            assert len({d["correlation_id"] for d in documents}) <= 1  # one per advance
            correlations.update(d["correlation_id"] for d in documents)
            for request, document in zip(got, documents, strict=True):
                EVENT_LOG.validate(document)
                assert API_TIMESTAMP.match(document["event_date"])
                assert request.headers["content-type"] == "application/json"
                assert request.headers["wirelane-event-id"] == document["id"]
                assert request.headers["wirelane-delivery-attempt"] == "1"
                verify(request)
            for document in documents:
                data = orjson.loads(document["data"])
                assert orjson.loads(document["core_data"]) == {"organization_id": document["resource_owner"]}
                if document["resource_type"] == "tariff":
                    tariff = client.get(
                        f"/organizations/id/{document['resource_owner']}/tariffs/id/{data['id']}"
                    ).json()
                    assert tariff["update_date"] == data["update_date"] == document["event_date"]
                elif document["resource_type"] == "charging_station":
                    assert {c["connector_id"]: c["status"] for c in data["connectors"]} == after_stations[
                        str(data["id"])
                    ]
                else:
                    assert data["session_id"] == document["resource_id"]
    assert len(correlations) == 4
    for kind in [("charging_session", a) for a in ("start", "update", "close")] + [
        ("charging_station", "update"),
        ("tariff", "update"),
    ]:
        assert totals[kind] > 0, (kind, totals)
    ids = [r.event_id for r in receiver.received()]
    assert len(ids) == len(set(ids)), "every event has its own id"
    counters = running.state.dispatcher.report()
    assert counters["published"] == counters["delivered"] == counters["attempts"] == len(ids)
    assert counters["pending"] == counters["retries"] == counters["rejected"] == counters["gave_up"] == 0


def test_the_same_seed_and_advances_give_the_same_events() -> None:
    def run() -> list[JSON]:
        world = build_world(7, SIZES, timefmt.parse_iso(DEFAULT_NOW))
        produced: list[JSON] = []
        for minutes in (600, 60):
            changes = advance.ChangeSet()
            advance.advance(world, minutes, changes)
            produced += events.documents(world, changes)
        changes = advance.ChangeSet()
        advance.shift(world, 2, 3, changes)
        return produced + events.documents(world, changes)

    first = run()
    assert first and first == run()


def test_the_page_shift_fault_publishes_its_changes(
    make_simulator: Callable[..., RunningSimulator], receiver: Receiver
) -> None:
    shift = {"page_shift": {"every": 1, "limit": 1, "updates": 2, "inserts": 3}}
    with ApiClient(make_simulator(sizes=SIZES, faults=shift)) as client:
        configure(client, receiver.url)
        org = client.organizations[0]
        assert client.get(f"/organizations/id/{org}/sessions", {"page": 2, "page_size": 10}).status_code == 200
        assert client.simulator.state.dispatcher.wait_idle(30)
    kinds = Counter(r.event["action"] for r in receiver.received())
    assert kinds == {"update": 2, "start": 3}


# -- how it is delivered -------------------------------------------------------------------
def test_a_failing_receiver_gets_the_event_on_the_third_attempt_signed_anew(
    make_simulator: Callable[..., RunningSimulator],
) -> None:
    failing = Receiver(lambda headers, seen: 503 if seen < 2 else 200)
    try:
        with ApiClient(make_simulator(sizes=SIZES)) as client:
            configure(client, failing.url, backoff_s=0.6, max_backoff_s=5)
            step(client, 120)
            counters = report(client)
    finally:
        failing.close()
    by_event: dict[str, list[Received]] = {}
    for request in failing.received():
        by_event.setdefault(request.event_id, []).append(request)
    assert by_event, "an advance of two hours changes something"
    for attempts in by_event.values():
        assert [r.status for r in attempts] == [503, 503, 200]
        assert [r.headers["wirelane-delivery-attempt"] for r in attempts] == ["1", "2", "3"]
        assert len({r.headers["wirelane-delivery-id"] for r in attempts}) == 3
        assert len({r.body for r in attempts}) == 1
        stamps = [verify(r) for r in attempts]
        for request, stamp in zip(attempts, stamps, strict=True):
            assert request.at - 1.5 <= stamp <= request.at + 0.5, "signed when sent, not when published"
        assert stamps == sorted(stamps) and stamps[2] > stamps[0], "the waits (0.6 s, then 1.2 s) move the clock"
    events_sent = len(by_event)
    assert counters["published"] == counters["delivered"] == events_sent
    assert counters["attempts"] == 3 * events_sent and counters["retries"] == 2 * events_sent
    assert counters["gave_up"] == counters["rejected"] == counters["pending"] == 0


def test_a_401_is_not_retried_and_the_secret_is_never_logged(
    make_simulator: Callable[..., RunningSimulator], caplog: pytest.LogCaptureFixture
) -> None:
    refusing = Receiver(lambda headers, seen: 401)
    try:
        with ApiClient(make_simulator(sizes=SIZES)) as client, caplog.at_level(logging.DEBUG):
            configure(client, refusing.url, **FAST)
            step(client, 120)
            counters = report(client)
    finally:
        refusing.close()
    received = refusing.received()
    assert received and len({r.event_id for r in received}) == len(received), "one attempt per event"
    assert counters["rejected"] == counters["published"] == counters["attempts"] == len(received)
    assert counters["retries"] == counters["delivered"] == counters["gave_up"] == 0
    assert "401" in (counters["last_failure"] or "")
    assert "rejected" in caplog.text and SECRET not in caplog.text


def test_a_receiver_that_never_answers_is_given_up_after_max_attempts(
    make_simulator: Callable[..., RunningSimulator],
) -> None:
    with ApiClient(make_simulator(sizes=SIZES)) as client:
        configure(client, f"http://127.0.0.1:{free_port()}/nobody-listens", max_attempts=3, **FAST)
        step(client, 120)
        counters = report(client)
    assert counters["published"] == counters["gave_up"] > 0
    assert counters["attempts"] == 3 * counters["published"] and counters["retries"] == 2 * counters["published"]
    assert counters["delivered"] == counters["pending"] == 0


def test_duplicate_rate_one_sends_every_event_twice(
    make_simulator: Callable[..., RunningSimulator], receiver: Receiver
) -> None:
    with ApiClient(make_simulator(sizes=SIZES)) as client:
        configure(client, receiver.url, duplicate_rate=1, **FAST)
        step(client, 120)
        counters = report(client)
    copies: dict[str, list[Received]] = {}
    for request in receiver.received():
        copies.setdefault(request.event_id, []).append(request)
    assert copies
    for pair in copies.values():
        assert len(pair) == 2 and pair[0].body == pair[1].body
        assert pair[0].event["id"] == pair[1].event["id"]
        assert pair[0].headers["wirelane-delivery-id"] != pair[1].headers["wirelane-delivery-id"]
    assert counters["published"] == counters["duplicated"] == len(copies)
    assert counters["delivered"] == 2 * len(copies)


def test_drop_rate_one_sends_nothing(make_simulator: Callable[..., RunningSimulator], receiver: Receiver) -> None:
    with ApiClient(make_simulator(sizes=SIZES)) as client:
        configure(client, receiver.url, drop_rate=1)
        summary = step(client, 120)
        counters = report(client)
    assert summary["new_sessions"] + summary["progressed_sessions"] + summary["closed_sessions"] > 0
    assert receiver.received() == []
    assert counters["dropped"] == counters["published"] > 0
    assert counters["attempts"] == counters["delivered"] == counters["pending"] == 0


def test_shuffle_reorders_a_batch_reproducibly() -> None:
    bodies = [(str(n), f'{{"id": "{n}"}}'.encode()) for n in range(50)]
    config = webhooks.WebhookConfig(url="http://127.0.0.1:9/", secret=SECRET, shuffle=True)
    first, _, _ = webhooks.plan(bodies, config, random.Random("42/1"))
    again, _, _ = webhooks.plan(bodies, config, random.Random("42/1"))
    assert first == again and first != bodies and sorted(first) == sorted(bodies)
    unshuffled, _, _ = webhooks.plan(bodies, webhooks.WebhookConfig(), random.Random("42/1"))
    assert unshuffled == bodies


# -- the admin routes ----------------------------------------------------------------------
def test_the_admin_routes_never_show_the_secret(make_simulator: Callable[..., RunningSimulator]) -> None:
    running = make_simulator(sizes=SIZES, webhook_url="http://127.0.0.1:9/hook", webhook_secret=SECRET)
    with ApiClient(running) as client:
        shown = client.admin("GET", "webhooks")
        assert shown.status_code == 200 and SECRET not in shown.text
        assert shown.json()["url"] == "http://127.0.0.1:9/hook" and shown.json()["secret_set"] is True
        assert set(webhooks.COUNTERS) <= set(shown.json())
        changed = client.admin(
            "POST", "webhooks", {"url": "http://127.0.0.1:9/other", "secret": SECRET, "shuffle": True}
        )
        assert changed.status_code == 200 and SECRET not in changed.text
        assert changed.json()["shuffle"] is True and changed.json()["max_attempts"] == 10
        assert SECRET not in repr(running.state.dispatcher.config)
        off = configure(client, None)
        assert off["url"] is None and off["secret_set"] is False
        published = off["published"]
        step(client, 120)
        assert report(client)["published"] == published, "url null switches sending off"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"url": "http://127.0.0.1:9/hook"}, "needs a secret"),
        ({"url": "http://127.0.0.1:9/hook", "secret": ""}, "needs a secret"),
        ({"url": "ftp://example.test/", "secret": SECRET}, "http(s) URL"),
        ({"url": "http://127.0.0.1:9/", "secret": SECRET, "drop_rate": 1.5}, "drop_rate"),
        ({"url": "http://127.0.0.1:9/", "secret": SECRET, "duplicate_rate": "often"}, "duplicate_rate"),
        ({"url": "http://127.0.0.1:9/", "secret": SECRET, "max_attempts": 0}, "max_attempts"),
        ({"url": "http://127.0.0.1:9/", "secret": SECRET, "backoff_s": 0}, "backoff_s"),
        ({"url": "http://127.0.0.1:9/", "secret": SECRET, "shuffle": "yes"}, "shuffle"),
        ({"url": "http://127.0.0.1:9/", "secret": SECRET, "retries": 3}, "unknown setting retries"),
        (["not", "an", "object"], "JSON object"),
    ],
)
def test_bad_webhook_settings_are_refused(api: ApiClient, body: Any, says: str) -> None:
    """On the shared simulator: a refused body changes nothing."""
    response = api.admin("POST", "webhooks", body)
    assert response.status_code == 400
    assert response.json()["error_code"] == "validation_error"
    assert says in response.json()["error_message"]
    assert SECRET not in response.text
    assert api.admin("GET", "webhooks").json()["url"] is None


def test_the_served_document_describes_the_webhook_routes(api: ApiClient) -> None:
    served = api.http.get(f"{api.simulator.base_url}/openapi.json").json()
    route = served["paths"]["/_simulator/webhooks"]
    assert set(route) >= {"get", "post"}
    assert set(route["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]) == {
        f.name for f in dataclasses.fields(webhooks.WebhookConfig)
    }
