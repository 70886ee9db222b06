"""The source's OAuth2 and HTTP client against the simulator: one token under concurrency,
new tokens after a 401 (within a bound), refresh with fallback to a new grant, Retry-After honoured, no secrets."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest

from simulator.server import RunningSimulator
from simulator.world import SimulatorSizes
from sources.wirelane.auth import OAuthSettings, WirelaneAuth
from sources.wirelane.client import ClientSettings, WirelaneClient
from sources.wirelane.errors import PaginationLimitError, WirelaneApiError
from tests.api_client import ApiClient

TINY = SimulatorSizes(organizations=1, stations=6, members=10, sessions=300, days=10)
SESSIONS = "/organizations/id/DEMOTENANT/sessions"


def make_client(simulator: RunningSimulator, **overrides: Any) -> WirelaneClient:
    creds = simulator.credentials
    oauth = OAuthSettings(
        token_url=simulator.token_url,
        client_id=creds.client_id,
        client_secret=creds.client_secret,
        username=creds.username,
        password=creds.password,
        margin_s=overrides.pop("margin_s", 30.0),
    )
    settings = ClientSettings(base_url=simulator.api_url, **({"max_backoff_s": 2.0} | overrides))
    return WirelaneClient(settings, WirelaneAuth(oauth, httpx.Client()))


def tokens_issued(simulator: RunningSimulator) -> dict[str, int]:
    with ApiClient(simulator) as api:
        issued: dict[str, int] = api.admin("GET", "stats").json()["tokens_issued"]
        return issued


def test_one_token_fetch_under_concurrency(make_simulator: Any) -> None:
    simulator = make_simulator(sizes=TINY)
    client = make_client(simulator)
    barrier = threading.Barrier(8)

    def call() -> None:
        barrier.wait()
        client.get_json(SESSIONS, {"page_size": 5})

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert client.auth.fetched == 1
    assert tokens_issued(simulator)["password"] == 1


def test_revoked_token_is_replaced_transparently(make_simulator: Any) -> None:
    simulator = make_simulator(sizes=TINY)
    client = make_client(simulator)
    client.get_json(SESSIONS)
    with ApiClient(simulator) as api:
        api.admin("POST", "revoke-tokens")
    assert client.get_json(SESSIONS)  # 401, new token (refresh refused, so a new password grant), retried
    issued = tokens_issued(simulator)
    assert issued["password"] == 2 and issued["refresh_token"] == 0


def test_a_token_revoked_again_after_renewal_is_renewed_again_within_a_bound(make_simulator: Any) -> None:
    """Every token revoked on two requests in a row: the second new token is let through; a
    token refused on every request ends the request with the 401 after three new tokens."""
    simulator = make_simulator(sizes=TINY, faults={"revoke_tokens": {"every": 1, "limit": 2}})
    assert make_client(simulator).get_json(SESSIONS)
    assert simulator.state.requests["findOrganizationChargingSessions"] == 3
    refusing = make_simulator(sizes=TINY, faults={"revoke_tokens": {"every": 1}})
    with pytest.raises(WirelaneApiError, match=r"answered 401 .*check the credentials"):
        make_client(refusing).get_json(SESSIONS)
    assert refusing.state.requests["findOrganizationChargingSessions"] == 4


def test_tokens_are_refreshed_before_expiry_with_the_refresh_token(make_simulator: Any) -> None:
    simulator = make_simulator(sizes=TINY, faults={"token_lifetime_s": 3})
    client = make_client(simulator, margin_s=1.0)
    client.get_json(SESSIONS)
    time.sleep(2.2)
    client.get_json(SESSIONS)
    issued = tokens_issued(simulator)
    assert issued == {"client_credentials": 0, "password": 1, "refresh_token": 1}
    assert simulator.state.requests.get("findOrganizationChargingSessions") == 2, "no request was refused with 401"


def test_retry_after_is_honoured(make_simulator: Any) -> None:
    simulator = make_simulator(sizes=TINY, faults={"rate_limit": {"every": 2, "retry_after": 1}})
    client = make_client(simulator)
    client.get_json(SESSIONS)
    started = time.monotonic()
    client.get_json(SESSIONS)  # 429 with Retry-After: 1, then 200
    assert time.monotonic() - started >= 1.0
    assert client.stats.retries == 1


def test_retries_give_up_with_a_clear_error(make_simulator: Any) -> None:
    simulator = make_simulator(sizes=TINY, faults={"server_error": {"every": 1}})
    client = make_client(simulator, max_attempts=3, max_backoff_s=0.1)
    with pytest.raises(WirelaneApiError, match="still failing after 3 attempts: HTTP 503"):
        client.get_json(SESSIONS)


def test_pagination_stops_on_short_pages_and_caps(make_simulator: Any) -> None:
    simulator = make_simulator(sizes=TINY)
    client = make_client(simulator, page_size=100)
    pages = list(client.pages(SESSIONS))
    assert [len(p) for p in pages] == [100, 100, 100]
    assert simulator.state.requests["findOrganizationChargingSessions"] == 3, "X-Total-Count spares the empty 4th page"
    capped = make_client(simulator, page_size=10, max_pages=3)
    with pytest.raises(PaginationLimitError, match="more than 3 pages"):
        list(capped.pages(SESSIONS))


def test_no_secret_in_reprs_or_errors(make_simulator: Any) -> None:
    simulator = make_simulator(sizes=TINY)
    client = make_client(simulator)
    client.get_json(SESSIONS)
    text = repr(client.auth) + repr(client.auth.settings)
    assert "demo-password" not in text and "demo-secret" not in text
    with pytest.raises(WirelaneApiError) as forbidden:
        client.get_json("/organizations/id/NOT-MINE/sessions")
    assert "403" in str(forbidden.value) and "Bearer" not in str(forbidden.value)
