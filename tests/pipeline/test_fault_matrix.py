"""The fault matrix: what the API and the network do to a run, and what the warehouse ends up as.

Each fault has one of two outcomes, and the test asserts which:
- absorbed: the run succeeds and the warehouse equals the API (every table, every key, the
  latest version of every record: `api_equality`);
- refused: the run fails with one clear line, the warehouse is byte for byte what it was, and
  the next run without the fault makes it equal to the API.
Process and machine faults (SIGKILL, Postgres restarts, locked files, a full disk) are in
`test_crash_recovery.py`. The README's fault matrix lists both.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from pipelines import load
from sources.wirelane.errors import WirelaneAuthError, WirelaneError
from tests.pipeline.api_equality import assert_equal, duckdb_fetch, snapshot
from tests.pipeline.conftest import Workspace

JSON = dict[str, Any]


@pytest.fixture
def ws(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv("SOURCES__WIRELANE__PSEUDONYMIZE", "false")  # compared with the API in clear
    monkeypatch.setenv("SOURCES__WIRELANE__REQUESTS_PER_SECOND", "400")
    return workspace


def faults(ws: Workspace, settings: JSON) -> None:
    ws.api.admin("POST", "faults", settings).raise_for_status()


def injected(ws: Workspace, fault: str) -> int:
    count: int = ws.api.admin("GET", "faults").json()[fault]["injected"]
    return count


def equal(ws: Workspace) -> None:
    assert_equal(duckdb_fetch(str(ws.duckdb_file)), ws.api)


def loaded_then_changed(ws: Workspace, minutes: int = 240) -> JSON:
    """A warehouse equal to the API, then an API that has moved on: the next run has work."""
    load.run("duckdb")
    equal(ws)
    changes: JSON = ws.api.admin("POST", "advance", {"minutes": minutes}).json()
    return changes


def refused(ws: Workspace, error: type[Exception], match: str) -> str:
    """The run fails with one line and leaves every table as it was."""
    before = snapshot(duckdb_fetch(str(ws.duckdb_file)))
    with pytest.raises(error, match=match) as failure:
        load.run("duckdb")
    message = str(failure.value)
    assert "\n" not in message and message, message
    assert snapshot(duckdb_fetch(str(ws.duckdb_file))) == before, "a failed run changed the warehouse"
    return message


# -- absorbed --------------------------------------------------------------------------------
def test_a_429_storm_is_waited_out_without_hammering(ws: Workspace) -> None:
    faults(ws, {"rate_limit": {"every": 3, "limit": 6, "retry_after": 1}})
    started = time.monotonic()
    summary = load.run("duckdb")
    assert injected(ws, "rate_limit") == 6 and summary.retries >= 6
    stats = ws.api.admin("GET", "stats").json()["requests"]
    assert stats["during_retry_after"] == 0, "requests arrived while Retry-After was running"
    # the six waits the API asked for, merged where two 429s were answered close together
    assert 1 <= stats["retry_after_held_s"] <= 6 * 1
    assert time.monotonic() - started >= stats["retry_after_held_s"], "each Retry-After held the whole client"
    equal(ws)


def test_the_api_counts_a_client_that_ignores_retry_after(ws: Workspace) -> None:
    """The counter the storm test relies on does catch a client that hammers."""
    faults(ws, {"rate_limit": {"every": 1, "limit": 1, "retry_after": 5}})
    org = ws.api.organizations[0]
    assert ws.api.get(f"/organizations/id/{org}/members").status_code == 429
    time.sleep(0.5)
    assert ws.api.get(f"/organizations/id/{org}/members").status_code == 200
    assert ws.api.admin("GET", "stats").json()["requests"]["during_retry_after"] == 1


@pytest.mark.parametrize("status", [500, 503])  # 502 and 504 take the same path (RETRY_STATUSES)
def test_5xx_bursts_are_retried(ws: Workspace, status: int) -> None:
    faults(ws, {"server_error": {"every": 9, "burst": 3, "limit": 9, "status": status}})
    summary = load.run("duckdb")
    assert injected(ws, "server_error") == 9 and summary.retries >= 9
    equal(ws)


def test_dropped_connections_and_read_timeouts_are_retried(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__WIRELANE__TIMEOUT_S", "0.5")
    faults(ws, {"drop": {"every": 8, "limit": 10}, "slow": {"every": 13, "limit": 3, "delay_s": 1.5}})
    summary = load.run("duckdb")
    assert injected(ws, "drop") == 10 and injected(ws, "slow") == 3
    assert summary.retries >= 10  # a request can be both slow and dropped: one retry
    equal(ws)


def test_tokens_expiring_every_two_seconds_and_revoked_mid_run(ws: Workspace) -> None:
    faults(
        ws, {"token_lifetime_s": 2, "revoke_tokens": {"every": 40}, "slow": {"every": 20, "delay_s": 0.5}}
    )  # slow enough that tokens expire during the run
    summary = load.run("duckdb")
    assert summary.token_requests >= 3 and injected(ws, "revoke_tokens") >= 2
    equal(ws)


def test_malformed_json_pages_are_read_again(ws: Workspace) -> None:
    faults(ws, {"malformed_json": {"every": 6, "limit": 10}})
    summary = load.run("duckdb")
    assert injected(ws, "malformed_json") == 10 and summary.retries >= 10
    equal(ws)


def test_sessions_updated_and_inserted_while_paging(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """Between every two pages of the scan the API corrects and inserts sessions (in every
    organization). What lands in the organization being paged is caught by the same run's
    catch-up passes; what lands in one whose scan is over, by the next run: none is lost."""
    monkeypatch.setenv("SOURCES__WIRELANE__PAGE_SIZE", "50")
    shifting = {"page_shift": {"every": 1, "updates": 4, "inserts": 3, "paths": "/sessions$"}}
    org = ws.api.organizations[0]
    monkeypatch.setenv("SOURCES__WIRELANE__ORGANIZATIONS", f'["{org}"]')
    faults(ws, shifting)
    load.run("duckdb")  # a full scan of one organization
    assert injected(ws, "page_shift") >= 10
    assert_equal(duckdb_fetch(str(ws.duckdb_file)), ws.api, [org])
    monkeypatch.delenv("SOURCES__WIRELANE__ORGANIZATIONS")
    faults(ws, shifting)
    ws.api.admin("POST", "advance", {"minutes": 600})
    load.run("duckdb")  # every organization: the first one incremental, the other a full scan
    assert injected(ws, "page_shift") >= 10
    faults(ws, {"profile": "none"})
    load.run("duckdb")
    equal(ws)


def test_late_updates_to_old_sessions(ws: Workspace) -> None:
    changes = loaded_then_changed(ws, minutes=1440)
    assert changes["late_updates"] > 0, changes
    load.run("duckdb")
    equal(ws)


def test_a_new_field_is_loaded_as_a_new_column(ws: Workspace) -> None:
    drift = {"schema_drift": {"field_name": "co2_g_per_kwh", "value": 312.5}}
    faults(ws, drift)
    summary = load.run("duckdb")
    for table in ("sessions", "charging_stations", "tariffs"):
        assert any(c.startswith(f"{table}:") and "co2_g_per_kwh" in c for c in summary.schema_changes), table
    assert_equal(duckdb_fetch(str(ws.duckdb_file)), ws.api, faults=drift)  # compared with the field still sent


def test_an_empty_organization(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    ws.api.admin("POST", "organizations", {"id": "EMPTY-ORG"}).raise_for_status()
    orgs = [*ws.api.organizations]
    assert orgs[-1] == "EMPTY-ORG"
    monkeypatch.setenv("SOURCES__WIRELANE__ORGANIZATIONS", str(orgs).replace("'", '"'))
    load.run("duckdb")
    ws.api.admin("POST", "advance", {"minutes": 120})
    load.run("duckdb")
    equal(ws)
    rows = ws.query("select count(*) from wirelane_raw.sessions where organization_id = 'EMPTY-ORG'")
    assert rows == [(0,)]


# -- refused, then repaired ------------------------------------------------------------------
def test_a_wrong_password_changes_nothing(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded_then_changed(ws)
    creds = ws.simulator.credentials
    for key, value in (
        ("CLIENT_ID", creds.client_id),
        ("CLIENT_SECRET", creds.client_secret),
        ("USERNAME", creds.username),
    ):
        monkeypatch.setenv(f"SOURCES__WIRELANE__CREDENTIALS__{key}", value)
    monkeypatch.setenv("SOURCES__WIRELANE__CREDENTIALS__PASSWORD", "not-the-password")
    message = refused(ws, WirelaneAuthError, "invalid_grant")
    assert "not-the-password" not in message
    monkeypatch.setenv("SOURCES__WIRELANE__CREDENTIALS__PASSWORD", creds.password)
    load.run("duckdb")
    equal(ws)


REFUSED = {
    # fault: (the settings, what the one line must say)
    "a field changing type": ({"type_change": {"field_name": "kwh", "to": "text"}}, "kwh"),
    "a page that stays malformed": (
        {"malformed_json": {"every": 1, "paths": "/sessions$"}},
        "still failing after 3 attempts: malformed JSON body",
    ),
    "an outage longer than the retries": (
        {"server_error": {"every": 1, "status": 503, "paths": "/stations"}},
        "HTTP 503",
    ),
}


@pytest.mark.parametrize("fault", list(REFUSED))
def test_a_fault_retries_cannot_fix_fails_and_the_next_run_recovers(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    settings, message = REFUSED[fault]
    loaded_then_changed(ws)
    monkeypatch.setenv("SOURCES__WIRELANE__MAX_ATTEMPTS", "3")
    faults(ws, settings)
    refused(ws, WirelaneError, message)
    faults(ws, {"profile": "none"})
    load.run("duckdb")
    equal(ws)


def test_the_comparison_itself_sees_a_stale_warehouse(ws: Workspace) -> None:
    """The equality every test ends on can fail: after a change the API made, it does."""
    loaded_then_changed(ws)
    with pytest.raises(AssertionError, match="differences"):
        equal(ws)
