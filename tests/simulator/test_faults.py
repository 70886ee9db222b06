"""Every fault of the simulator does exactly what its setting says.

The sync pipeline's retry, re-authentication and overlap-tolerant paging are tested against
these faults, so a fault that fires on the wrong request, too often, or not at all would make
those tests prove nothing. Triggers are deterministic (`every` N-th eligible request, `limit`
injections, a seeded `rate`), so each test asserts the exact sequence of outcomes and the
`seen`/`injected` counts `GET /_simulator/faults` reports. Every test mutates faults or the
clock, so each runs on a private simulator.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from pipelines.cli import _fault_settings
from simulator.server import RunningSimulator
from simulator.world import SimulatorSizes
from tests.api_client import ApiClient

SIZES = SimulatorSizes(organizations=1, stations=10, members=20, sessions=500, days=30)
MakeSimulator = Callable[..., RunningSimulator]
JSON = dict[str, Any]
TRIGGERS = ("rate_limit", "server_error", "drop", "slow", "malformed_json", "page_shift", "revoke_tokens")


@pytest.fixture
def client(make_simulator: MakeSimulator) -> Iterator[ApiClient]:
    """A private simulator without faults, and a token fetched before any fault is set."""
    with ApiClient(make_simulator(sizes=SIZES), timeout=10.0) as api:
        api.token  # noqa: B018
        yield api


# -- helpers -----------------------------------------------------------------------------
def org_path(client: ApiClient, endpoint: str) -> str:
    return f"/organizations/id/{client.organizations[0]}/{endpoint}"


def set_faults(client: ApiClient, settings: JSON) -> JSON:
    response = client.admin("POST", "faults", settings)
    assert response.status_code == 200, response.text
    report: JSON = response.json()
    return report


def fault_report(client: ApiClient) -> JSON:
    response = client.admin("GET", "faults")
    assert response.status_code == 200
    report: JSON = response.json()
    return report


def counts(client: ApiClient, fault: str) -> tuple[int, int]:
    """(seen, injected) of one fault, as the admin route reports them."""
    section = fault_report(client)[fault]
    return section["seen"], section["injected"]


def statuses(client: ApiClient, count: int, endpoint: str = "sessions") -> list[int]:
    return [client.get(org_path(client, endpoint), {"page_size": 5}).status_code for _ in range(count)]


def ts(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")


def password_form(client: ApiClient) -> dict[str, str]:
    creds = client.simulator.credentials
    return {
        "grant_type": "password",
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
        "username": creds.username,
        "password": creds.password,
    }


def assert_http_error(response: httpx.Response, status: int, error_code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json() == {"error_code": error_code, "error_message": response.json()["error_message"]}
    assert response.json()["error_message"]


# -- gateway faults ----------------------------------------------------------------------
def test_rate_limit_every_nth_request_with_retry_after(make_simulator: MakeSimulator) -> None:
    """Set at start: every 3rd request is a 429 with the reference's HttpError body and the
    configured Retry-After; the others are untouched and carry no Retry-After."""
    running = make_simulator(sizes=SIZES, faults={"rate_limit": {"every": 3, "retry_after": 7}})
    with ApiClient(running) as client:
        responses = [client.get(org_path(client, "sessions"), {"page_size": 5}) for _ in range(9)]
        assert [r.status_code for r in responses] == [200, 200, 429] * 3
        for limited in responses[2::3]:
            assert_http_error(limited, 429, "too_many_requests")
            assert limited.headers["retry-after"] == "7"
        assert all("retry-after" not in r.headers for r in responses if r.status_code == 200)
        assert counts(client, "rate_limit") == (9, 3)


def test_server_error_status_and_bursts(client: ApiClient) -> None:
    """Every 3rd request starts a burst of 2 failures with the configured status; the burst's
    follow-up failure does not advance the every-counter, so the pattern repeats exactly."""
    set_faults(client, {"server_error": {"every": 3, "status": 502, "burst": 2}})
    responses = [client.get(org_path(client, "sessions"), {"page_size": 5}) for _ in range(9)]
    assert [r.status_code for r in responses] == [200, 200, 502, 502, 200, 200, 502, 502, 200]
    for failed in (r for r in responses if r.status_code == 502):
        assert_http_error(failed, 502, "internal_error")
    assert counts(client, "server_error") == (7, 4)


def test_dropped_connection_breaks_the_response_but_not_the_server(client: ApiClient) -> None:
    """The drop fault sends the status line, headers and half the body, then hangs up: the
    client sees a transport error mid-body, and the server keeps serving."""
    set_faults(client, {"drop": {"every": 2}})
    url = f"{client.simulator.api_url}{org_path(client, 'sessions')}"
    headers = {"Authorization": f"Bearer {client.token}"}
    full = client.get(org_path(client, "sessions"))
    assert full.status_code == 200 and full.json()
    with client.http.stream("GET", url, headers=headers) as dropped:
        assert dropped.status_code == 200
        assert int(dropped.headers["content-length"]) == len(full.content)
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            dropped.read()
    again = client.get(org_path(client, "sessions"))
    assert again.status_code == 200 and again.content == full.content
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.get(org_path(client, "sessions"))
    assert counts(client, "drop") == (4, 2)


def test_slow_responses_and_read_timeouts(client: ApiClient) -> None:
    """Every 2nd response waits `delay_s` before answering: a patient client gets a 200
    after at least that long, one with a shorter read timeout gets httpx.ReadTimeout."""
    delay = 0.8
    set_faults(client, {"slow": {"every": 2, "delay_s": delay}})
    path = org_path(client, "sessions")

    def timed(timeout: httpx.Timeout | None = None) -> tuple[int, float]:
        started = time.monotonic()
        url = f"{client.simulator.api_url}{path}"
        response = client.http.get(url, headers={"Authorization": f"Bearer {client.token}"}, timeout=timeout)
        return response.status_code, time.monotonic() - started

    status, elapsed = timed()
    assert status == 200 and elapsed < delay / 2
    status, elapsed = timed()
    assert status == 200 and elapsed >= delay
    status, elapsed = timed()
    assert status == 200 and elapsed < delay / 2
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        timed(httpx.Timeout(5.0, read=0.25))
    assert time.monotonic() - started < delay
    assert counts(client, "slow") == (4, 2)


def test_malformed_json_is_a_truncated_200(client: ApiClient) -> None:
    """Every 2nd response is a 200 whose body is cut short: a JSON decoder must fail on it,
    while the transport (Content-Length) is consistent, so only parsing can catch it."""
    set_faults(client, {"malformed_json": {"every": 2}})
    path = org_path(client, "sessions")
    good = client.get(path)
    broken = client.get(path)
    again = client.get(path)
    assert good.status_code == broken.status_code == again.status_code == 200
    assert good.json() and again.content == good.content
    assert broken.headers["content-type"] == "application/json"
    assert int(broken.headers["content-length"]) == len(broken.content) < len(good.content)
    assert good.content.startswith(broken.content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.content)
    assert counts(client, "malformed_json") == (3, 1)


# -- data moving under the client ----------------------------------------------------------
def test_page_shift_moves_sessions_while_a_client_pages(client: ApiClient) -> None:
    """Paging `/sessions` from page 2 on, a simulated minute passes first: the inserts go to
    the top of the newest-first list (page 2 repeats the end of page 1, the classic offset
    paging overlap), the total grows by the inserts, and every session the shift touched
    has an update_date newer than anything seen before, so an incremental load on
    update_date finds them all."""
    path = org_path(client, "sessions")
    everything_before = client.get(path, {"page_size": 1000})
    before = {s["session_id"]: s for s in everything_before.json()}
    total = int(everything_before.headers["X-Total-Count"])
    assert len(before) == total
    newest_before = max(ts(s["update_date"]) for s in before.values())
    clock_before = ts(client.admin("GET", "stats").json()["now"])

    set_faults(client, {"page_shift": {"every": 1, "updates": 4, "inserts": 3, "limit": 1}})
    page_1 = client.get(path, {"page": 1, "page_size": 50})
    assert int(page_1.headers["X-Total-Count"]) == total
    assert counts(client, "page_shift") == (0, 0), "a scan's first page never shifts"

    page_2 = client.get(path, {"page": 2, "page_size": 50})
    assert page_2.status_code == 200
    assert int(page_2.headers["X-Total-Count"]) == total + 3
    page_1_ids = [s["session_id"] for s in page_1.json()]
    page_2_ids = [s["session_id"] for s in page_2.json()]
    assert page_2_ids[:3] == page_1_ids[-3:], "three inserts at the top push page 1's tail onto page 2"
    assert ts(client.admin("GET", "stats").json()["now"]) == clock_before + timedelta(minutes=1)

    after = {s["session_id"]: s for s in client.get(path, {"page_size": 1000}).json()}
    inserted = after.keys() - before.keys()
    updated = {sid for sid in before if after[sid] != before[sid]}
    assert len(after) == total + 3 and len(inserted) == 3 and len(updated) == 4
    assert before.keys() <= after.keys()
    for sid in inserted | updated:
        assert ts(after[sid]["update_date"]) > newest_before, after[sid]
    for sid in updated:
        assert after[sid]["update_date"] != before[sid]["update_date"]

    # the limit of one shift is used up: page 2 stays put now
    assert int(client.get(path, {"page": 2, "page_size": 50}).headers["X-Total-Count"]) == total + 3
    assert counts(client, "page_shift") == (1, 1)


def test_revoke_tokens_every_nth_request(client: ApiClient) -> None:
    """Every 3rd request revokes all tokens first, so that request is already refused as
    `token_revoked`, and so is every later request with the old token, until the client logs
    in again; the old refresh token is gone too."""
    path = org_path(client, "sessions")
    old = client.token_request(**password_form(client)).json()
    set_faults(client, {"revoke_tokens": {"every": 3}})
    assert [client.get(path, token=old["access_token"]).status_code for _ in range(2)] == [200, 200]
    revoking = client.get(path, token=old["access_token"])
    assert_http_error(revoking, 401, "token_revoked")
    assert revoking.headers["www-authenticate"].startswith("Bearer ")
    assert_http_error(client.get(path, token=old["access_token"]), 401, "token_revoked")
    refresh = client.token_request(
        **(password_form(client) | {"grant_type": "refresh_token", "refresh_token": old["refresh_token"]})
    )
    assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant"

    fresh = client.password_token()
    assert client.get(path, token=fresh).status_code == 200  # 5th request
    assert_http_error(client.get(path, token=fresh), 401, "token_revoked")  # 6th revokes again
    assert counts(client, "revoke_tokens") == (6, 2)


def test_token_lifetime_at_run_time(client: ApiClient) -> None:
    """`token_lifetime_s` shortens tokens issued from then on (earlier ones keep theirs);
    such a token expires on time; clearing the faults restores the normal hour."""
    path = org_path(client, "sessions")
    before = client.token
    set_faults(client, {"token_lifetime_s": 1})
    time.sleep(1.02 - time.time() % 1)  # iat is whole seconds: start a fresh second
    body = client.token_request(**password_form(client)).json()
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert body["expires_in"] == 1 and claims["exp"] - claims["iat"] == 1
    assert client.get(path, token=body["access_token"]).status_code == 200
    time.sleep(max(0.0, claims["exp"] - time.time() + 0.05))
    assert_http_error(client.get(path, token=body["access_token"]), 401, "token_expired")
    assert client.get(path, token=before).status_code == 200, "tokens issued earlier keep their lifetime"
    assert fault_report(client)["token_lifetime_s"] == 1

    set_faults(client, {"profile": "none"})
    assert client.token_request(**password_form(client)).json()["expires_in"] == 3600


# -- payload faults ------------------------------------------------------------------------
def test_schema_drift_adds_a_field_to_sessions_stations_and_tariffs(client: ApiClient) -> None:
    """A new field appears in every session, station and tariff document, lists and details
    alike (members are left alone); turning it off removes it again."""
    set_faults(client, {"schema_drift": {}})
    assert fault_report(client)["schema_drift"]["enabled"] is True
    sessions = client.get(org_path(client, "sessions")).json()
    stations = client.get(org_path(client, "stations")).json()
    tariffs = client.get(org_path(client, "tariffs")).json()
    assert sessions and stations and tariffs
    for item in sessions + stations + tariffs:
        assert item["carbon_intensity_g_per_kwh"] == 312.5
    details = [
        client.get(org_path(client, f"sessions/id/{sessions[0]['session_id']}")).json(),
        client.get(org_path(client, f"stations/id/{stations[0]['id']}")).json(),
        client.get(org_path(client, f"tariffs/id/{tariffs[0]['id']}")).json(),
    ]
    assert all(detail["carbon_intensity_g_per_kwh"] == 312.5 for detail in details)
    assert all("carbon_intensity_g_per_kwh" not in m for m in client.get(org_path(client, "members")).json())

    set_faults(client, {"schema_drift": {"field_name": "co2", "value": {"g": 1}}})
    assert all(
        s["co2"] == {"g": 1} and "carbon_intensity_g_per_kwh" not in s
        for s in client.get(org_path(client, "sessions")).json()
    )
    set_faults(client, {"schema_drift": {"enabled": False}})
    assert all("co2" not in s for s in client.get(org_path(client, "sessions")).json())


@pytest.mark.parametrize(
    ("to", "expected"),
    [
        ("string", lambda v: str(v)),
        ("text", lambda v: f"{v} (legacy)"),
        ("number", lambda v: 0),
        ("object", lambda v: {"value": v}),
    ],
)
def test_type_change_renders_kwh_with_another_type(client: ApiClient, to: str, expected: Callable[[Any], Any]) -> None:
    """`kwh` keeps its value but changes JSON type, in the session list and the detail; the
    other fields and the other endpoints are untouched."""
    path = org_path(client, "sessions")
    plain = client.get(path).json()
    stations = client.get(org_path(client, "stations")).json()
    set_faults(client, {"type_change": {"field_name": "kwh", "to": to}})
    changed = client.get(path).json()
    assert [s["session_id"] for s in changed] == [s["session_id"] for s in plain]
    for old, new in zip(plain, changed, strict=True):
        assert isinstance(old["kwh"], int | float)
        assert new["kwh"] == expected(old["kwh"]) and type(new["kwh"]) is type(expected(old["kwh"]))
        assert {k: v for k, v in new.items() if k != "kwh"} == {k: v for k, v in old.items() if k != "kwh"}
    detail = client.get(f"{path}/id/{plain[0]['session_id']}").json()
    assert detail["kwh"] == expected(plain[0]["kwh"])
    assert client.get(org_path(client, "stations")).json() == stations


# -- scoping the triggers ------------------------------------------------------------------
def test_paths_limit_a_fault_to_matching_endpoints(client: ApiClient) -> None:
    """A fault with `paths` only sees requests whose path matches: `/sessions` requests are
    not even counted, `/stations` (list and detail) all fail."""
    set_faults(client, {"server_error": {"every": 1, "paths": "/stations"}})
    assert statuses(client, 3, "sessions") == [200, 200, 200]
    assert counts(client, "server_error") == (0, 0)
    assert statuses(client, 2, "stations") == [503, 503]
    assert client.get(org_path(client, "stations/id/1")).status_code == 503
    assert statuses(client, 1, "members") == [200]
    assert counts(client, "server_error") == (3, 3)


def test_limit_caps_the_injections(client: ApiClient) -> None:
    """`limit` stops a fault after that many injections, whatever its trigger says."""
    set_faults(client, {"server_error": {"every": 1, "limit": 2}, "rate_limit": {"every": 2, "limit": 1}})
    # request 1: server error; 2: rate limit (checked first) ; 3: server error; then nothing
    assert statuses(client, 6) == [503, 429, 503, 200, 200, 200]
    report = fault_report(client)
    assert report["server_error"]["injected"] == 2
    assert report["rate_limit"]["injected"] == 1


def test_chaos_and_none_profiles(client: ApiClient) -> None:
    """`chaos` turns on the transient faults at rates a robust client survives and shortens
    token lifetime; `none` clears every fault, and then nothing is injected."""
    chaos = set_faults(client, {"profile": "chaos"})
    for name in ("rate_limit", "server_error", "drop", "slow", "page_shift"):
        assert 0 < chaos[name]["rate"] < 1, name
    assert chaos["token_lifetime_s"] == 20
    assert client.token_request(**password_form(client)).json()["expires_in"] == 20

    cleared = set_faults(client, {"profile": "none"})
    assert all(cleared[name]["rate"] == 0 and cleared[name]["every"] == 0 for name in TRIGGERS)
    assert cleared["token_lifetime_s"] is None
    assert not cleared["schema_drift"]["enabled"] and not cleared["type_change"]["enabled"]
    assert client.token_request(**password_form(client)).json()["expires_in"] == 3600
    assert statuses(client, 20) == [200] * 20
    assert all(fault_report(client)[name]["injected"] == 0 for name in TRIGGERS)


def test_a_profile_with_overrides(client: ApiClient) -> None:
    """Explicit sections next to `profile` replace that profile's section."""
    report = set_faults(client, {"profile": "chaos", "drop": {"every": 4}, "token_lifetime_s": 60})
    assert report["drop"]["rate"] == 0 and report["drop"]["every"] == 4
    assert report["rate_limit"]["rate"] > 0 and report["token_lifetime_s"] == 60


def test_seeded_rate_is_reproducible(make_simulator: MakeSimulator) -> None:
    """A `rate` trigger draws from a generator seeded with the world's seed: the same seed
    gives the same sequence of injected/not injected requests, on another simulator and
    after setting the faults again (which reseeds)."""
    settings = {"server_error": {"rate": 0.3}}

    def outcomes(running: RunningSimulator, repeat: bool = False) -> list[int]:
        with ApiClient(running) as api:
            if repeat:
                set_faults(api, settings)
            result = statuses(api, 40)
            assert counts(api, "server_error") == (40, result.count(503))
            return result

    first_simulator = make_simulator(sizes=SIZES, faults=settings)
    first = outcomes(first_simulator)
    assert 0 < first.count(503) < 40
    assert outcomes(make_simulator(sizes=SIZES, faults=settings)) == first
    assert outcomes(first_simulator, repeat=True) == first
    assert outcomes(make_simulator(sizes=SIZES, seed=7, faults=settings)) != first


# -- refusing bad settings -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"meteor": {"every": 1}}, "unknown fault 'meteor'"),
        ({"rate_limit": {"sometimes": 1}}, "has no setting 'sometimes'"),
        ({"rate_limit": {"seen": 5}}, "has no setting 'seen'"),
        ({"profile": "hurricane"}, "unknown fault profile 'hurricane'"),
        ({"profile": "chaos", "meteor": {}}, "unknown fault 'meteor'"),
        ({"drop": 5}, "fault 'drop' takes an object"),
        ({"token_lifetime_s": 0}, "token_lifetime_s must be a positive integer"),
        ({"token_lifetime_s": "60"}, "token_lifetime_s must be a positive integer"),
        ({"token_lifetime_s": True}, "token_lifetime_s must be a positive integer"),
        ({"rate_limit": {"every": "3"}}, "setting 'every' must be an integer"),
        ({"rate_limit": {"every": True}}, "setting 'every' must be an integer"),
        ({"rate_limit": {"rate": "often"}}, "setting 'rate' must be a number"),
        ({"server_error": {"limit": 1.5}}, "setting 'limit' must be an integer"),
        ({"slow": {"delay_s": None}}, "setting 'delay_s' must be a number"),
        ({"schema_drift": {"enabled": "yes"}}, "setting 'enabled' must be a boolean"),
        ({"server_error": {"paths": "("}}, "setting 'paths' is not a regular expression"),
        ({"server_error": {"paths": 5}}, "setting 'paths' must be a string"),
        ({"profile": ["chaos"]}, "unknown fault profile"),
        ([1, 2], "must be a JSON object"),
        ("chaos", "must be a JSON object"),
    ],
)
def test_invalid_settings_are_refused(client: ApiClient, body: Any, message: str) -> None:
    """A refused setting is a 400 naming the problem, and the faults in force stay as they were."""
    in_force = set_faults(client, {"rate_limit": {"every": 2}})
    response = client.admin("POST", "faults", body)
    assert_http_error(response, 400, "validation_error")
    assert message in response.json()["error_message"]
    assert fault_report(client) == in_force


def test_a_body_that_is_not_json_is_refused(client: ApiClient) -> None:
    response = client.http.post(f"{client.simulator.base_url}/_simulator/faults", content=b"{not json")
    assert_http_error(response, 400, "validation_error")


# -- the command line's --faults -------------------------------------------------------------
def test_cli_fault_settings_accepts_profile_json_and_file(tmp_path: Path) -> None:
    """`--faults` takes a profile name, a JSON object, or @file holding either."""
    assert _fault_settings(None) is None
    assert _fault_settings("") is None
    assert _fault_settings("chaos") == {"profile": "chaos"}
    assert _fault_settings("none") == {"profile": "none"}
    assert _fault_settings('{"drop": {"every": 5}}') == {"drop": {"every": 5}}
    assert _fault_settings(' {"profile": "chaos", "slow": {"delay_s": 0.5}}') == {
        "profile": "chaos",
        "slow": {"delay_s": 0.5},
    }
    settings_file = tmp_path / "faults.json"
    settings_file.write_text(json.dumps({"rate_limit": {"every": 10, "retry_after": 3}}))
    assert _fault_settings(f"@{settings_file}") == {"rate_limit": {"every": 10, "retry_after": 3}}
    profile_file = tmp_path / "profile.txt"
    profile_file.write_text("chaos")
    assert _fault_settings(f"@{profile_file}") == {"profile": "chaos"}


@pytest.mark.parametrize(
    "garbage",
    [
        "hurricane",
        "[1, 2]",
        "{not json",
        '{"meteor": 1}',
        '{"drop": {"often": 1}}',
        '{"drop": 3}',
        '{"drop": {"every": "5"}}',
        "3",
    ],
)
def test_cli_fault_settings_rejects_garbage(garbage: str, tmp_path: Path) -> None:
    """Bad `--faults` fail with ValueError before the (slow) world is built, inline or from a file."""
    with pytest.raises(ValueError):
        _fault_settings(garbage)
    settings_file = tmp_path / "bad.json"
    settings_file.write_text(garbage)
    with pytest.raises(ValueError):
        _fault_settings(f"@{settings_file}")
