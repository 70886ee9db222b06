"""The pipeline tests' fixtures (a private simulator, working folder and DuckDB file; Postgres),
and `ws`: that workspace set up for comparing with the API after webhook drains."""

import pytest

from tests.pipeline.conftest import Workspace, postgres, workspace
from tests.webhooks.receiver_process import SECRET

__all__ = ["postgres", "workspace", "ws"]


@pytest.fixture
def ws(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv("SOURCES__WIRELANE__PSEUDONYMIZE", "false")  # compared with the API in clear
    monkeypatch.setenv("SOURCES__WIRELANE__REQUESTS_PER_SECOND", "0")
    monkeypatch.setenv("SOURCES__WIRELANE__WEBHOOK_SECRET", SECRET)
    return workspace
