"""The pipeline tests' fixtures: a private simulator, working folder and DuckDB file; Postgres."""

from tests.pipeline.conftest import postgres, workspace

__all__ = ["postgres", "workspace"]
