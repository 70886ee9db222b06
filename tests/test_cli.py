"""The `wirelane-sync` command line as a user runs it: a real process, real ports."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from pipelines import logs

CLI = [sys.executable, "-m", "pipelines.cli"]
SMALL = ["--sessions", "500", "--stations", "10", "--members", "20", "--days", "30"]


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, check=False)


def test_help_lists_the_commands() -> None:
    result = run("--help")
    assert result.returncode == 0
    for command in ("simulate", "run", "backfill", "transform", "status"):
        assert command in result.stdout
    for option in ("--log-format", "--log-level", "--progress"):
        assert option in result.stdout
    status = run("status", "--help")
    assert status.returncode == 0 and "--json" in status.stdout and "--destination" in status.stdout


def test_a_bad_global_option_is_exit_2() -> None:
    result = run("--log-level", "chatty", "status")
    assert result.returncode == 2 and "chatty" in result.stderr


def test_simulate_serves_and_prints_how_to_query(tmp_path: Path) -> None:
    ready = tmp_path / "ready.json"
    process = subprocess.Popen(
        [*CLI, "simulate", "--port", "0", "--ready-file", str(ready), *SMALL],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "simulator not ready in 30 s"
            time.sleep(0.1)
        info = json.loads(ready.read_text())
        assert info["organizations"] == ["DEMOTENANT", "BORNES-ATLANTIQUE"]
        assert (info["client_id"], info["client_secret"]) == ("demo-client", "demo-secret")
        assert (info["username"], info["password"]) == ("analyst@demo.test", "demo-password")
        token = httpx.post(
            info["token_url"],
            data={k: info[k] for k in ("client_id", "client_secret", "username", "password")}
            | {"grant_type": "password"},
        ).json()["access_token"]
        response = httpx.get(
            f"{info['base_url']}/organizations/id/DEMOTENANT/sessions",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200
        assert int(response.headers["X-Total-Count"]) > 0
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=15)
    assert "demo-password" in out and "/apis/emc" in out and "curl" in out


def test_a_taken_port_is_one_clear_line_and_exit_2() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        result = run("simulate", "--port", str(port), *SMALL)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot listen on") and "--port" in lines[0]


def test_a_taken_port_in_json_logs_is_one_json_object() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        result = run("--log-format", "json", "simulate", "--port", str(port), *SMALL)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["level"] == "ERROR" and record["exit_code"] == 2 and record["message"].startswith("cannot listen on")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--faults", "hurricane"], "unknown fault profile"),
        (["--faults", '{"meteor": {}}'], "unknown fault"),
        (["--now", "yesterday"], "--now"),
    ],
)
def test_bad_options_are_one_clear_line(args: list[str], message: str) -> None:
    result = run("simulate", "--port", "0", *args, *SMALL)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_secrets_in_an_error_line_are_masked(tmp_path: Path) -> None:
    """Whatever an error quotes (here a URL with a password in it), the secret does not get out."""
    result = subprocess.run(
        [*CLI, "run", "--no-transform"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
        env={
            **os.environ,
            "DLT_DATA_DIR": str(tmp_path / "dlt"),
            "SOURCES__WIRELANE__TOKEN_URL": "http://loader:hunter2-pw@127.0.0.1:9/token",
        },
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "token_url must use https" in lines[0]
    assert "hunter2-pw" not in result.stderr and "loader:***@127.0.0.1" in lines[0]


def test_redaction_of_log_records(tmp_path: Path) -> None:
    (tmp_path / ".dlt").mkdir()
    (tmp_path / ".dlt" / "secrets.toml").write_text(
        '[sources.wirelane.credentials]\nclient_id = "demo-client"\nclient_secret = "cl13nt-s3cret"\n'
        '[destination.postgres]\ncredentials = "postgresql://loader:pg-pass-77@db:5432/w"\n'
    )
    redact = logs.Redactor.from_environment(
        {"MY_API_TOKEN": "tok-123456", "SOURCES__WIRELANE__TOKEN_URL": "https://o/token"}, tmp_path
    )
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbmFseXN0In0.c2lnbmF0dXJl"
    text = redact(
        f"secret cl13nt-s3cret, dsn pg-pass-77, env tok-123456, Authorization: Bearer abc.def, {jwt}, "
        'password=hunter2 {"refresh_token": "r-1"} https://o/token demo-client'
    )
    for secret in ("cl13nt-s3cret", "pg-pass-77", "tok-123456", "abc.def", jwt, "hunter2", "r-1"):
        assert secret not in text, secret
    assert "https://o/token" in text and "demo-client" in text, "what is not a secret stays readable"
    record = logging.LogRecord("wirelane_sync.test", logging.INFO, __file__, 1, "token %s", ("tok-123456",), None)
    record.attempt = {"url": "https://o/token", "header": "Bearer xyz"}
    document = json.loads(logs.JsonFormatter(redact).format(record))
    assert document["message"] == "token ***" and document["attempt"] == {
        "url": "https://o/token",
        "header": "Bearer ***",
    }
    assert {"time", "level", "logger"} <= set(document) and document["level"] == "INFO"


def test_postgres_roles_needs_passwords_from_the_environment() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIRELANE_")}
    result = subprocess.run(
        [*CLI, "postgres-roles", "--admin-dsn", "postgresql://admin@127.0.0.1:1/db"],
        capture_output=True, text=True, timeout=60, check=False, env=env,
    )  # fmt: skip
    assert result.returncode == 2
    assert (
        result.stderr.strip() == "error: set WIRELANE_LOADER_PASSWORD and WIRELANE_BI_PASSWORD to the roles' passwords"
    )
    unreachable = subprocess.run(
        [*CLI, "postgres-roles", "--admin-dsn", "postgresql://admin:pw@127.0.0.1:1/db"],
        capture_output=True, text=True, timeout=60, check=False,
        env={**env, "WIRELANE_LOADER_PASSWORD": "loader-password-1", "WIRELANE_BI_PASSWORD": "bi-password-12345"},
    )  # fmt: skip
    assert unreachable.returncode == 1 and unreachable.stderr.startswith("error: could not set up the Postgres roles")
    assert "pw@" not in unreachable.stderr and len(unreachable.stderr.strip().splitlines()) == 1
