"""Schemathesis against the simulator's own `/openapi.json`: no generated request gets a 5xx.

Runs the schemathesis command line (as a user would) against a simulator on loopback, with a
password-grant token, over the 14 Wirelane operations: examples, coverage (boundary and
invalid values of every parameter), fuzzing and stateful phases, checking that no response is a
server error and that every response matches its documented status codes, content type and
schema. Path parameters are pinned to real ids for half of the operations' runs so that the
detail endpoints are reached, not only their 404s.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from simulator.server import RunningSimulator
from tests.api_client import ApiClient

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def _run(simulator: RunningSimulator, token: str, workdir: Path, config: str = "") -> subprocess.CompletedProcess[str]:
    (workdir / "schemathesis.toml").write_text(config)
    arguments = [
        *(str(SCHEMATHESIS), "run", f"{simulator.base_url}/openapi.json", "--checks", CHECKS),
        *("--header", f"Authorization: Bearer {token}", "--include-path-regex", "^/organizations"),
        *("--max-examples", "15", "--no-shrink", "--seed", "1", "--suppress-health-check", "all"),
        *("--generation-database", "none", "--workers", "2", "--no-color"),
    ]
    return subprocess.run(arguments, capture_output=True, text=True, timeout=240, cwd=workdir, check=False)


def test_no_generated_request_breaks_the_server(simulator: RunningSimulator, api: ApiClient, tmp_path: Path) -> None:
    result = _run(simulator, api.token, tmp_path)
    assert result.returncode == 0, result.stdout[-6000:]
    assert "passed" in result.stdout and "failures" not in result.stdout.split("SUMMARY")[-1]


def test_detail_endpoints_with_real_ids(simulator: RunningSimulator, api: ApiClient, tmp_path: Path) -> None:
    org = api.organizations[0]
    station = api.get(f"/organizations/id/{org}/stations", {"page_size": 1}).json()[0]
    tariff = api.get(f"/organizations/id/{org}/tariffs", {"page_size": 1}).json()[0]
    detail = api.get(f"/organizations/id/{org}/tariffs/id/{tariff['id']}").json()
    member = api.get(f"/organizations/id/{org}/members", {"page_size": 1}).json()[0]
    session = api.get(f"/organizations/id/{org}/sessions", {"page_size": 1}).json()[0]
    config = (
        "[parameters]\n"
        f'organizationId = "{org}"\n'
        f"stationId = {station['id']}\n"
        f"tariffId = {tariff['id']}\n"
        f"priceModelId = {detail['prices'][0]['id']}\n"
        f'accountId = "{member["account"]["account_id"]}"\n'
        f'sessionId = "{session["session_id"]}"\n'
    )
    result = _run(simulator, api.token, tmp_path, config)
    assert result.returncode == 0, result.stdout[-6000:]
    assert "Missing test data" not in result.stdout, "the pinned ids should reach every detail endpoint"
