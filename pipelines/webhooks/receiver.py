"""`wirelane-sync webhooks serve`: the ASGI endpoint the API's organization events are POSTed to.

Its one job is to take an event off the sender fast and never lose it: verify the signature,
commit the event to the queue, answer. Reading the changed records and loading them is the
drain's work (`run --from-webhooks`), on the operator's schedule, so a slow warehouse or API
never makes the sender time out and retry.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from typing import Any

import dlt
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pipelines.webhooks import signature
from pipelines.webhooks.queue import WebhookQueue
from sources.wirelane.errors import WirelaneConfigError

PATH = "/webhooks/wirelane"
MAX_BODY_BYTES = 1 << 20  # an EventLog is a few hundred bytes; its data rarely more than kilobytes
MIN_SECRET_LENGTH = 16
FORGET_EVERY = 500  # deliveries between sweeps of expired delivery ids
log = logging.getLogger("wirelane_sync.webhooks")


def configured_secret() -> str:
    """`sources.wirelane.webhook_secret` (secrets.toml or SOURCES__WIRELANE__WEBHOOK_SECRET)."""
    secret = dlt.secrets.get("sources.wirelane.webhook_secret", str)
    if not secret:
        raise WirelaneConfigError(
            "no webhook secret configured; set sources.wirelane.webhook_secret in .dlt/secrets.toml "
            "(or SOURCES__WIRELANE__WEBHOOK_SECRET) to the secret the API signs its events with"
        )
    if len(secret) < MIN_SECRET_LENGTH:
        raise WirelaneConfigError(
            f"sources.wirelane.webhook_secret is too short: use at least {MIN_SECRET_LENGTH} characters"
        )
    return str(secret)


def configured_tolerance_s() -> float:
    value = dlt.config.get("sources.wirelane.webhook_tolerance_s", float)
    tolerance = signature.DEFAULT_TOLERANCE_S if value is None else float(value)
    if tolerance <= 0:
        raise WirelaneConfigError("sources.wirelane.webhook_tolerance_s must be a positive number of seconds")
    return tolerance


def _refuse(status: int, reason: str) -> JSONResponse:
    log.warning("webhook refused (%s): %s", status, reason)
    return JSONResponse({"error": reason}, status_code=status)


def create_app(
    queue: WebhookQueue,
    secret: str,
    tolerance_s: float = signature.DEFAULT_TOLERANCE_S,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    accepted = 0

    async def receive(request: Request) -> JSONResponse:
        nonlocal accepted
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return _refuse(413, f"body of {declared} bytes is over the {MAX_BODY_BYTES} byte limit")
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _refuse(413, f"body is over the {MAX_BODY_BYTES} byte limit")
        now = clock()
        try:
            signed = signature.verify(
                request.headers.get(signature.HEADER),
                request.headers.get(signature.DELIVERY_HEADER),
                body,
                secret,
                now,
                tolerance_s,
            )
        except signature.BadSignature as error:
            return _refuse(401, str(error))
        event_id = _event_id(body)
        if event_id is None:
            return _refuse(400, "the body is not an EventLog object with a string id")
        header_id = request.headers.get("wirelane-event-id")
        if header_id is not None and header_id != event_id:
            return _refuse(400, "Wirelane-Event-Id does not match the body's id")
        outcome = await run_in_threadpool(queue.append, event_id, body, signed.delivery_id, signed.timestamp, now)
        if outcome == "replayed":
            return _refuse(409, f"delivery {signed.delivery_id} of event {event_id} replayed (accepted before)")
        accepted += 1
        if accepted % FORGET_EVERY == 0:
            await run_in_threadpool(queue.forget_deliveries, int(now - tolerance_s) - 1)
        return JSONResponse({"status": outcome, "id": event_id})

    async def health(request: Request) -> JSONResponse:
        counts = await run_in_threadpool(queue.counts)
        return JSONResponse({"status": "ok", **counts})

    return Starlette(
        routes=[Route(PATH, receive, methods=["POST"]), Route("/healthz", health, methods=["GET"])],
    )


def _event_id(body: bytes) -> str | None:
    try:
        event: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(event, dict):
        return None
    event_id = event.get("id")
    return event_id if isinstance(event_id, str) and 0 < len(event_id) <= 100 else None


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound up front so a taken port fails with a clear message."""
    try:
        return socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    except OSError as error:
        raise WirelaneConfigError(
            f"cannot listen on {host}:{port}: {error.strerror}; choose another --port (0 picks a free one)"
        ) from None


def serve(sock: socket.socket, queue: WebhookQueue, secret: str, tolerance_s: float) -> None:
    """Serves until SIGINT or SIGTERM (uvicorn finishes the requests in flight first)."""
    config = uvicorn.Config(
        create_app(queue, secret, tolerance_s), log_level="warning", access_log=False, lifespan="off"
    )
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        queue.close()
