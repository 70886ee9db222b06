"""The settings that keep a run's memory down (pipelines/allocator.py, DuckDB's limit and its load jobs while
loading) or its collector quiet (pipelines/collector.py), and the imports the command line
refuses (pipelines/import_guard.py): what they default to and that an operator's own settings
win."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines import allocator, collector
from pipelines.destinations import Destination
from pipelines.load_step import (
    BIG_PACKAGE_BYTES,
    DLT_LOAD_WORKERS,
    Extracted,
    Listings,
    default_duckdb_memory_limit,
    load_memory_limit,
    load_workers,
)
from sources.wirelane.statuses import ListedStatuses

ROOT = Path(__file__).resolve().parents[2]


def test_duckdb_gets_80mb_per_thread_and_at_least_160mb() -> None:
    assert default_duckdb_memory_limit(1) == "160MB"
    assert default_duckdb_memory_limit(2) == "160MB"
    assert default_duckdb_memory_limit(3) == "240MB"
    assert default_duckdb_memory_limit(16) == "1280MB"
    assert default_duckdb_memory_limit(2, small=True) == "96MB"
    assert default_duckdb_memory_limit(4, small=True) == "192MB"


def _extracted(destination: Destination, pending_bytes: int) -> Extracted:
    return Extracted(
        destination, "raw", 0.0, Listings(frozenset(), [], {}, ListedStatuses()), {}, 0, 0, 0, pending_bytes
    )


def test_a_big_package_loads_into_duckdb_one_job_at_a_time() -> None:
    """Concurrent merges share DuckDB's one memory limit; small packages and Postgres keep
    dlt's parallel jobs (pipelines/load_step.py)."""
    assert load_workers(_extracted("duckdb", BIG_PACKAGE_BYTES)) == 1
    assert load_workers(_extracted("duckdb", BIG_PACKAGE_BYTES - 1)) == DLT_LOAD_WORKERS
    assert load_workers(_extracted("postgres", 10 * BIG_PACKAGE_BYTES)) == DLT_LOAD_WORKERS


def test_a_small_package_loads_with_the_small_limit_unless_the_operator_set_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DESTINATION__DUCKDB__MEMORY_LIMIT", raising=False)
    assert load_memory_limit(_extracted("duckdb", BIG_PACKAGE_BYTES - 1)) == default_duckdb_memory_limit(small=True)
    assert load_memory_limit(_extracted("duckdb", BIG_PACKAGE_BYTES)) is None  # the destination's own
    assert load_memory_limit(_extracted("postgres", 1)) is None
    monkeypatch.setenv("DESTINATION__DUCKDB__MEMORY_LIMIT", "1GB")
    assert load_memory_limit(_extracted("duckdb", 1)) is None


@pytest.mark.skipif("glibc" not in (os.confstr("CS_GNU_LIBC_VERSION") or ""), reason="glibc's mallopt")
def test_the_allocator_settings_leave_the_operators_own_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, _, _ in allocator.SETTINGS:
        monkeypatch.delenv(variable, raising=False)
    assert allocator.tune() == [variable for variable, _, _ in allocator.SETTINGS]
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert allocator.tune() == ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"]


def test_the_collector_runs_every_10000_allocations_with_its_generations_ratios_kept() -> None:
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        collector.tune()
        assert gc.get_threshold() == (10_000, 10, 10)
    finally:
        gc.set_threshold(*before)


def test_the_refused_imports_stay_out_and_what_imports_them_on_speculation_still_works() -> None:
    """In a process of its own, as the command line's: pyarrow converts Python lists and dlt
    opens a DuckDB file's credentials without pandas and SQLAlchemy, and a refused import is
    the ModuleNotFoundError that both take for "not installed"."""
    script = """
import sys
from pipelines import import_guard
import_guard.refuse()
import pyarrow as pa
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
assert pa.array([{"kwh": 1.5}]).type == pa.struct([("kwh", pa.float64())])
assert DuckDbCredentials("/tmp/wirelane.duckdb").database == "/tmp/wirelane.duckdb"
try:
    import streamlit
except ModuleNotFoundError as error:
    assert error.name == "streamlit"
else:
    raise AssertionError("streamlit was imported")
print(sorted(name for name in ("pandas", "sqlalchemy", "streamlit") if name in sys.modules))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_dlt_reads_the_writers_buffer_size_from_the_projects_config() -> None:
    """`[data_writer] buffer_max_items` in .dlt/config.toml. Under another name the default of
    5000 rows per table holds again, silently: `EXTRACT__DATA_WRITER__BUFFER_MAX_ITEMS` left a
    1,000,000-session load's peak where it was."""
    code = (
        "from dlt.common.configuration import resolve_configuration\n"
        "from dlt.common.data_writers.buffered import BufferedDataWriter\n"
        "print(resolve_configuration(BufferedDataWriter.BufferedDataWriterConfiguration()).buffer_max_items)"
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DATA_WRITER__")}
    found = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True)
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == "1000"
