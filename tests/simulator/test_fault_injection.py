"""Every fault does exactly what its setting says, counted per request so tests are exact."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from pipelines.cli import _fault_settings
from simulator.server import RunningSimulator
from simulator.world import SimulatorSizes
from tests.api_client import ApiClient

SIZES = SimulatorSizes(organizations=1, stations=10, members=20, sessions=500, days=30)
SESSIONS = "/organizations/id/DEMOTENANT/sessions"
STATIONS = "/organizations/id/DEMOTENANT/stations"


@pytest.fixture
def client(make_simulator: Any) -> Iterator[ApiClient]:
    with ApiClient(make_simulator(sizes=SIZES)) as api:
        api.token  # noqa: B018 (fetch the token before any fault is set)
        yield api


def set_faults(client: ApiClient, settings: dict[str, Any]) -> dict[str, Any]:
    response = client.admin("POST", "faults", settings)
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


def report(client: ApiClient) -> dict[str, Any]:
    result: dict[str, Any] = client.admin("GET", "faults").json()
    return result


def statuses(client: ApiClient, count: int, path: str = SESSIONS) -> list[int]:
    return [client.get(path, {"page_size": 5}).status_code for _ in range(count)]


def test_rate_limit_every_nth_request_with_retry_after(client: ApiClient) -> None:
    set_faults(client, {"rate_limit": {"every": 3, "retry_after": 7}})
    responses = [client.get(SESSIONS, {"page_size": 5}) for _ in range(9)]
    assert [r.status_code for r in responses] == [200, 200, 429] * 3
    limited = responses[2]
    assert limited.headers["retry-after"] == "7"
    assert limited.json()["error_code"] == "too_many_requests"
    counters = report(client)["rate_limit"]
    assert (counters["seen"], counters["injected"]) == (9, 3)


def test_server_error_bursts(client: ApiClient) -> None:
    set_faults(client, {"server_error": {"every": 4, "status": 502, "burst": 3, "limit": 3}})
    assert statuses(client, 8) == [200, 200, 200, 502, 502, 502, 200, 200]
    assert report(client)["server_error"]["injected"] == 3


def test_dropped_connections_break_the_response_but_not_the_server(client: ApiClient) -> None:
    set_faults(client, {"drop": {"every": 2}})
    assert client.get(SESSIONS).status_code == 200
    with pytest.raises(httpx.TransportError):
        client.get(SESSIONS)
    assert client.get(SESSIONS).status_code == 200
    assert report(client)["drop"]["injected"] == 1


def test_slow_responses_cause_read_timeouts(client: ApiClient) -> None:
    set_faults(client, {"slow": {"every": 1, "delay_s": 1.2, "limit": 2}})
    started = time.monotonic()
    assert client.get(SESSIONS).status_code == 200
    assert time.monotonic() - started >= 1.2
    with pytest.raises(httpx.ReadTimeout):
        client.http.get(
            f"{client.simulator.api_url}{SESSIONS}",
            headers={"Authorization": f"Bearer {client.token}"},
            timeout=httpx.Timeout(5.0, read=0.3),
        )
    started = time.monotonic()
    assert client.get(SESSIONS).status_code == 200
    assert time.monotonic() - started < 1.0, "the limit of 2 slow responses is used up"


def test_malformed_json_pages(client: ApiClient) -> None:
    set_faults(client, {"malformed_json": {"every": 2}})
    assert client.get(SESSIONS).json()
    broken = client.get(SESSIONS)
    assert broken.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.content)


def test_page_shift_moves_sessions_while_a_client_pages(client: ApiClient) -> None:
    first = client.get(SESSIONS, {"page_size": 50, "order_by": "updateDate", "order_direction": "desc"})
    total = int(first.headers["X-Total-Count"])
    newest_seen = max(datetime.strptime(s["update_date"], "%Y-%m-%dT%H:%M:%S%z") for s in first.json())
    clock = client.admin("GET", "stats").json()["now"]
    set_faults(client, {"page_shift": {"every": 1, "updates": 4, "inserts": 3, "limit": 1}})
    second = client.get(SESSIONS, {"page": 2, "page_size": 50, "order_by": "updateDate", "order_direction": "desc"})
    assert int(second.headers["X-Total-Count"]) == total + 3
    assert client.admin("GET", "stats").json()["now"] != clock
    refreshed = client.get(SESSIONS, {"page_size": 7, "order_by": "updateDate", "order_direction": "desc"}).json()
    moved = [datetime.strptime(s["update_date"], "%Y-%m-%dT%H:%M:%S%z") for s in refreshed]
    assert all(stamp > newest_seen for stamp in moved), "the 7 shifted sessions are now the newest"
    # page 1 requests never shift: a scan's first page is what it is
    assert client.get(SESSIONS, {"page": 1}).status_code == 200
    assert report(client)["page_shift"]["injected"] == 1


def test_revoke_tokens_every_nth_request(client: ApiClient) -> None:
    set_faults(client, {"revoke_tokens": {"every": 2, "limit": 1}})
    assert client.get(SESSIONS).status_code == 200
    revoked = client.get(SESSIONS)
    assert revoked.status_code == 401
    assert revoked.json()["error_code"] == "token_revoked"
    fresh = client.password_token()
    assert client.get(SESSIONS, token=fresh).status_code == 200


def test_short_token_lifetime(client: ApiClient) -> None:
    set_faults(client, {"token_lifetime_s": 2})
    assert client.token_request(**_password(client)).json()["expires_in"] == 2
    set_faults(client, {"profile": "none"})
    assert client.token_request(**_password(client)).json()["expires_in"] == 3600


def _password(client: ApiClient) -> dict[str, str]:
    creds = client.simulator.credentials
    return {
        "grant_type": "password",
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
        "username": creds.username,
        "password": creds.password,
    }


def test_schema_drift_adds_a_field_everywhere_documents_are_listed(client: ApiClient) -> None:
    set_faults(client, {"schema_drift": {"field_name": "co2_g_per_kwh", "value": 312.5}})
    for path in (SESSIONS, STATIONS, "/organizations/id/DEMOTENANT/tariffs"):
        assert all(item["co2_g_per_kwh"] == 312.5 for item in client.get(path).json())
    assert "co2_g_per_kwh" not in client.get("/organizations/id/DEMOTENANT/members").json()[0]


def test_type_change_renders_a_field_with_another_type(client: ApiClient) -> None:
    set_faults(client, {"type_change": {"field_name": "kwh", "to": "string"}})
    sessions = client.get(SESSIONS).json()
    assert sessions and all(isinstance(s["kwh"], str) for s in sessions)
    float(sessions[0]["kwh"])


def test_paths_limit_a_fault_to_some_endpoints(client: ApiClient) -> None:
    set_faults(client, {"server_error": {"every": 1, "paths": "/stations"}})
    assert statuses(client, 3) == [200, 200, 200]
    assert statuses(client, 2, STATIONS) == [503, 503]


def test_profiles(client: ApiClient) -> None:
    chaos = set_faults(client, {"profile": "chaos"})
    assert chaos["rate_limit"]["rate"] > 0 and chaos["server_error"]["rate"] > 0 and chaos["drop"]["rate"] > 0
    assert chaos["slow"]["rate"] > 0 and chaos["page_shift"]["rate"] > 0 and chaos["token_lifetime_s"] == 20
    cleared = set_faults(client, {"profile": "none"})
    assert all(
        section.get("rate", 0) == 0 and section.get("every", 0) == 0
        for section in cleared.values()
        if isinstance(section, dict)
    )
    assert statuses(client, 20) == [200] * 20


def test_seeded_rates_are_reproducible(make_simulator: Any) -> None:
    def outcomes() -> list[int]:
        running: RunningSimulator = make_simulator(sizes=SIZES)
        with ApiClient(running) as api:
            api.token  # noqa: B018
            set_faults(api, {"server_error": {"rate": 0.3}})
            return statuses(api, 30)

    first = outcomes()
    assert 0 < first.count(503) < 30
    assert first == outcomes()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"meteor": {}}, "unknown fault 'meteor'"),
        ({"rate_limit": {"sometimes": 1}}, "has no setting 'sometimes'"),
        ({"profile": "hurricane"}, "unknown fault profile"),
        ({"rate_limit": 5}, "takes an object"),
        ({"token_lifetime_s": 0}, "positive integer"),
        ([1, 2], "JSON object"),
    ],
)
def test_invalid_settings_are_refused(client: ApiClient, body: Any, message: str) -> None:
    response = client.admin("POST", "faults", body)
    assert response.status_code == 400
    assert message in response.json()["error_message"]


def test_cli_fault_settings(tmp_path: Path) -> None:
    assert _fault_settings("chaos") == {"profile": "chaos"}
    assert _fault_settings('{"drop": {"every": 5}}') == {"drop": {"every": 5}}
    settings_file = tmp_path / "faults.json"
    settings_file.write_bytes(orjson.dumps({"slow": {"rate": 0.1}}))
    assert _fault_settings(f"@{settings_file}") == {"slow": {"rate": 0.1}}
    assert _fault_settings(None) is None
    for garbage in ("hurricane", '{"meteor": 1}', "[1]"):
        with pytest.raises(ValueError):
            _fault_settings(garbage)
