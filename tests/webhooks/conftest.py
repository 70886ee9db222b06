"""The pipeline tests' workspace (a private simulator, working folder and DuckDB file)."""

from tests.pipeline.conftest import workspace

__all__ = ["workspace"]
