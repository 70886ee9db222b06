"""The `wirelane-sync` command line as a user runs it: a real process, real ports."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

CLI = [sys.executable, "-m", "pipelines.cli"]
SMALL = ["--sessions", "500", "--stations", "10", "--members", "20", "--days", "30"]


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, check=False)


def test_help_lists_the_commands() -> None:
    result = run("--help")
    assert result.returncode == 0
    assert "simulate" in result.stdout


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
