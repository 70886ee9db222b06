"""Process and machine faults: a killed run, a restarted Postgres, a locked DuckDB file, a full disk.

The promise: whatever the machine does, the warehouse ends up exactly equal to the API, or the
run fails loudly (a non-zero exit and one `error: ...` line on stderr) and the next run without
the fault makes it equal; data already loaded is never lost or corrupted. Every run is a real
`wirelane-sync run --no-transform` process; "equal" is `api_equality.assert_equal`. The API
and network faults are in `test_fault_matrix.py`.
"""

from __future__ import annotations

import contextlib
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipelines import load
from tests.pipeline.api_equality import Fetch, assert_equal, duckdb_fetch, postgres_fetch, snapshot
from tests.pipeline.conftest import Workspace
from tests.postgres_server import PostgresServer

CLI = [str(Path(sys.executable).with_name("wirelane-sync")), "--progress", "off"]
RUN = [*CLI, "run", "--no-transform"]
SEED = 20261101
PHASES = ("extract", "normalize", "load")


@pytest.fixture
def ws(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv("SOURCES__WIRELANE__PSEUDONYMIZE", "false")  # compared with the API in clear
    monkeypatch.setenv("SOURCES__WIRELANE__REQUESTS_PER_SECOND", "400")
    return workspace


@dataclass
class Place:
    """Where a run keeps its things: the working directory (with wirelane.duckdb) and DLT_DATA_DIR."""

    root: Path
    dlt_dir: Path | None = None  # DLT_DATA_DIR, ./dlt unless given

    @property
    def duckdb_file(self) -> Path:
        return self.root / "wirelane.duckdb"

    @property
    def data_dir(self) -> Path:
        return self.dlt_dir or self.root / "dlt"

    @property
    def pipeline_dir(self) -> Path:
        return self.data_dir / "pipelines" / "wirelane"

    def env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, "DLT_DATA_DIR": str(self.data_dir), **extra}

    def fetch(self) -> Fetch:
        return duckdb_fetch(str(self.duckdb_file))


def run(
    place: Place, *args: str, env: dict[str, str] | None = None, preexec_fn: Callable[[], None] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RUN, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=place.root,
        env=env or place.env(),
        preexec_fn=preexec_fn,
    )


def run_ok(place: Place, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = run(place, *args, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def one_error_line(returncode: int, stderr: str) -> str:
    """A failed run: a non-zero exit and exactly one `error: ...` line on stderr."""
    assert returncode != 0, "the run should have failed"
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr[-3000:]
    return lines[0]


def current_snapshot(place: Place) -> dict[str, list[str]]:
    return snapshot(place.fetch()) if place.duckdb_file.exists() else {}


# -- SIGKILL -----------------------------------------------------------------------------------
def _names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def stage(pipeline_dir: Path, loaded_before: set[str]) -> int:
    """How far the newest package of a run got, from dlt's working folder: 0 nothing yet,
    1 extracting, 2 extracted or normalizing, 3 normalized or loading, 4 loaded."""
    normalize, load = pipeline_dir / "normalize", pipeline_dir / "load"
    if _names(load / "loaded") - loaded_before:
        return 4
    if _names(load / "normalized"):
        return 3
    if _names(load / "new") or _names(normalize / "extracted"):
        return 2
    extracting = [p for p in normalize.iterdir() if p.is_dir() and p.name != "extracted"] if normalize.is_dir() else []
    return 1 if any(_names(p) for p in extracting) else 0


# Watched runs ask the API more slowly than the others (400/s), so that their extraction lasts
# long enough to be cut at seeded points of it.
WATCHED_RATE = "100"
# where in a phase the kills fall: a seeded fraction of how long the phase took in a normal run
KILL_WINDOWS = {"extract": (0.05, 0.7), "normalize": (0.0, 0.5), "load": (0.0, 0.8), "first job": (0.0, 0.1)}
# a point to aim at inside the load phase: its first job begun (what follows the schema's DDL,
# which in a short incremental load can take most of the phase)
FIRST_JOB = "first job"
STAGE_NAMES = {0: "before extract", 1: "extract", 2: "normalize", 3: "load", 4: "after load"}


def begun_jobs(pipeline_dir: Path) -> int:
    """Jobs of a package being loaded that dlt had started or finished."""
    packages = list((pipeline_dir / "load" / "normalized").glob("*"))
    return sum(len(_names(p / "started_jobs")) + len(_names(p / "completed_jobs")) for p in packages)


@dataclass
class Watched:
    """A run watched through dlt's working folder: when each stage began (seconds after the
    start), the phase it was in when it ended (or was killed), and what it left."""

    began: dict[int, float]
    hit: str
    begun_jobs: int
    returncode: int
    stderr: str


def watched_run(
    place: Place,
    at: tuple[str, float] | None = None,
    then: Callable[[], None] | None = None,
    args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> Watched:
    """A run in its own process group, watched through dlt's working folder. With `at = (phase,
    delay)`, `delay` seconds after the run's package entered that phase (or, for FIRST_JOB, after
    its load began a job) the group is SIGKILLed, or `then` is called and the run goes on to its
    end; without, it just runs to its end."""
    trigger = PHASES.index("load" if at[0] == FIRST_JOB else at[0]) + 1 if at else 5
    loaded_before = _names(place.pipeline_dir / "load" / "loaded")
    log = place.root / f"watched-{len(list(place.root.glob('watched-*.stderr')))}.stderr"
    began: dict[int, float] = {}
    with log.open("w") as stderr:
        started = time.monotonic()
        process = subprocess.Popen(
            [*RUN, *args],
            cwd=place.root,
            env=env or place.env(SOURCES__WIRELANE__REQUESTS_PER_SECOND=WATCHED_RATE),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
        try:
            while process.poll() is None and (
                max(began, default=0) < trigger
                or (at is not None and at[0] == FIRST_JOB and not begun_jobs(place.pipeline_dir))
            ):
                now = stage(place.pipeline_dir, loaded_before)
                for reached in range(1, now + 1):
                    began.setdefault(reached, time.monotonic() - started)
                assert time.monotonic() - started < 120, "the run took more than 120 s"
                time.sleep(0.005)
            if at is not None:
                assert process.poll() is None, f"the run ended before its {at[0]}: {log.read_text()[-2000:]}"
                time.sleep(at[1])
                if then is not None:
                    then()
                    process.wait(timeout=120)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=60)
    hit = stage(place.pipeline_dir, loaded_before)
    return Watched(began, STAGE_NAMES[hit], begun_jobs(place.pipeline_dir), process.returncode, log.read_text())


def session_ids(place: Place) -> list[Any]:
    """Every session_id the warehouse holds (none while it has no sessions table)."""
    if not place.duckdb_file.exists():
        return []
    fetch = place.fetch()
    if not fetch(
        "select 1 from information_schema.tables where table_schema = 'wirelane_raw' and table_name = 'sessions'"
    ):
        return []
    return [row["session_id"] for row in fetch("select session_id from wirelane_raw.sessions")]


def test_a_kill_between_normalize_committing_and_cleaning_up_does_not_block_later_runs(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dlt's normalize renames the finished package into `load/normalized` and then deletes the
    extracted copy; a kill in between (CI hit it once among the seeded kills) left both, and
    every later run failed with "Directory not empty". Built here exactly: the copy put back
    after a real normalize."""
    place = Place(tmp_path / "committed")
    place.root.mkdir()
    run_ok(place)
    ws.api.admin("POST", "advance", {"minutes": 180})
    monkeypatch.chdir(place.root)
    monkeypatch.setenv("DLT_DATA_DIR", str(place.data_dir))
    pipeline = load.make_pipeline("duckdb")
    pipeline.extract(load.build_source())
    [load_id] = pipeline.list_extracted_load_packages()
    extracted = Path(pipeline.working_dir) / "normalize" / "extracted" / load_id
    shutil.copytree(extracted, tmp_path / "extracted-copy")
    pipeline.normalize()
    assert not extracted.exists() and load_id in pipeline.list_normalized_load_packages()
    shutil.copytree(tmp_path / "extracted-copy", extracted)  # the state the kill leaves
    result = run_ok(place)
    assert "dropping its extracted copy" in result.stderr
    assert_equal(place.fetch(), ws.api)
    run_ok(place)  # and the run after it is an ordinary one


@pytest.mark.slow
def test_sigkill_in_extract_normalize_and_load_then_one_run_makes_it_equal(ws: Workspace, tmp_path: Path) -> None:
    """Ten seeded kills, spread over the three phases of a first load and of incremental runs;
    after each, one normal run makes the warehouse equal to the API."""
    rng = random.Random(SEED)
    # a normal first load, watched, to learn how long each phase lasts
    base = Place(tmp_path / "incremental")
    base.root.mkdir()
    normal = watched_run(base)
    assert normal.returncode == 0 and normal.hit == "after load", normal.stderr[-3000:]
    assert set(normal.began) == {1, 2, 3, 4}, normal.began
    lasts = {phase: normal.began[i + 2] - normal.began[i + 1] for i, phase in enumerate(PHASES)}
    print(f"a normal first load: {', '.join(f'{p} {s:.2f} s' for p, s in lasts.items())}", flush=True)
    assert_equal(base.fetch(), ws.api)
    hits: list[tuple[int, str, str, str, int]] = []
    for trial in range(10):
        # trial 5 aims at an incremental load's first job, the others at a phase's beginning
        target = FIRST_JOB if trial == 5 else PHASES[trial % len(PHASES)]
        first_load = trial % 4 == 0  # trials 0, 4, 8: extract, normalize, load into an empty warehouse
        if first_load:
            place = Place(tmp_path / f"first-load-{trial}")
            place.root.mkdir()
        else:
            place = base
            ws.api.admin("POST", "advance", {"minutes": rng.randint(30, 300)}).raise_for_status()
        before = current_snapshot(place)
        sessions_before = set(session_ids(place))
        delay = rng.uniform(*KILL_WINDOWS[target]) * lasts["load" if target == FIRST_JOB else target]
        killed = watched_run(place, (target, delay))
        # a load that finished within the delay was not killed: a trial that hit no phase
        phase = "finished first" if killed.returncode == 0 else killed.hit
        jobs = killed.begun_jobs
        kind = "first load" if first_load else "incremental"
        hits.append((trial, kind, target, phase, jobs))
        where = f"trial {trial} ({kind}, aimed at {target} +{delay:.2f} s, hit {phase}, {jobs} jobs begun)"
        print(where, flush=True)
        assert killed.returncode in (0, -signal.SIGKILL), f"{where}: {killed.stderr[-3000:]}"
        if phase in ("before extract", "extract", "normalize"):
            assert current_snapshot(place) == before, f"{where}: the killed run changed the warehouse"
        else:
            ids = session_ids(place)
            assert len(ids) == len(set(ids)), f"{where}: the killed run left duplicate sessions"
            assert sessions_before <= set(ids), f"{where}: the killed run lost sessions"
        recovery = run_ok(place)
        if phase == "load" and jobs:
            expected = "had begun loading"
        elif phase in ("normalize", "load"):
            expected = "loading the pending packages of an interrupted run first"
        else:
            expected = ""
        assert expected in recovery.stderr, f"{where}: {recovery.stderr}"
        try:
            assert_equal(place.fetch(), ws.api)
        except AssertionError as error:
            raise AssertionError(f"{where}, then a normal run: {error}") from None
    report = "\n".join(f"trial {t} ({k}): aimed at {a}, hit {p}, {j} jobs begun" for t, k, a, p, j in hits)
    for phase in PHASES:
        assert any(hit == phase for _, _, _, hit, _ in hits), f"no kill hit {phase}:\n{report}"
    # the case that needs more than resuming: a load cut short after some of its jobs ran
    assert any(hit == "load" and jobs for _, _, _, hit, jobs in hits), f"no kill cut a running load:\n{report}"


# -- Postgres restarted ------------------------------------------------------------------------
def test_postgres_restarted_while_a_load_runs(ws: Workspace, postgres: PostgresServer, tmp_path: Path) -> None:
    """The server restarts (a fast shutdown: sessions cut, transactions rolled back) while the
    run writes, once in a first load and once in an incremental run: the run succeeds or fails
    with one line, and the next normal run makes the warehouse equal to the API."""
    fetch = postgres_fetch(postgres.dsn)
    fetch("drop schema if exists wirelane_raw cascade; drop schema if exists wirelane_raw_staging cascade; select 1")
    place = Place(tmp_path / "postgres")
    place.root.mkdir()
    env = place.env(
        DESTINATION__POSTGRES__CREDENTIALS=postgres.dsn, SOURCES__WIRELANE__REQUESTS_PER_SECOND=WATCHED_RATE
    )
    rng = random.Random(SEED)

    def restart() -> None:
        postgres.stop("fast")
        postgres.start()

    for kind in ("first load", "incremental"):
        if kind == "incremental":
            ws.api.admin("POST", "advance", {"minutes": 240}).raise_for_status()
        delay = rng.uniform(0.0, 0.5)
        cut = watched_run(place, ("load", delay), then=restart, args=("-d", "postgres"), env=env)
        outcome = cut.stderr.strip().splitlines()[-1] if cut.returncode else "success"
        print(f"{kind}: Postgres restarted {delay:.2f} s into the load: exit {cut.returncode}, {outcome}", flush=True)
        if cut.returncode != 0:
            assert cut.returncode == 1, cut.stderr[-3000:]
            assert one_error_line(cut.returncode, cut.stderr) == outcome
            assert "the connection to the destination failed" in outcome, outcome
        else:  # the restart did cut connections: dlt retried jobs (its own log says so) and finished
            assert "retried in load" in cut.stderr, "the restart missed the load"
        normal = run(place, "-d", "postgres", env=env)
        assert normal.returncode == 0, normal.stderr[-3000:]
        assert_equal(fetch, ws.api)


# -- a DuckDB file another process holds --------------------------------------------------------
def test_a_duckdb_file_held_open_by_a_reader_is_refused_in_one_line(ws: Workspace, tmp_path: Path) -> None:
    """A BI tool or a notebook has the file open (read-only, in another process): DuckDB lets
    no writer in, the run says so in one line and changes nothing; once the reader is gone the
    next run makes the warehouse equal to the API."""
    place = Place(tmp_path / "locked")
    place.root.mkdir()
    run_ok(place)
    ws.api.admin("POST", "advance", {"minutes": 240}).raise_for_status()
    before = snapshot(place.fetch())
    hold = f"import duckdb, time; con = duckdb.connect({str(place.duckdb_file)!r}, read_only=True); print('open', flush=True); time.sleep(120)"
    reader = subprocess.Popen([sys.executable, "-c", hold], stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout is not None and reader.stdout.readline().strip() == "open"
        refused = run(place)
    finally:
        reader.kill()
        reader.wait()
    line = one_error_line(refused.returncode, refused.stderr)
    print(line)
    assert refused.returncode == 1
    assert f"the DuckDB file {place.duckdb_file} is in use by another process" in line, line
    assert f"(PID {reader.pid}, " in line, line
    assert snapshot(place.fetch()) == before, "a refused run changed the warehouse"
    run_ok(place)
    assert_equal(place.fetch(), ws.api)


# -- a full disk --------------------------------------------------------------------------------
@contextlib.contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted on `folder` (root may mount here; if not, the test is skipped)."""
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def no_bigger_than(limit: int) -> Callable[[], None]:
    """For `preexec_fn`: files the run writes cannot grow past `limit` bytes (EFBIG, not a signal)."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.mark.parametrize("how", ["tmpfs", "fsize"])
def test_a_full_disk_fails_in_one_line_and_changes_nothing(ws: Workspace, tmp_path: Path, how: str) -> None:
    """The pipeline folder's disk fills up during an incremental run: a real small tmpfs with
    only a few KB left, or (where mounting is refused, and always in addition) a file-size limit
    on the process. The run fails with one line saying so, the warehouse keeps exactly what it
    had, and once there is room the next run makes it equal to the API."""
    with contextlib.ExitStack() as stack:
        place = Place(tmp_path / "full")
        place.root.mkdir()
        if how == "tmpfs":
            place.dlt_dir = stack.enter_context(small_disk(tmp_path / "disk", "32m")) / "dlt"
        run_ok(place)
        assert_equal(place.fetch(), ws.api)
        before = snapshot(place.fetch())
        ws.api.admin("POST", "advance", {"minutes": 240}).raise_for_status()
        filler = tmp_path / "disk" / "filler"
        if how == "tmpfs":
            with filler.open("wb") as out:  # leave 48 KB
                out.truncate(0)
                out.write(b"\0" * (shutil.disk_usage(filler.parent).free - 48 * 1024))
            failed = run(place)
        else:
            failed = run(place, preexec_fn=no_bigger_than(48 * 1024))
        line = failed.stderr.strip().splitlines()[-1] if failed.stderr.strip() else ""
        print(f"{how}: exit {failed.returncode}: {failed.stderr[-2000:]}")
        assert failed.returncode == 1, failed.stderr[-3000:]
        assert [x for x in failed.stderr.splitlines() if x.startswith("error: ")] == [line], failed.stderr[-3000:]
        assert "no space left to write in " in line and "free space on that disk (DLT_DATA_DIR" in line, line
        assert "Traceback" not in failed.stderr, failed.stderr[-3000:]
        assert snapshot(place.fetch()) == before, "a run that found the disk full changed the warehouse"
        if how == "tmpfs":
            filler.unlink()
        run_ok(place)
        assert_equal(place.fetch(), ws.api)


def test_a_full_refresh_after_a_crash_refreshes(ws: Workspace) -> None:
    """A crash left a package; `--full-refresh` must still drop and load everything, not just
    load the leftover (which is what dlt's own `run` would do, and stop)."""
    from pipelines import load

    load.run("duckdb")
    ws.api.admin("POST", "advance", {"minutes": 240})
    pipeline = load.make_pipeline("duckdb")
    pipeline.extract(load.build_source(resources=["sessions"]))  # a run killed right after its extract
    assert pipeline.has_pending_data
    summary = load.run("duckdb", full_refresh=True)
    total = ws.api.admin("GET", "stats").json()["totals"]
    assert summary.rows["sessions"] == total["sessions"] and summary.rows["members"] == total["members"]
    assert ws.query("select count(distinct _dlt_load_id) from wirelane_raw.sessions") == [(1,)], "all loaded anew"
    assert_equal(duckdb_fetch(str(ws.duckdb_file)), ws.api)
