"""Promises the repository makes about itself: the README's commands, CI, pins, the contract."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "./scripts/test.sh" in readme and "./scripts/demo.sh" in readme
    assert re.search(r"^exec \./scripts/test\.sh$", ci, re.MULTILINE)


def test_dependencies_are_pinned_and_locked() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for requirement in project["project"]["dependencies"] + project["dependency-groups"]["dev"]:
        assert "==" in requirement or "<" in requirement, requirement
    assert any(r.startswith("dbt-core") and "<1.12" in r for r in project["project"]["dependencies"])
    lock = (ROOT / "uv.lock").read_text()
    assert 'name = "dlt"' in lock and 'name = "starlette"' in lock


def test_vendored_openapi_document_is_the_reference() -> None:
    reference = ROOT.parent / "shared" / "reference" / "wirelane-openapi-2.0.yml"
    if not reference.exists():
        pytest.skip("the shared reference folder is not beside this checkout")
    vendored = ROOT / "simulator" / "openapi" / "wirelane-openapi-2.0.yml"
    assert vendored.read_bytes() == reference.read_bytes()


def test_no_secrets_file_is_tracked() -> None:
    ignored = (ROOT / ".gitignore").read_text()
    assert ".dlt/secrets.toml" in ignored


def test_every_dbt_model_has_its_yaml_and_every_mart_a_contract() -> None:
    import yaml

    models = ROOT / "dbt_project" / "models"
    for sql in models.rglob("*.sql"):
        doc = sql.with_suffix(".yml")
        assert doc.exists(), f"{sql.relative_to(ROOT)} has no YAML beside it"
        entries = yaml.safe_load(doc.read_text())["models"]
        (entry,) = [m for m in entries if m["name"] == sql.stem]
        assert entry.get("description"), f"{sql.stem} is not described"
        if sql.parent.name == "marts":
            assert entry["config"]["contract"]["enforced"] is True, f"{sql.stem} publishes no contract"
            assert all(column.get("data_type") for column in entry["columns"]), sql.stem
