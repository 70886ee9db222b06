"""`wirelane-sync run` loads in a fresh process image: the extraction's memory is gone before
the load's arrives.

Extracting a million sessions leaves the process at about 450 MiB (the imports, the HTTP
client's threads, freed memory glibc and Python do not hand back), and DuckDB's load needs
about 300 MiB more on top: 774 MiB in one process. Freeing inside Python does not get that
back (handing Arrow's pool and glibc's free lists back after normalize moved the peak by
nothing). A process image that starts from the normalized packages does: the command
re-executes itself (`os.execv`, the same process id, so a supervisor, systemd or a signal
sees one process throughout) with the path of a small file holding what the load step needs
(`load.Extracted`) and the progress counted so far, then loads, summarizes and transforms as
the one process would have.

A first load bigger than a slice (`sources.wirelane.sessions_per_slice`, 1,000,000 sessions)
goes on the same way: once a slice is loaded, the next image reads the next slice, and the
one after loads it. Each image handles at most one slice, so the run's peak memory is a
slice's, however many sessions there are (DuckDB keeps about 12 bytes for every session a
process loads, outside its memory limit, until the database is closed).

Only the command line does this, and only for itself (`cli.main` allows it); code that calls
`load.run`, tests and the Dagster assets, keeps one process. A run killed between the two
images leaves normalized packages, which the next run loads first, as after any kill; one
killed between slices has committed the slices before, and the next run's scan goes on
from there.
"""

from __future__ import annotations

import logging
import os
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from pipelines import runlog
from pipelines.load_step import Extracted, RunSummary
from pipelines.progress import ResourceCounts
from sources.wirelane.errors import WirelaneConfigError, WirelaneError

ENVIRONMENT = "WIRELANE_SYNC_HANDOFF"
# Below this much normalized data the load adds little memory, and a new image would cost an
# incremental run more than its load (starting Python, dlt and the pipeline again: about 1 s).
# A 1 % change of 1,000,000 sessions is about 4 MB; a full load of 100,000 about 41 MB.
THRESHOLD_ENVIRONMENT = "WIRELANE_SYNC_NEW_IMAGE_ABOVE_BYTES"
DEFAULT_THRESHOLD_BYTES = 16 * 2**20
log = logging.getLogger("wirelane_sync.handoff")


def worth_it(extracted: Extracted) -> bool:
    """Whether loading `extracted` in a new image saves memory worth its start-up time. A
    webhook drain's batch is small, and its claim is the first image's."""
    return extracted.webhooks is None and extracted.pending_bytes >= _threshold()


def _threshold() -> int:
    value = os.environ.get(THRESHOLD_ENVIRONMENT, "").strip()
    if not value:
        return DEFAULT_THRESHOLD_BYTES
    if not value.isdigit():
        raise WirelaneConfigError(f"{THRESHOLD_ENVIRONMENT} must be a whole number of bytes, not {value!r}")
    return int(value)


@dataclass
class Handoff:
    """An image's work, for the next to go on with: what it extracted, for the next image to
    load; or, with nothing extracted, the slices loaded so far, for the next image to read the
    next slice of a sliced sessions scan (`sources.wirelane.sessions_per_slice`)."""

    extracted: Extracted | None
    resources: dict[str, ResourceCounts]  # requests and rows per resource, for the progress and the summary
    elapsed_s: float  # how long the run has been going, for the progress
    earlier: RunSummary | None = None  # the slices loaded so far
    started: float | None = None  # time.time() when the run began


def write(handoff: Handoff) -> Path:
    """The handoff in our state folder, readable by this user only (it lists record ids)."""
    folder = runlog.state_dir()
    folder.mkdir(parents=True, exist_ok=True)
    _remove_orphans(folder)
    path = folder / f"handoff-{os.getpid()}.pickle"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        pickle.dump(handoff, file, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def _remove_orphans(folder: Path) -> None:
    """Handoffs of processes that are gone (killed between the two images): their packages
    are loaded by the next run anyway, without them."""
    for path in folder.glob("handoff-*.pickle"):
        pid = path.stem.removeprefix("handoff-")
        if pid.isdigit() and not _alive(int(pid)):
            path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def take() -> Handoff | None:
    """The handoff this image was started with, once: the file is removed as it is read."""
    value = os.environ.pop(ENVIRONMENT, None)
    if not value:
        return None
    path = Path(value)
    try:
        with path.open("rb") as file:
            handoff = pickle.load(file)  # noqa: S301 - our own file, written by the image before this one
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError) as error:
        handoff = error
    finally:
        path.unlink(missing_ok=True)
    if not isinstance(handoff, Handoff):
        reason = f" ({type(handoff).__name__})" if isinstance(handoff, Exception) else ""
        raise WirelaneError(
            f"{path} does not hold a run's handoff{reason}; run again: the next run loads what was extracted first"
        )
    return handoff


def continue_in_new_image(path: Path, what: str) -> NoReturn:
    """Replaces this process with the same command line, which finds the handoff and goes on."""
    log.info("%s in a new image of this process (pid %d)", what, os.getpid())
    sys.stdout.flush()
    sys.stderr.flush()
    os.environ[ENVIRONMENT] = str(path)
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])  # noqa: S606 - this very command again
