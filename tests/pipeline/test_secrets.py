"""No secret or token leaks: a run at debug level with known secret values, then every output
and every file it produced is searched for them (logs, dlt's working folder with its state,
schemas and traces, the run record, dbt's logs and artifacts, every value in the warehouse)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from dlt.common.versioned_state import decompress_state

from pipelines.transform import PROJECT_DIR
from tests.pipeline.conftest import Workspace

KEY = "leak-canary-pseudonymization-key-4711"
JWT = re.compile(rb"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}")


def _secrets(ws: Workspace) -> list[bytes]:
    credentials = ws.simulator.credentials
    values = [credentials.client_secret, credentials.password, KEY]
    # refresh tokens the simulator still honours (rotated ones are gone from its store)
    values += list(ws.simulator.state.tokens._refresh_tokens)
    return [value.encode() for value in values if value]


def _files_with(root: Path, needles: list[bytes]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            found += [f"{path}: {needle[:6]!r}…" for needle in needles if needle in data]
            if JWT.search(data):
                found.append(f"{path}: a JWT")
    return found


@pytest.mark.slow
def test_no_secret_or_token_in_any_output_or_file(workspace: Workspace) -> None:
    env = {
        **os.environ,
        "SOURCES__WIRELANE__PSEUDONYMIZATION_KEY": KEY,
        "RUNTIME__LOG_LEVEL": "DEBUG",
        "SOURCES__WIRELANE__CREDENTIALS__CLIENT_ID": workspace.simulator.credentials.client_id,
        "SOURCES__WIRELANE__CREDENTIALS__CLIENT_SECRET": workspace.simulator.credentials.client_secret,
        "SOURCES__WIRELANE__CREDENTIALS__USERNAME": workspace.simulator.credentials.username,
        "SOURCES__WIRELANE__CREDENTIALS__PASSWORD": workspace.simulator.credentials.password,
    }
    outputs = b""
    for command in (
        ["run"],
        ["run", "--no-transform"],  # an incremental run too: state written twice
        ["status", "--json"],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "pipelines.cli", "--log-level", "debug", "--log-format", "json", "--progress", "log", *command],
            capture_output=True, cwd=workspace.root, env=env, timeout=600, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr.decode()[-2000:]
        outputs += result.stdout + result.stderr
    needles = _secrets(workspace)
    assert len(outputs) > 10_000, "debug logging was on"
    assert not [n for n in needles if n in outputs] and not JWT.search(outputs)

    assert not _files_with(
        workspace.root, needles
    )  # DLT_DATA_DIR (state, schemas, traces, run record) and the DuckDB file
    assert not _files_with(PROJECT_DIR / "logs", needles) if (PROJECT_DIR / "logs").exists() else True
    assert not _files_with(PROJECT_DIR / "target", needles)

    # the warehouse's values, uncompressed: every text column and dlt's stored state
    text_columns = workspace.query(
        "select table_schema, table_name, column_name from information_schema.columns "
        "where data_type in ('VARCHAR', 'JSON') and table_schema not in ('information_schema', 'pg_catalog')"
    )
    for schema, table, column in text_columns:
        for (value,) in workspace.query(f'select distinct "{column}" from "{schema}"."{table}"'):
            data = str(value).encode()
            assert not [n for n in needles if n in data] and not JWT.search(data), (table, column)
    for (state,) in workspace.query("select state from wirelane_raw._dlt_pipeline_state"):
        data = repr(decompress_state(state)).encode()
        assert not [n for n in needles if n in data] and not JWT.search(data)
