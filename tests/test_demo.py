"""`wirelane-sync demo` as a newcomer runs it: a process in an empty directory, three times.

The directory is set up as a user's might be: a `.dlt/` configuration and environment variables
pointing at the real API with real-looking credentials, a `DLT_DATA_DIR` of their own, and the
default port 8765 taken. The first demo is interrupted with Ctrl-C, the next two run to the end;
every number the summary prints is then checked against the DuckDB file it describes.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from pipelines.demo import DEMO_SIZES, environment

# its module-scoped fixture runs the whole thing first: scheduled early (tests/conftest.py)
pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "pipelines.cli", "demo"]
SESSIONS = 1500
SMALL = ["--sessions", str(SESSIONS), "--stations", "16", "--members", "40", "--days", "45", "--seed", "7"]
USER_CONFIG = """[sources.wirelane]
environment = "production"
organizations = ["SOMEONE-ELSE"]
page_size = 2
[destination.duckdb]
credentials = "users-own.duckdb"
"""
USER_SECRETS = """[sources.wirelane.credentials]
client_id = "real-client"
client_secret = "real-secret"
username = "ops@example.com"
password = "the-users-real-password"
"""
NUMBER = r"[\d,]+(?:\.\d+)?"


@dataclass
class Demo:
    root: Path
    user_dlt: Path
    interrupted: subprocess.CompletedProcess[str]
    runs: list[subprocess.CompletedProcess[str]]

    @property
    def database(self) -> Path:
        return self.root / "wirelane.duckdb"

    @property
    def output(self) -> str:
        return self.runs[-1].stdout

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.database), read_only=True) as con:
            return con.sql(sql).fetchall()


def _occupy_default_port() -> socket.socket | None:
    """Holds 127.0.0.1:8765 (the simulator's default) unless something already does."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 8765))
    except OSError:
        sock.close()
        return None  # taken already, which is what the test wants
    sock.listen(1)
    return sock


def _as_on_a_terminal() -> None:
    """SIGINT handled as in a terminal: a test runner started in the background (`cmd &` in a
    script, nohup) passes SIGINT on as ignored, and Python then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupted_run(root: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Ctrl-C while the full load runs (just after the simulator is up)."""
    process = subprocess.Popen(
        CLI + SMALL,
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_as_on_a_terminal,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    process.send_signal(signal.SIGINT)
    rest, err = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, first + rest, err)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    root = tmp_path_factory.mktemp("demo")
    user_dlt = tmp_path_factory.mktemp("user") / "dlt"
    (root / ".dlt").mkdir()
    (root / ".dlt" / "config.toml").write_text(USER_CONFIG)
    (root / ".dlt" / "secrets.toml").write_text(USER_SECRETS)
    env = {
        **os.environ,
        "DLT_DATA_DIR": str(user_dlt),
        "SOURCES__WIRELANE__BASE_URL": "https://api.wirelane.com/apis/emc",
        "SOURCES__WIRELANE__CREDENTIALS__PASSWORD": "the-users-real-password",
        "DESTINATION__DUCKDB__CREDENTIALS": str(user_dlt.parent / "elsewhere.duckdb"),
    }
    port = _occupy_default_port()
    try:
        interrupted = _interrupted_run(root, env)
        runs = [
            subprocess.run(CLI + SMALL, cwd=root, env=env, capture_output=True, text=True, timeout=120, check=False)
            for _ in range(2)
        ]
    finally:
        if port is not None:
            port.close()
    return Demo(root, user_dlt, interrupted, runs)


def section(output: str, title: str) -> list[str]:
    """The lines under the heading that starts with `title`, up to the next blank line."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    body = lines[start + 1 :]
    return body[: body.index("")] if "" in body else body


def num(text: str) -> Decimal:
    return Decimal(text.replace(",", ""))


def test_each_run_succeeds_after_an_interrupted_one(demo: Demo) -> None:
    assert demo.interrupted.returncode == 130, demo.interrupted.stderr
    errors = [line for line in demo.interrupted.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: interrupted; the demo's simulator was stopped"], demo.interrupted.stderr
    for run in demo.runs:
        assert run.returncode == 0, run.stderr
        assert "[6/6] dbt build (incremental)" in run.stdout and run.stdout.rstrip().endswith(" s.")


def test_its_simulator_used_a_free_port_and_stopped(demo: Demo) -> None:
    for run in [demo.interrupted, *demo.runs]:
        match = re.search(r"on (http://127\.0\.0\.1:(\d+)) ", run.stdout)
        assert match, run.stdout
        assert int(match.group(2)) != 8765
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{match.group(1)}/_simulator/stats", timeout=5)


def test_the_users_configuration_and_state_are_untouched(demo: Demo) -> None:
    assert not demo.user_dlt.exists()
    assert not (demo.user_dlt.parent / "elsewhere.duckdb").exists()
    assert sorted(p.name for p in demo.root.iterdir()) == [".dlt", "wirelane.duckdb"]
    assert (demo.root / ".dlt" / "config.toml").read_text() == USER_CONFIG
    assert (demo.root / ".dlt" / "secrets.toml").read_text() == USER_SECRETS
    assert sorted(p.name for p in (demo.root / ".dlt").iterdir()) == ["config.toml", "secrets.toml"]
    assert "the-users-real-password" not in demo.output + demo.runs[-1].stderr


def test_rows_per_table_are_the_files_and_the_incremental_changes_add_up(demo: Demo) -> None:
    rows = {
        m.group(1): (int(num(m.group(2))), int(num(m.group(3))), int(num(m.group(4))))
        for line in section(demo.output, "Rows per table")
        if (m := re.fullmatch(rf"\s+(\w+)\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})", line))
    }
    tables = {
        name for (name,) in demo.query("select table_name from duckdb_tables() where schema_name = 'wirelane_raw'")
    }
    top = sorted(t for t in tables if not t.startswith("_dlt") and "__" not in t)
    assert sorted(rows) == top and "sessions" in rows and "members" in rows
    for table, (_, _, in_file) in rows.items():
        assert demo.query(f"select count(*) from wirelane_raw.{table}") == [(in_file,)], table
    children = [t for t in tables if "__" in t and not t.startswith("_dlt")]
    child_rows = sum(demo.query(f"select count(*) from wirelane_raw.{t}")[0][0] for t in children)
    assert f"(+ {len(children)} child tables for lists inside records, {child_rows:,} rows" in demo.output

    full, incremental, in_file = rows["sessions"]
    assert full == SESSIONS  # a fresh start: the whole simulator, nothing left from the run before
    match = re.search(rf"sessions: ({NUMBER}) new, ({NUMBER}) updated \(the API reported ({NUMBER}) new", demo.output)
    assert match, demo.output
    new, updated, reported = (int(num(g)) for g in match.groups())
    assert new > 0 and new == in_file - full == reported
    assert updated > 0 and new + updated == incremental
    second = demo.query("select max(load_id) from wirelane_raw._dlt_loads")[0][0]
    assert demo.query(f"select count(*) from wirelane_raw.sessions where _dlt_load_id = '{second}'") == [(incremental,)]


def test_monthly_revenue_is_the_marts(demo: Demo) -> None:
    printed = [
        line.split()
        for line in section(demo.output, "Revenue and energy per month")[1:]
        if not line.strip().startswith("total")
    ]
    mart = demo.query(
        "select strftime(month, '%Y-%m'), currency, sum(billable_sessions), sum(energy_kwh), sum(revenue_net), "
        "sum(revenue_vat), sum(revenue_gross) from marts.mart_revenue_monthly group by all order by 1, 2"
    )
    assert len(printed) == len(mart) >= 2
    for fields, row in zip(printed, mart, strict=True):
        assert fields[:3] == [row[0], row[1], f"{row[2]:,}"]
        for text, value, places in zip(fields[3:], row[3:], (Decimal("0.05"), *[Decimal("0.005")] * 3), strict=True):
            assert abs(num(text) - value) <= places, (fields, row)
    total = next(line for line in section(demo.output, "Revenue and energy per month") if "total" in line).split()
    assert int(num(total[2])) == sum(row[2] for row in mart)
    assert abs(num(total[6]) - sum(row[6] for row in mart)) <= Decimal("0.005")


def test_top_stations_are_the_daily_mart_joined_to_the_stations(demo: Demo) -> None:
    printed = [
        m.groups()
        for line in section(demo.output, "Top 5 stations by net revenue")[1:]
        if (m := re.fullmatch(rf"\s+\d+\s+(\S+)\s+.+?\s+(\S+)\s+({NUMBER})\s+({NUMBER})\s+({NUMBER}) EUR", line))
    ]
    expected = demo.query(
        "select s.station_label, r.organization_id, sum(r.billable_sessions), sum(r.revenue_net) "
        "from marts.mart_revenue_daily r join marts.dim_charging_stations s using (organization_id, station_id) "
        "group by all order by 4 desc limit 5"
    )
    assert len(printed) == 5
    for (label, org, sessions, _, net), row in zip(printed, expected, strict=True):
        assert (label, org, int(num(sessions))) == row[:3]
        assert abs(num(net) - row[3]) <= Decimal("0.005")


def test_reconciliation_counts_are_the_marts(demo: Demo) -> None:
    line = section(demo.output, "Price reconciliation")[0]
    match = re.search(rf"({NUMBER}) closed, .*: ({NUMBER}) exact, ({NUMBER}) mismatch, ({NUMBER}) not_computable", line)
    assert match, line
    total, exact, mismatch, not_computable = (int(num(g)) for g in match.groups())
    statuses = dict(demo.query("select recon_status, count(*) from marts.fct_session_price_reconciliation group by 1"))
    assert total > 0 and total == sum(statuses.values())
    assert (exact, mismatch, not_computable) == tuple(
        statuses.get(s, 0) for s in ("exact", "mismatch", "not_computable")
    )


def test_freshness_is_the_files(demo: Demo) -> None:
    lines = section(demo.output, "Freshness")
    ((loads, last),) = demo.query("select count(*), max(inserted_at) from wirelane_raw._dlt_loads where status = 0")
    assert loads == 2  # the second demo started over: only its own two loads
    assert f"last completed load: {last.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC ({loads} completed loads" in lines[0]
    ((newest,),) = demo.query("select max(updated_at) from marts.fct_charging_sessions")
    assert f"newest session change: {newest.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC" in lines[1]


def test_the_suggested_queries_work(demo: Demo) -> None:
    hints = section(demo.output, "Query wirelane.duckdb next")
    sql = re.fullmatch(r'\s+duckdb wirelane\.duckdb "(.+)"', hints[0])
    assert sql, hints[0]
    printed = {
        fields[0]: int(num(fields[2]))
        for fields in (line.split() for line in section(demo.output, "Revenue and energy per month")[1:])
        if fields[0] != "total"
    }
    assert {f"{month:%Y-%m}": sessions for month, sessions, _, _ in demo.query(sql.group(1))} == printed
    python = next(line for line in hints if " -c " in line)
    result = subprocess.run(shlex.split(python), cwd=demo.root, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    for month, sessions in printed.items():
        assert f"{month}-01" in result.stdout and str(sessions) in result.stdout, month


def test_a_second_run_reproduces_the_first(demo: Demo) -> None:
    """Same seed, regenerated simulator, fresh start: the same numbers, not doubled ones."""
    first, second = (run.stdout for run in demo.runs)
    for title in ("Rows per table", "Revenue and energy per month", "Top 5 stations", "Price reconciliation"):
        assert section(first, title) == section(second, title), title
    assert section(first, "What the incremental run changed")[0] == section(second, "What the incremental run")[0]


@pytest.mark.parametrize("made_by", ["run", "demo then run"])
def test_refuses_a_file_it_did_not_make(tmp_path: Path, made_by: str) -> None:
    database = tmp_path / "wirelane.duckdb"
    with duckdb.connect(str(database)) as con:
        con.execute("create schema wirelane_raw")
        con.execute("create table wirelane_raw._dlt_loads (load_id varchar, status int)")
        con.execute("insert into wirelane_raw._dlt_loads values ('1700000000.1', 0), ('1700000000.2', 0)")
        if made_by == "demo then run":
            con.execute("create schema wirelane_demo")
            con.execute("create table wirelane_demo.loads (load_id varchar, recorded_at timestamptz)")
            con.execute("insert into wirelane_demo.loads values ('1700000000.1', now())")
    before = database.read_bytes()
    result = subprocess.run(CLI + SMALL, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    reason = "was not made by the demo" if made_by == "run" else "holds 1 load(s) the demo did not make"
    assert line.startswith("error: ") and reason in line and "another directory" in line
    assert database.read_bytes() == before and result.stdout == ""


def test_environment_is_restored_even_on_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIRELANE_DEMO_TEST_SET", "user")
    monkeypatch.delenv("WIRELANE_DEMO_TEST_UNSET", raising=False)
    seen: list[tuple[str, str]] = []

    def failing_step() -> None:
        with environment({"WIRELANE_DEMO_TEST_SET": "demo", "WIRELANE_DEMO_TEST_UNSET": "demo"}):
            seen.append((os.environ["WIRELANE_DEMO_TEST_SET"], os.environ["WIRELANE_DEMO_TEST_UNSET"]))
            raise RuntimeError

    with pytest.raises(RuntimeError):
        failing_step()
    assert seen == [("demo", "demo")]
    assert os.environ["WIRELANE_DEMO_TEST_SET"] == "user" and "WIRELANE_DEMO_TEST_UNSET" not in os.environ


def test_command_defaults_are_the_demo_sizes() -> None:
    from typer.main import get_command

    from pipelines.cli import app

    group: Any = get_command(app)
    defaults = {param.name: param.default for param in group.commands["demo"].params}
    sizes = (DEMO_SIZES.organizations, DEMO_SIZES.stations, DEMO_SIZES.members, DEMO_SIZES.sessions, DEMO_SIZES.days)
    assert tuple(defaults[name] for name in ("organizations", "stations", "members", "sessions", "days")) == sizes
