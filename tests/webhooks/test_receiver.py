"""The receiver takes signed events and keeps them; it refuses forgeries, stale and replayed
deliveries, and what it answered 200 for is on disk even if it is killed right after."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest

from pipelines.webhooks.queue import WebhookQueue
from tests.webhooks.receiver_process import SECRET, receiver, receiver_env
from tests.webhooks.signing import event, signature_header, signed

QUEUE = Path("dlt") / "wirelane-sync" / "webhooks.sqlite"


def post(url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(url, content=body, headers=headers, timeout=10)


def test_signed_events_are_queued_once_and_survive_a_kill(tmp_path: Path) -> None:
    first = event("charging_session", "7f1c0c52-0000-4000-8000-000000000001", "DEMOTENANT")
    second = event("charging_station", "17", "DEMOTENANT")
    with receiver(tmp_path) as running:
        body, headers = signed(SECRET, first)
        assert post(running.url, body, headers).json() == {"status": "queued", "id": first["id"]}
        # the sender's retry: the same event in a new delivery
        _, retry_headers = signed(SECRET, first)
        assert post(running.url, body, retry_headers).json() == {"status": "duplicate", "id": first["id"]}
        # the same signed request again: a replay
        replay = post(running.url, body, headers)
        assert replay.status_code == 409
        assert "replayed" in replay.json()["error"]
        body2, headers2 = signed(SECRET, second)
        assert post(running.url, body2, headers2).status_code == 200
        assert httpx.get(f"{running.base_url}/healthz").json()["pending"] == 2
        running.kill()
        stderr = running.process.stderr.read() if running.process.stderr else ""
    assert SECRET not in stderr
    queue = WebhookQueue(tmp_path / QUEUE)
    pending = queue.pending(10)
    assert [orjson.loads(item.body) for item in pending] == [first, second]
    queue.close()


@pytest.mark.parametrize(
    ("case", "status", "reason"),
    [
        ("no header", 401, "no Wirelane-Signature header"),
        ("wrong secret", 401, "signature does not match"),
        ("tampered body", 401, "signature does not match"),
        ("stale timestamp", 401, "outside the 300 s tolerance"),
        ("malformed header", 401, "malformed"),
        ("no delivery id", 401, "no Wirelane-Delivery-Id header"),
        ("other delivery id", 401, "signature does not match"),
        ("not an event", 400, "not an EventLog object"),
        ("id mismatch", 400, "does not match the body's id"),
        ("too large", 413, "byte limit"),
    ],
)
def test_bad_deliveries_are_refused_and_not_queued(tmp_path: Path, case: str, status: int, reason: str) -> None:
    document = event("charging_session", "7f1c0c52-0000-4000-8000-000000000002", "DEMOTENANT")
    body, headers = signed(SECRET, document)
    delivery = headers["Wirelane-Delivery-Id"]
    if case == "no header":
        del headers["Wirelane-Signature"]
    elif case == "wrong secret":
        headers["Wirelane-Signature"] = signature_header("another-secret-of-some-length", body, delivery)
    elif case == "tampered body":
        body = body.replace(b"DEMOTENANT", b"OTHERTENANT")
    elif case == "stale timestamp":
        headers["Wirelane-Signature"] = signature_header(SECRET, body, delivery, int(time.time()) - 1000)
    elif case == "malformed header":
        headers["Wirelane-Signature"] = "sha256=abc"
    elif case == "no delivery id":
        del headers["Wirelane-Delivery-Id"]
    elif case == "other delivery id":
        headers["Wirelane-Delivery-Id"] = "a-delivery-id-the-sender-did-not-sign"
    elif case == "not an event":
        body = b"[1, 2, 3]"
        headers["Wirelane-Signature"] = signature_header(SECRET, body, delivery)
    elif case == "id mismatch":
        headers["Wirelane-Event-Id"] = "someone-else"
    elif case == "too large":
        body = orjson.dumps({**document, "data": "x" * (1 << 20)})
        headers["Wirelane-Signature"] = signature_header(SECRET, body, delivery)
    with receiver(tmp_path) as running:
        response = post(running.url, body, headers)
        assert response.status_code == status, response.text
        assert reason in response.json()["error"]
        assert httpx.get(f"{running.base_url}/healthz").json()["pending"] == 0


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        (None, "no webhook secret configured; set sources.wirelane.webhook_secret"),
        ("abc123", "webhook_secret is too short"),
    ],
)
def test_serve_without_a_usable_secret_is_one_line_and_exit_2(tmp_path: Path, secret: str | None, message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "webhooks", "serve", "--port", "0"],
        cwd=tmp_path,
        env=receiver_env(tmp_path, secret),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_status_counts_the_queue(tmp_path: Path) -> None:
    with receiver(tmp_path) as running:
        body, headers = signed(SECRET, event("tariff", "3", "DEMOTENANT"))
        assert post(running.url, body, headers).status_code == 200
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "webhooks", "status"],
        cwd=tmp_path,
        env=receiver_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert ": 1 pending, 0 drained, the oldest waiting" in result.stdout
