"""The pipeline against a real simulator into a real DuckDB file: complete, exact, incremental."""

from __future__ import annotations

import hashlib
import shutil
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pipelines import load
from sources.wirelane.errors import WirelaneAuthError, WirelaneConfigError, WirelaneError
from tests.pipeline.conftest import Workspace

JSON = dict[str, Any]
SESSIONS_OP = "findOrganizationChargingSessions"


def api_sessions(ws: Workspace) -> dict[str, JSON]:
    return {
        s["session_id"]: s
        for org in ws.api.organizations
        for s in ws.api.get_all(f"/organizations/id/{org}/sessions", {"order_by": "sessionId"})
    }


def db_sessions(ws: Workspace) -> dict[str, tuple[Any, ...]]:
    rows = ws.query("select session_id, update_date, status, kwh, total_price__net_amount from wirelane_raw.sessions")
    return {row[0]: row[1:] for row in rows}


def assert_sessions_equal(ws: Workspace) -> None:
    """The warehouse holds exactly the API's sessions, each in its latest version."""
    api = api_sessions(ws)
    db = db_sessions(ws)
    assert len(ws.query("select session_id from wirelane_raw.sessions")) == len(db), "no duplicate keys"
    assert set(db) == set(api)
    for sid, (update_date, status, kwh, net) in db.items():
        doc = api[sid]
        assert update_date == datetime.strptime(doc["update_date"], "%Y-%m-%dT%H:%M:%S%z"), sid
        assert status == doc["status"]
        assert kwh == Decimal(repr(doc["kwh"]))
        expected_net = doc.get("totalPrice", {}).get("netAmount")
        assert (net is None and expected_net is None) or net == Decimal(repr(expected_net))


def test_full_load_equals_the_simulator(workspace: Workspace) -> None:
    summary = load.run("duckdb")
    totals = workspace.api.admin("GET", "stats").json()["totals"]
    counts = {
        table: workspace.query(f"select count(*) from wirelane_raw.{table}")[0][0]
        for table in (
            "sessions", "charging_stations", "members", "member_payment_methods", "member_subscriptions",
            "station_cases", "station_connection_chains", "station_maintenance_windows", "charging_stations__connectors",
        )
    }  # fmt: skip
    assert counts == {
        "sessions": totals["sessions"],
        "charging_stations": totals["charging_stations"],
        "members": totals["members"],
        "member_payment_methods": totals["member_payment_methods"],
        "member_subscriptions": totals["member_subscriptions"],
        "station_cases": totals["station_cases"],
        "station_connection_chains": totals["station_connection_chains"],
        "station_maintenance_windows": totals["station_maintenance_windows"],
        "charging_stations__connectors": totals["connectors"],
    }
    current = "where _dlt_valid_to is null"
    assert workspace.query(f"select count(*) from wirelane_raw.tariffs {current}")[0][0] == totals["tariffs"]
    assert workspace.query(f"select count(*) from wirelane_raw.price_models {current}")[0][0] == totals["price_models"]
    assert summary.rows["sessions"] == totals["sessions"] and summary.requests > 0 and summary.token_requests == 1
    assert_sessions_equal(workspace)


def test_nested_rows_match_field_by_field(workspace: Workspace) -> None:
    load.run("duckdb", resources=["charging_stations", "price_models"])
    org = workspace.api.organizations[0]
    station = workspace.api.get(f"/organizations/id/{org}/stations", {"page_size": 1}).json()[0]
    detail = workspace.api.get(f"/organizations/id/{org}/stations/id/{station['id']}").json()
    rows = workspace.query(
        "select c.evseid, c.power, c.status, c.scm_id, c.current from wirelane_raw.charging_stations s "
        "join wirelane_raw.charging_stations__connectors c on c._dlt_parent_id = s._dlt_id "
        f"where s.organization_id = '{org}' and s.id = {station['id']} order by c._dlt_list_idx"
    )
    assert rows == [(c["evseid"], c["power"], c["status"], c["scm_id"], c["current"]) for c in detail["connectors"]]
    tariff = workspace.api.get(f"/organizations/id/{org}/tariffs", {"page_size": 1}).json()[0]
    price = workspace.api.get(f"/organizations/id/{org}/tariffs/id/{tariff['id']}").json()["prices"][0]
    model = workspace.api.get(f"/organizations/id/{org}/tariffs/id/{tariff['id']}/prices/id/{price['id']}").json()
    components = workspace.query(
        "select c.type, c.price, c.step_size from wirelane_raw.price_models p "
        "join wirelane_raw.price_models__elements e on e._dlt_parent_id = p._dlt_id "
        "join wirelane_raw.price_models__elements__price_components c on c._dlt_parent_id = e._dlt_id "
        f"where p.price_id = '{model['price_id']}' order by e._dlt_list_idx, c._dlt_list_idx"
    )
    expected = [
        (c["type"], Decimal(repr(c["price"])), c["step_size"]) for e in model["elements"] for c in e["price_components"]
    ]
    assert components == expected


def test_incremental_runs_ask_only_for_changes(workspace: Workspace) -> None:
    load.run("duckdb", resources=["sessions"])
    full_scan = workspace.requests(SESSIONS_OP)
    workspace.api.admin("POST", "advance", {"minutes": 240})
    before = workspace.requests(SESSIONS_OP)
    second = load.run("duckdb", resources=["sessions"])
    asked = workspace.requests(SESSIONS_OP) - before
    assert asked <= 2 * len(workspace.api.organizations) < full_scan, "a page or two per organization, not a full scan"
    assert second.rows.get("sessions", 0) > 0
    assert_sessions_equal(workspace)
    third = load.run("duckdb", resources=["sessions"])
    assert third.rows.get("sessions", 0) == 0, "nothing changed, nothing loaded"
    assert_sessions_equal(workspace)


def _session_files(folder: Path) -> list[str]:
    """Digests of the session parquet files of the load packages under `folder`."""
    return sorted(hashlib.sha256(f.read_bytes()).hexdigest() for f in folder.glob("*/new_jobs/sessions.*.parquet"))


def test_session_files_are_loaded_as_extracted(workspace: Workspace) -> None:
    """Session pages carry dlt's `_dlt_load_id` and `_dlt_id`, in the schema's order: with a
    settled schema, dlt's normalize imports the extracted files as they are instead of
    rewriting every one of them, and the rows still have both columns."""
    pipeline = load.make_pipeline("duckdb")
    working = Path(pipeline.working_dir)
    for step in ("first", "incremental"):
        if step == "incremental":
            workspace.api.admin("POST", "advance", {"minutes": 240})
        pipeline.extract(load.build_source(["sessions"]), loader_file_format="parquet")
        extracted = _session_files(working / "normalize" / "extracted")
        assert extracted, "session pages arrive as Arrow tables, written as parquet"
        pipeline.normalize()
        if step == "incremental":
            assert _session_files(working / "load" / "normalized") == extracted, "imported, not rewritten"
        pipeline.load().raise_on_failed_jobs()
    loads = [row[0] for row in workspace.query("select load_id from wirelane_raw._dlt_loads")]
    rows, ids, stray = workspace.query(
        "select count(*), count(distinct _dlt_id), count(*) filter (where _dlt_load_id is null or "
        f"_dlt_load_id not in ({', '.join(repr(load_id) for load_id in loads)})) from wirelane_raw.sessions"
    )[0]
    assert rows == ids and stray == 0, "a unique row key and a real load id on every row"
    assert_sessions_equal(workspace)


def test_no_update_is_lost_while_pages_shift(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sessions are corrected and inserted between every two pages of the scan."""
    monkeypatch.setenv("SOURCES__WIRELANE__PAGE_SIZE", "50")
    existing = set(api_sessions(workspace))
    workspace.api.admin("POST", "faults", {"page_shift": {"every": 1, "updates": 5, "inserts": 5}})
    load.run("duckdb", resources=["sessions"])
    shifts = workspace.api.admin("GET", "faults").json()["page_shift"]["injected"]
    workspace.api.admin("POST", "faults", {"profile": "none"})
    assert shifts >= 10
    assert existing <= set(db_sessions(workspace)), "every session that existed when the scan began"
    # versions changed during the scan moved to the already-read front: the next run has them
    load.run("duckdb", resources=["sessions"])
    assert_sessions_equal(workspace)


def _cursors(ws: Workspace) -> dict[str, str]:
    import dlt

    pipeline = dlt.attach(load.PIPELINE_NAME)
    state = pipeline.state["sources"]["wirelane"]["resources"]["sessions"]["organizations"]
    return {org: value["cursor"] for org, value in state.items()}


def test_backfill_leaves_the_cursor_alone(workspace: Workspace) -> None:
    load.run("duckdb", resources=["sessions"])
    cursors = _cursors(workspace)
    workspace.query("select 1")  # the file exists and is readable
    with_dates = workspace.query("select min(session_begin), max(session_begin) from wirelane_raw.sessions")[0]
    workspace.api.admin("POST", "advance", {"minutes": 120})
    backfill = load.run("duckdb", backfill=(with_dates[0].date().isoformat(), with_dates[1].date().isoformat()))
    assert backfill.rows["sessions"] > 0
    assert _cursors(workspace) == cursors
    load.run("duckdb", resources=["sessions"])
    assert _cursors(workspace) != cursors
    assert_sessions_equal(workspace)


def test_state_comes_back_from_the_destination(workspace: Workspace) -> None:
    load.run("duckdb", resources=["sessions"])
    shutil.rmtree(workspace.root / "dlt")
    workspace.api.admin("POST", "advance", {"minutes": 60})
    before = workspace.requests(SESSIONS_OP)
    load.run("duckdb", resources=["sessions"])
    assert workspace.requests(SESSIONS_OP) - before <= 2 * len(workspace.api.organizations)
    assert_sessions_equal(workspace)


def test_configuration_errors_are_one_clear_line(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(WirelaneConfigError, match="does not match the reference's pattern"):
        load.run("duckdb", organizations=["../x"])
    with pytest.raises(WirelaneConfigError, match="unknown resource nope"):
        load.run("duckdb", resources=["nope"])
    monkeypatch.setenv("SOURCES__WIRELANE__CREDENTIALS__CLIENT_ID", "demo-client")
    monkeypatch.setenv("SOURCES__WIRELANE__CREDENTIALS__CLIENT_SECRET", "demo-secret")
    monkeypatch.setenv("SOURCES__WIRELANE__CREDENTIALS__USERNAME", "analyst@demo.test")
    monkeypatch.setenv("SOURCES__WIRELANE__CREDENTIALS__PASSWORD", "not-the-password")
    with pytest.raises(WirelaneAuthError, match="invalid_grant") as refused:
        load.run("duckdb", resources=["members"])
    assert "not-the-password" not in str(refused.value)
    assert not (workspace.root / "wirelane.duckdb").exists() or workspace.query(
        "select count(*) from information_schema.tables where table_schema = 'wirelane_raw' and table_name = 'members'"
    ) == [(0,)]


def test_records_gone_from_the_api_are_marked_deleted(workspace: Workspace) -> None:
    load.run("duckdb", resources=["members", "member_payment_methods", "charging_stations"])
    org = workspace.api.organizations[0]
    member = workspace.api.get(f"/organizations/id/{org}/members", {"page_size": 1}).json()[0]
    station = workspace.api.get(f"/organizations/id/{org}/stations", {"page_size": 1}).json()[0]
    account = member["account"]["account_id"]
    removed = {"organization": org, "members": [account], "stations": [station["id"]]}
    assert workspace.api.admin("POST", "remove", removed).json() == {"members": 1, "stations": 1}
    load.run("duckdb", resources=["members", "member_payment_methods", "charging_stations"])
    deleted_members = workspace.query("select account_id from wirelane_raw.members where _wl_deleted_at is not null")
    assert deleted_members == [(account,)]
    assert workspace.query(
        "select count(*) from wirelane_raw.members where account_id = ? and email is not null".replace(
            "?", f"'{account}'"
        )
    ) == [(1,)], "the row is kept"
    deleted_stations = workspace.query(
        "select organization_id, id from wirelane_raw.charging_stations where _wl_deleted_at is not null"
    )
    assert deleted_stations == [(org, station["id"])]
    live = workspace.query("select count(*) from wirelane_raw.members where _wl_deleted_at is null")[0][0]
    assert live == workspace.api.admin("GET", "stats").json()["totals"]["members"]


def test_new_fields_evolve_the_schema_and_type_changes_fail_loudly(workspace: Workspace) -> None:
    load.run("duckdb", resources=["sessions"])
    workspace.api.admin("POST", "faults", {"schema_drift": {"field_name": "co2_g_per_kwh", "value": 312.5}})
    workspace.api.admin("POST", "advance", {"minutes": 60})
    drifted = load.run("duckdb", resources=["sessions"])
    assert any(change.startswith("sessions:") and "co2_g_per_kwh" in change for change in drifted.schema_changes)
    assert workspace.query("select count(*) from wirelane_raw.sessions where co2_g_per_kwh = 312.5")[0][0] > 0
    before = workspace.query("select count(*), max(update_date) from wirelane_raw.sessions")
    workspace.api.admin("POST", "faults", {"type_change": {"field_name": "meter_start", "to": "text"}})
    workspace.api.admin("POST", "advance", {"minutes": 120})
    with pytest.raises(WirelaneError, match="meter_start"):
        load.run("duckdb", resources=["sessions"])
    assert workspace.query("select count(*), max(update_date) from wirelane_raw.sessions") == before, (
        "nothing half-loaded"
    )
    workspace.api.admin("POST", "faults", {"profile": "none"})
    load.run("duckdb", resources=["sessions"])
    assert_sessions_equal(workspace)


def test_an_unreachable_api_is_one_clear_error(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from simulator.server import free_port

    port = free_port()
    monkeypatch.setenv("SOURCES__WIRELANE__BASE_URL", f"http://127.0.0.1:{port}/apis/emc")
    monkeypatch.setenv("SOURCES__WIRELANE__TOKEN_URL", f"http://127.0.0.1:{port}/token")
    with pytest.raises(WirelaneAuthError, match=f"cannot get a token from http://127.0.0.1:{port}/token"):
        load.run("duckdb", resources=["members"])
    monkeypatch.setenv("SOURCES__WIRELANE__BASE_URL", "http://api.example.invalid/apis/emc")
    with pytest.raises(WirelaneConfigError, match="must use https outside loopback"):
        load.run("duckdb", resources=["members"])


def test_long_open_sessions_are_refetched_one_by_one(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    load.run("duckdb", resources=["sessions"])
    open_sessions = workspace.query(
        "select count(*) from wirelane_raw.sessions s where status not in ('closed', 'canceled', 'error', 'error_consecutive_start') "
        "and update_date < (select max(update_date) from wirelane_raw.sessions o where o.organization_id = s.organization_id)"
    )[0][0]  # the newest of each organization sits on the cursor and is read by the scan itself
    assert open_sessions > 0
    # stuck sessions: open, and not touched by the scan (no lag window re-reads them)
    monkeypatch.setenv("SOURCES__WIRELANE__OPEN_SESSION_REFRESH_H", "0")
    monkeypatch.setenv("SOURCES__WIRELANE__SESSION_LAG_S", "0")
    before = workspace.requests("findOrganizationChargingSession")
    load.run("duckdb", resources=["sessions"])
    assert workspace.requests("findOrganizationChargingSession") - before == open_sessions
    assert_sessions_equal(workspace)
