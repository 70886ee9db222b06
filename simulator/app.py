"""The ASGI application: the Wirelane API 2.0 under `/apis/emc`, OAuth at `/token`, admin routes.

Request flow for an API route: count it, let the gateway faults act (429, 5xx, slow, drop,
revocation), authenticate the bearer token (password grant, `admin` scope, organization
membership), validate parameters against the reference, answer, then let the payload faults
act (schema drift, type change, malformed JSON). All state lives on the event loop's thread,
so no locks are needed: the webhook dispatcher's worker threads get finished bytes, never the
world.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import numpy as np
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from simulator import advance, events, faults, queries, render, spec, timefmt, webhooks
from simulator.auth import DemoCredentials, OAuthError, TokenService
from simulator.validation import ApiError, Validator
from simulator.world import JSON, Organization, World

log = logging.getLogger("simulator")

ORG = "/organizations/id/{organizationId}"
PATHS = {
    "getMembers": f"{ORG}/members",
    "getMemberByAccountId": f"{ORG}/members/aid/{{accountId}}",
    "getOrganizationMemberPaymentMethod": f"{ORG}/members/aid/{{accountId}}/payment_method",
    "getMemberSubscription": f"{ORG}/members/aid/{{accountId}}/subscription",
    "findOrganizationChargingSessions": f"{ORG}/sessions",
    "findOrganizationChargingSession": f"{ORG}/sessions/id/{{sessionId}}",
    "organizationFindChargingStations": f"{ORG}/stations",
    "organizationFindChargingStation": f"{ORG}/stations/id/{{stationId}}",
    "organizationListStationCases": f"{ORG}/stations/id/{{stationId}}/cases",
    "getOrganizationChargingStationConnection": f"{ORG}/stations/id/{{stationId}}/connection",
    "getOrganizationChargingStationMaintenance": f"{ORG}/stations/id/{{stationId}}/maintenance",
    "findTariffsByOrganizationId": f"{ORG}/tariffs",
    "findTariff": f"{ORG}/tariffs/id/{{tariffId}}",
    "findTariffPrice": f"{ORG}/tariffs/id/{{tariffId}}/prices/id/{{priceModelId}}",
}
DRIFT_OPERATIONS = {
    "findOrganizationChargingSessions",
    "findOrganizationChargingSession",
    "organizationFindChargingStations",
    "organizationFindChargingStation",
    "findTariffsByOrganizationId",
    "findTariff",
}
SESSION_OPERATIONS = {"findOrganizationChargingSessions", "findOrganizationChargingSession"}
PAGE_CACHE_BYTES = 128 * 1024 * 1024


class _ExpectedDropFilter(logging.Filter):
    """Keeps uvicorn quiet about connections the drop fault cuts on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "ASGI callable returned without completing response" not in record.getMessage()


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    payload = body if isinstance(body, bytes) else orjson.dumps(body)
    return Response(payload, status_code=status, media_type="application/json", headers=headers)


def _error(error: ApiError, headers: dict[str, str] | None = None) -> Response:
    return _json(error.body(), error.status, headers)


class DroppedResponse(Response):
    """Sends headers and half the body, then abandons the connection (the drop fault)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send(
            {
                "type": "http.response.body",
                "body": self.body[: len(self.body) // 2],
                "more_body": True,
            }
        )


@dataclass
class SimulatorState:
    world: World
    tokens: TokenService
    fault_config: faults.FaultConfig = field(default_factory=faults.FaultConfig)
    fault_rng: random.Random = field(default_factory=lambda: random.Random(0))
    requests: dict[str, int] = field(default_factory=dict)
    # A 429's Retry-After, as the API sees it: requests that arrive while a client was told to
    # wait (after a grace for those already on their way) are counted, so tests can tell a
    # client that honours it from one that hammers on.
    retry_after_window: tuple[float, float] = (0.0, 0.0)
    requests_during_retry_after: int = 0
    # how long, all Retry-Afters merged, the API has asked clients to hold: two 429s answered
    # close together ask for overlapping waits, which one pause honours
    retry_after_held_s: float = 0.0
    base_lifetime_s: int = 3600
    dispatcher: webhooks.Dispatcher = field(default_factory=webhooks.Dispatcher)
    _orderings: OrderedDict[tuple[Any, ...], np.ndarray[Any, Any]] = field(default_factory=OrderedDict)
    _pages: OrderedDict[tuple[Any, ...], bytes] = field(default_factory=OrderedDict)
    _page_bytes: int = 0
    _pages_version: int = -1

    def publish(self, changes: advance.ChangeSet) -> None:
        """Sends the events of one clock move (rendered here, on the world's thread)."""
        if self.dispatcher.sending:
            self.dispatcher.publish(events.documents(self.world, changes), changes.batch)

    def set_faults(self, config: faults.FaultConfig) -> None:
        self.fault_config = config
        self.fault_rng = random.Random(self.world.seed)
        self.tokens.lifetime_s = config.token_lifetime_s or self.base_lifetime_s

    def forget_caches(self) -> None:
        """Drops everything the server keeps only to answer faster (rendered pages, session
        orderings, derived indexes, per-connector fields), so the next reader pays what the
        first one did: a benchmark that repeats a step measures every repetition alike."""
        self._orderings.clear()
        self._pages.clear()
        self._page_bytes, self._pages_version = 0, -1
        self.world.cache.clear()
        for connector in self.world.connectors:
            connector.session_parts = None

    # -- caches for session lists, invalidated by the store's version ---------------------
    def session_ordering(
        self, key: tuple[Any, ...], compute: Callable[[], np.ndarray[Any, Any]]
    ) -> np.ndarray[Any, Any]:
        full_key = (self.world.sessions.version, *key)
        cached = self._orderings.get(full_key)
        if cached is None:
            cached = compute()
            self._orderings[full_key] = cached
            while len(self._orderings) > 32:
                self._orderings.popitem(last=False)
        return cached

    def session_page(self, key: tuple[Any, ...], compute: Callable[[], bytes]) -> bytes:
        """Rendered pages, kept while they fit. A full scan repeats in page order, so once the
        cache is full new pages are not admitted (LRU would evict exactly the pages the next
        scan needs first); a data change empties it."""
        version = self.world.sessions.version
        if version != self._pages_version:
            self._pages.clear()
            self._page_bytes, self._pages_version = 0, version
        cached = self._pages.get(key)
        if cached is None:
            cached = compute()
            if self._page_bytes + len(cached) <= PAGE_CACHE_BYTES:
                self._pages[key] = cached
                self._page_bytes += len(cached)
        return cached


RETRY_AFTER_GRACE_S = 0.25  # requests sent before the client read the 429 may still arrive

Handler = Callable[[SimulatorState, Organization, JSON, Request], Awaitable[Response] | Response]


def _org(state: SimulatorState, organization_id: str) -> Organization:
    org = state.world.org_by_id(organization_id)
    if org is None:
        # unknown and foreign organizations look the same: no existence oracle
        raise ApiError(403, "forbidden", f"The account has no access to organization {organization_id}")
    return org


def _paged(items: list[Any], params: JSON, to_json: Callable[[Any], Any]) -> Response:
    window = queries.page_slice(len(items), params.get("page", 1), params.get("page_size", 50))
    body = [to_json(item) for item in items[window]]
    return _json(body, headers={"X-Total-Count": str(len(items))})


# -- handlers --------------------------------------------------------------------------------
def members(state: SimulatorState, org: Organization, params: JSON, request: Request) -> Response:
    return _paged(queries.member_list(state.world, org, params), params, lambda m: m.document)


def _member(state: SimulatorState, org: Organization, params: JSON) -> Any:
    member = state.world.member_by_account(org, params["accountId"])
    if member is None:
        raise ApiError(404, "not_found", f"Member {params['accountId']} not found in organization {org.id}")
    return member


def member(state: SimulatorState, org: Organization, params: JSON, request: Request) -> Response:
    return _json(_member(state, org, params).document)


def payment_method(state: SimulatorState, org: Organization, params: JSON, request: Request) -> Response:
    m = _member(state, org, params)
    if m.payment_method is None:
        raise ApiError(404, "not_found", f"Member {m.account_id} has no payment method")
    return _json(m.payment_method)


def subscription(state: SimulatorState, org: Organization, params: JSON, request: Request) -> Response:
    m = _member(state, org, params)
    if m.subscription is None:
        raise ApiError(404, "not_found", f"Member {m.account_id} has no subscription")
    return _json(m.subscription)


def sessions(state: SimulatorState, org: Organization, params: JSON, request: Request) -> Response:
    world = state.world
    shift = state.fault_config.page_shift
    if params.get("page", 1) >= 2 and shift.fires(request.url.path, state.fault_rng):
        changes = advance.ChangeSet()
        advance.shift(world, shift.updates, shift.inserts, changes)
        state.publish(changes)
    filters = tuple(
        sorted(
            (k, tuple(v) if isinstance(v, list) else v)
            for k, v in params.items()
            if k not in ("page", "page_size", "order_by", "order_direction")
        )
    )
    order_by = params.get("order_by", "creationDate")
    descending = params.get("order_direction") != "asc"

    def compute() -> np.ndarray[Any, Any]:
        found = queries.session_filter(world, org, params, lambda i: render.identification(world, i))
        return queries.order_sessions(world, found, order_by, descending)

    ordered = state.session_ordering((org.index, filters, order_by, descending), compute)
    page, page_size = params.get("page", 1), params.get("page_size", 50)
    window = queries.page_slice(len(ordered), page, page_size)
    body = state.session_page(
        (org.index, filters, order_by, descending, page, page_size),
        lambda: render.session_list(world, ordered[window].tolist()),
    )
    return _json(body, headers={"X-Total-Count": str(len(ordered))})


def session(state: SimulatorState, org: Organization, params: JSON, request: Request) -> Response:
    index = state.world.sessions.find(params["sessionId"])
    if index is None or int(state.world.sessions.org[index]) != org.index:
        raise ApiError(404, "not_found", f"Session {params['sessionId']} not found in organization {org.id}")
    return _json(render.session(state.world, index))


def stations(state: SimulatorState, org: Organization, params: JSON, request: Request) -> Response:
    world = state.world
    return _paged(
        queries.station_list(world, org, params),
        params,
        lambda s: render.station(world, s, detail=False),
    )


def _station(state: SimulatorState, org: Organization, params: JSON) -> Any:
    station = state.world.station_by_id(org, params["stationId"])
    if station is None:
        raise ApiError(404, "not_found", f"Station {params['stationId']} not found in organization {org.id}")
    return station


def station(state: SimulatorState, org: Organization, params: JSON, request: Request) -> Response:
    return _json(render.station(state.world, _station(state, org, params), detail=True))


def cases(state: SimulatorState, org: Organization, params: JSON, request: Request) -> Response:
    return _paged(queries.case_list(_station(state, org, params), params), params, lambda c: c)


def connection(state: SimulatorState, org: Organization, params: JSON, request: Request) -> Response:
    return _json(_station(state, org, params).connection_chain)


def maintenance(state: SimulatorState, org: Organization, params: JSON, request: Request) -> Response:
    return _paged(_station(state, org, params).maintenance, params, lambda w: w)


def _language(request: Request) -> str:
    header = request.headers.get("accept-language", "")
    return header.split(",")[0].split("-")[0].strip().lower() if header else ""


def tariffs(state: SimulatorState, org: Organization, params: JSON, request: Request) -> Response:
    world = state.world
    language = _language(request)
    found = queries.tariff_list(world, org, params, language or "en")
    return _paged(found, params, lambda t: render.tariff(world, t, detail=False, language=language or None))


def _tariff(state: SimulatorState, org: Organization, params: JSON) -> Any:
    tariff = state.world.tariff_by_id(org, params["tariffId"])
    if tariff is None:
        raise ApiError(404, "not_found", f"Tariff {params['tariffId']} not found in organization {org.id}")
    return tariff


def tariff(state: SimulatorState, org: Organization, params: JSON, request: Request) -> Response:
    return _json(render.tariff(state.world, _tariff(state, org, params), detail=True))


def price_model(state: SimulatorState, org: Organization, params: JSON, request: Request) -> Response:
    t = _tariff(state, org, params)
    for index in t.price_model_indices:
        model = state.world.price_models[index]
        if model.id == params["priceModelId"]:
            return _json(model.document)
    raise ApiError(404, "not_found", f"Price {params['priceModelId']} not found in tariff {t.id}")


HANDLERS: dict[str, Handler] = {
    "getMembers": members,
    "getMemberByAccountId": member,
    "getOrganizationMemberPaymentMethod": payment_method,
    "getMemberSubscription": subscription,
    "findOrganizationChargingSessions": sessions,
    "findOrganizationChargingSession": session,
    "organizationFindChargingStations": stations,
    "organizationFindChargingStation": station,
    "organizationListStationCases": cases,
    "getOrganizationChargingStationConnection": connection,
    "getOrganizationChargingStationMaintenance": maintenance,
    "findTariffsByOrganizationId": tariffs,
    "findTariff": tariff,
    "findTariffPrice": price_model,
}


# -- payload faults --------------------------------------------------------------------------
def _transform_payload(state: SimulatorState, operation: str, body: bytes) -> bytes:
    drift, change = state.fault_config.schema_drift, state.fault_config.type_change
    if not drift.enabled and not (change.enabled and operation in SESSION_OPERATIONS):
        return body
    data = orjson.loads(body)
    items = data if isinstance(data, list) else [data]
    for item in items:
        if drift.enabled:
            item[drift.field_name] = drift.value
        if change.enabled and operation in SESSION_OPERATIONS and change.field_name in item:
            value = item[change.field_name]
            item[change.field_name] = {
                "string": str(value),  # the same value, quoted
                "text": f"{value} (legacy)",  # no longer parseable as the old type
                "number": 0,
                "object": {"value": value},
            }.get(change.to, value)
    return orjson.dumps(data)


def _api_endpoint(state: SimulatorState, operation: str, path: str) -> Callable[[Request], Awaitable[Response]]:
    validator = Validator.for_path(path)
    handler = HANDLERS[operation]

    async def endpoint(request: Request) -> Response:
        state.requests[operation] = state.requests.get(operation, 0) + 1
        now = time.monotonic()
        if state.retry_after_window[0] <= now < state.retry_after_window[1]:
            state.requests_during_retry_after += 1
        cfg, rng, url_path = state.fault_config, state.fault_rng, request.url.path
        if cfg.revoke_tokens.fires(url_path, rng):
            state.tokens.revoke_all()
        if cfg.rate_limit.fires(url_path, rng):
            wait = cfg.rate_limit.retry_after
            held_until = state.retry_after_window[1]
            state.retry_after_held_s += max(0.0, now + wait - max(held_until, now))
            state.retry_after_window = (now + RETRY_AFTER_GRACE_S, max(held_until, now + wait))
            error = ApiError(429, "too_many_requests", "Rate limit exceeded, retry later")
            return _error(error, {"Retry-After": str(cfg.rate_limit.retry_after)})
        if cfg.server_error.fires(url_path, rng):
            return _error(ApiError(cfg.server_error.status, "internal_error", "Temporary failure, retry later"))
        if cfg.slow.fires(url_path, rng):
            await asyncio.sleep(cfg.slow.delay_s)
        try:
            state.tokens.authorize(request.headers.get("authorization"), "admin")
            org = _org(state, request.path_params["organizationId"])
            params = validator.validate(request.path_params, _multi(request), request.headers)
            response = handler(state, org, params, request)
            if isinstance(response, Awaitable):
                response = await response
        except ApiError as error:
            headers = (
                {"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{error.error_message}"'}
                if error.status == 401
                else None
            )
            return _error(error, headers)
        body = bytes(response.body)
        if operation in DRIFT_OPERATIONS:
            body = _transform_payload(state, operation, body)
        if cfg.malformed_json.fires(url_path, rng):
            body = body[: max(1, len(body) * 2 // 3)]
        headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type")}
        if cfg.drop.fires(url_path, rng):
            return DroppedResponse(body, status_code=200, media_type="application/json", headers=headers)
        return Response(body, status_code=response.status_code, media_type="application/json", headers=headers)

    return endpoint


def _multi(request: Request) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        result.setdefault(key, []).append(value)
    return result


# -- token endpoint and admin routes ---------------------------------------------------------
def _token_endpoint(state: SimulatorState) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        state.requests["token"] = state.requests.get("token", 0) + 1
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("application/x-www-form-urlencoded"):
            error = OAuthError(400, "invalid_request", "Use Content-Type: application/x-www-form-urlencoded")
            return _json(error.body(), error.status, {"Cache-Control": "no-store"})
        raw = (await request.body()).decode("utf-8", "replace")
        form = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        try:
            body = state.tokens.token(form, request.headers.get("authorization"))
        except OAuthError as error:
            headers = {"WWW-Authenticate": 'Basic realm="wirelane"'} if error.status == 401 else None
            return _json(
                error.body(),
                error.status,
                headers | {"Cache-Control": "no-store"} if headers else {"Cache-Control": "no-store"},
            )
        return _json(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    return endpoint


def stats(state: SimulatorState) -> JSON:
    world = state.world
    s = world.sessions
    per_org: JSON = {}
    for org in world.organizations:
        stations_ = [world.stations[i] for i in org.station_indices]
        members_ = [world.members[i] for i in org.member_indices]
        tariffs_ = [world.tariffs[i] for i in org.tariff_indices]
        per_org[org.id] = {
            "sessions": int((s.org == org.index).sum()),
            "charging_stations": len(stations_),
            "roaming_charging_stations": sum(1 for st in stations_ if st.roaming),
            "connectors": sum(len(st.connector_indices) for st in stations_),
            "station_cases": sum(len(st.cases) for st in stations_),
            "station_connection_chains": sum(len(st.connection_chain) for st in stations_),
            "station_maintenance_windows": sum(len(st.maintenance) for st in stations_),
            "members": len(members_),
            "member_payment_methods": sum(1 for m in members_ if m.payment_method is not None),
            "member_subscriptions": sum(1 for m in members_ if m.subscription is not None),
            "tariffs": len(tariffs_),
            "price_models": sum(len(t.price_model_indices) for t in tariffs_),
        }
    totals = {key: sum(org[key] for org in per_org.values()) for key in next(iter(per_org.values()), {})}
    return {
        "organizations": [org.id for org in world.organizations],
        "seed": world.seed,
        "now": timefmt.format_api(world.now),
        "counts": per_org,
        "totals": totals,
        "requests": {
            "total": sum(v for k, v in state.requests.items() if k != "token"),
            "by_operation": dict(state.requests),
            "during_retry_after": state.requests_during_retry_after,
            "retry_after_held_s": round(state.retry_after_held_s, 3),
        },
        "tokens_issued": dict(state.tokens.issued),
        "changes": dict(world.changes),
    }


def _admin_routes(state: SimulatorState) -> list[Route]:
    async def get_stats(request: Request) -> Response:
        return _json(stats(state))

    async def post_advance(request: Request) -> Response:
        try:
            payload = orjson.loads(await request.body() or b"{}")
            minutes = payload.get("minutes") if isinstance(payload, dict) else None
        except orjson.JSONDecodeError:
            minutes = None
        if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= 525_600:
            return _error(ApiError(400, "validation_error", 'Body must be {"minutes": N} with 1 <= N <= 525600'))
        changes = advance.ChangeSet()
        summary = advance.advance(state.world, minutes, changes)
        state.publish(changes)
        return _json(summary)

    async def get_webhooks(request: Request) -> Response:
        return _json(state.dispatcher.report())

    async def post_webhooks(request: Request) -> Response:
        try:
            payload = orjson.loads(await request.body() or b"{}")
            config = webhooks.parse(payload)
        except (orjson.JSONDecodeError, TypeError, ValueError) as error:
            message = f'Invalid webhook settings: {error}; body: {{"url": URL or null, "secret": S, ...}}'
            return _error(ApiError(400, "validation_error", message))
        state.dispatcher.configure(config)
        return _json(state.dispatcher.report())

    async def get_faults(request: Request) -> Response:
        return _json(state.fault_config.report())

    async def post_faults(request: Request) -> Response:
        try:
            payload = orjson.loads(await request.body() or b"{}")
            if not isinstance(payload, dict):
                raise ValueError("the body must be a JSON object")
            config = faults.parse(payload)
        except (orjson.JSONDecodeError, ValueError) as error:
            return _error(ApiError(400, "validation_error", f"Invalid fault settings: {error}"))
        state.set_faults(config)
        return _json(state.fault_config.report())

    async def membership_change(request: Request, keep: bool) -> Response:
        """Removes members or stations from an organization (offboarding), or, with `keep`,
        brings removed ones back as they were; answers how many changed."""
        try:
            payload = orjson.loads(await request.body() or b"{}")
            org = state.world.org_by_id(payload["organization"])
            if org is None:
                raise KeyError(payload["organization"])
            accounts, stations = set(payload.get("members", [])), set(payload.get("stations", []))
        except (orjson.JSONDecodeError, KeyError, TypeError) as error:
            message = f'Body must be {{"organization": ID, "members": [account ids], "stations": [ids]}} ({error})'
            return _error(ApiError(400, "validation_error", message))
        world = state.world
        before = (len(org.member_indices), len(org.station_indices))
        if keep:
            named_members = {i for i, member in enumerate(world.members) if member.account_id in accounts}
            named_stations = {i for i, station in enumerate(world.stations) if station.id in stations}
            org.member_indices = sorted({*org.member_indices, *named_members})
            org.station_indices = sorted({*org.station_indices, *named_stations})
        else:
            org.member_indices = [i for i in org.member_indices if world.members[i].account_id not in accounts]
            org.station_indices = [i for i in org.station_indices if world.stations[i].id not in stations]
        world.station_version += 1
        changed = {
            "members": abs(len(org.member_indices) - before[0]),
            "stations": abs(len(org.station_indices) - before[1]),
        }
        return _json(changed)

    async def post_remove(request: Request) -> Response:
        return await membership_change(request, keep=False)

    async def post_restore(request: Request) -> Response:
        return await membership_change(request, keep=True)

    async def post_organization(request: Request) -> Response:
        """Adds an organization with nothing in it yet, as a newly onboarded customer has."""
        try:
            payload = orjson.loads(await request.body() or b"{}")
            org_id = payload["id"]
            if not isinstance(org_id, str) or not ORGANIZATION_ID.match(org_id):
                raise ValueError(f"{org_id!r} does not match {ORGANIZATION_ID.pattern}")
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            return _error(ApiError(400, "validation_error", f'Body must be {{"id": ORGANIZATION_ID}} ({error})'))
        world = state.world
        if world.org_by_id(org_id) is None:
            world.organizations.append(
                Organization(index=len(world.organizations), id=org_id, tenant=org_id[:5].lower(), country="DE")
            )
        return _json({"organizations": [org.id for org in world.organizations]})

    async def post_revoke(request: Request) -> Response:
        state.tokens.revoke_all()
        return _json({"revoked": True})

    async def post_forget_caches(request: Request) -> Response:
        state.forget_caches()
        return _json({"forgotten": True})

    async def get_openapi(request: Request) -> Response:
        return _json(served_document(str(request.base_url).rstrip("/")))

    return [
        Route("/_simulator/stats", get_stats, methods=["GET"]),
        Route("/_simulator/advance", post_advance, methods=["POST"]),
        Route("/_simulator/faults", get_faults, methods=["GET"]),
        Route("/_simulator/faults", post_faults, methods=["POST"]),
        Route("/_simulator/webhooks", get_webhooks, methods=["GET"]),
        Route("/_simulator/webhooks", post_webhooks, methods=["POST"]),
        Route("/_simulator/revoke-tokens", post_revoke, methods=["POST"]),
        Route("/_simulator/forget-caches", post_forget_caches, methods=["POST"]),
        Route("/_simulator/remove", post_remove, methods=["POST"]),
        Route("/_simulator/restore", post_restore, methods=["POST"]),
        Route("/_simulator/organizations", post_organization, methods=["POST"]),
        Route("/openapi.json", get_openapi, methods=["GET"]),
    ]


# the reference's own pattern for organization ids, read from the document rather than copied
ORGANIZATION_ID = re.compile(
    spec.normalised_document()["components"]["parameters"]["organizationIdParam"]["schema"]["pattern"]
)
API_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{4}$"
_RATE = {"type": "number", "minimum": 0, "maximum": 1, "default": 0}
WEBHOOK_SETTINGS: JSON = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "url": {"type": "string", "nullable": True, "description": "http(s) callback; null stops sending"},
        "secret": {"type": "string", "minLength": 1, "description": "HMAC key; required with a url, never shown"},
        "duplicate_rate": _RATE,
        "drop_rate": _RATE,
        "shuffle": {"type": "boolean", "default": False},
        "max_attempts": {"type": "integer", "minimum": 1, "maximum": webhooks.MAX_ATTEMPTS_LIMIT, "default": 10},
        "backoff_s": {"type": "number", "exclusiveMinimum": True, "minimum": 0, "default": 0.5},
        "max_backoff_s": {"type": "number", "exclusiveMinimum": True, "minimum": 0, "maximum": 3600, "default": 30},
        "timeout_s": {"type": "number", "exclusiveMinimum": True, "minimum": 0, "maximum": 300, "default": 10},
    },
}


def _describe_timestamps(node: Any) -> None:
    """The API writes `2017-10-15T16:44:40+0200` (ISO 8601 with a basic offset), as the
    reference's own examples do; that is not RFC 3339 `date-time`, so the served document
    says what is really sent: a pattern instead of the format."""
    if isinstance(node, dict):
        if node.get("format") == "date-time" and node.get("type") == "string":
            del node["format"]
            node["pattern"] = API_TIMESTAMP
            node["x-wirelane-format"] = "date-time with basic UTC offset"
        for value in node.values():
            _describe_timestamps(value)
    elif isinstance(node, list):
        for value in node:
            _describe_timestamps(value)


def served_document(base_url: str) -> JSON:
    """The reference, normalised, pointed at this server, plus the simulator's own routes."""
    doc = orjson.loads(orjson.dumps(spec.normalised_document()))
    doc["servers"] = [{"url": f"{base_url}{spec.API_PREFIX}", "description": "Wirelane API simulator"}]
    token_url = f"{base_url}/token"
    flows = doc["components"]["securitySchemes"]
    flows["OAuth2Password"]["flows"]["password"]["tokenUrl"] = token_url
    flows["OAuth2Password"]["flows"]["password"]["refreshUrl"] = token_url
    flows["OAuth2ClientCredential"]["flows"]["clientCredentials"]["tokenUrl"] = token_url
    _describe_timestamps(doc["components"]["schemas"])
    admin = {"servers": [{"url": base_url}]}
    plain = {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
    doc["paths"]["/_simulator/stats"] = admin | {
        "get": {
            "tags": ["Simulator"],
            "summary": "Counts per entity and organization",
            "operationId": "simulatorStats",
            "security": [],
            "responses": {"200": plain},
        }
    }
    minutes = {"type": "integer", "minimum": 1, "maximum": 525600}
    advance_body = {"type": "object", "required": ["minutes"], "properties": {"minutes": minutes}}
    doc["paths"]["/_simulator/advance"] = admin | {
        "post": {
            "tags": ["Simulator"],
            "summary": "Move the simulated clock forward",
            "operationId": "simulatorAdvance",
            "security": [],
            "requestBody": {"required": True, "content": {"application/json": {"schema": advance_body}}},
            "responses": {"200": plain, "400": {"$ref": "#/components/responses/default"}},
        }
    }
    doc["paths"]["/_simulator/faults"] = admin | {
        "get": {
            "tags": ["Simulator"],
            "summary": "Fault settings and injection counts",
            "operationId": "simulatorGetFaults",
            "security": [],
            "responses": {"200": plain},
        },
    }
    doc["paths"]["/_simulator/webhooks"] = admin | {
        "get": {
            "tags": ["Simulator"],
            "summary": "Webhook settings (without the secret) and delivery counters",
            "operationId": "simulatorGetWebhooks",
            "security": [],
            "responses": {"200": plain},
        },
        "post": {
            "tags": ["Simulator"],
            "summary": "Replace the webhook settings (url null stops sending)",
            "operationId": "simulatorSetWebhooks",
            "security": [],
            "requestBody": {"required": True, "content": {"application/json": {"schema": WEBHOOK_SETTINGS}}},
            "responses": {"200": plain, "400": {"$ref": "#/components/responses/default"}},
        },
    }
    doc["tags"] = [*doc.get("tags", []), {"name": "Simulator", "description": "Admin routes (no token)."}]
    served: JSON = doc
    return served


def create_app(
    world: World,
    credentials: DemoCredentials | None = None,
    fault_settings: JSON | None = None,
    issuer: str = "wirelane-simulator",
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
) -> Starlette:
    """The application; ValueError if the webhook settings are unusable (a url without a secret)."""
    tokens = TokenService(credentials=credentials or DemoCredentials(), issuer=issuer)
    dispatcher = webhooks.Dispatcher(webhooks.WebhookConfig(url=webhook_url, secret=webhook_secret), world.seed)
    state = SimulatorState(world=world, tokens=tokens, base_lifetime_s=tokens.lifetime_s, dispatcher=dispatcher)
    state.set_faults(faults.parse(fault_settings or {}))
    routes = [Route("/token", _token_endpoint(state), methods=["POST"])]
    for operation, path in PATHS.items():
        routes.append(Route(f"{spec.API_PREFIX}{path}", _api_endpoint(state, operation, path), methods=["GET"]))
    routes.extend(_admin_routes(state))

    async def not_found(request: Request, exc: Exception) -> Response:
        return _error(ApiError(404, "not_found", f"No route for {request.method} {request.url.path}"))

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return _error(ApiError(405, "method_not_allowed", f"{request.method} is not allowed on {request.url.path}"))

    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_allowed})
    app.state.simulator = state
    logging.getLogger("uvicorn.error").addFilter(_ExpectedDropFilter())
    return app


__all__ = ["PATHS", "create_app", "served_document"]
