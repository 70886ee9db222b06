"""Moving the simulated clock: new sessions, status progressions, late corrections, new prices.

Every change made while the clock moves from `t0` to `t1` is stamped with an `update_date`
in (t0, t1], and no record is ever stamped beyond the clock. So `update_date` never goes
backwards for any record, and a client that has seen everything up to `t0` finds every later
change by asking for `update_date > t0`: the property incremental loading relies on.

A `ChangeSet` passed to `advance` or `shift` collects which records changed, for the
webhook events (`simulator/events.py`); the summary they return stays a plain count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from simulator import generate, timefmt
from simulator.sessions import ERROR, NONE, OPEN_STATUSES, STATUS, SessionStore
from simulator.world import World

SessionAction = Literal["start", "update", "close"]


@dataclass(frozen=True)
class SessionChange:
    """A session as it was right after one change: later steps of the same advance may
    change it again, and each change is an event of its own."""

    index: int
    action: SessionAction
    status: int  # status code at the change
    at: int  # the update_date it got, epoch s


@dataclass(frozen=True)
class StationChange:
    index: int
    at: int


@dataclass(frozen=True)
class TariffChange:
    index: int
    at: int


@dataclass
class ChangeSet:
    """What one clock move changed, in the order it happened."""

    batch: int = 0  # the world's advance_count for this move: seeds the event ids
    sessions: list[SessionChange] = field(default_factory=list)
    stations: list[StationChange] = field(default_factory=list)
    tariffs: list[TariffChange] = field(default_factory=list)

    def record_sessions(self, world: World, indices: list[int], action: SessionAction) -> None:
        s = world.sessions
        for i in indices:
            self.sessions.append(SessionChange(i, action, int(s.status[i]), int(s.update[i])))


def _rng(world: World, purpose: str) -> np.random.Generator:
    world.advance_count += 1
    return np.random.default_rng([world.seed, world.advance_count, len(purpose)])


def _stamp(rng: np.random.Generator, start: int, end: int, count: int) -> npt.NDArray[np.int64]:
    """Update instants in (start, end]."""
    return start + 1 + rng.integers(0, max(1, end - start), size=count)


def _new_sessions(world: World, rng: np.random.Generator, count: int, start: int, end: int, changes: ChangeSet) -> int:
    if count <= 0:
        return 0
    rows = generate.generate_rows(
        world.builder, rng, count, start + 1, end + 1, clock=end, busy=world.busy_until, meter_base=world.meter_base
    )
    rows["update"] = np.clip(rows["update"], start + 1, end)
    added = world.sessions.append(rows)
    changes.record_sessions(world, added.tolist(), "start")
    return len(added)


def _progress_open_sessions(
    world: World, rng: np.random.Generator, start: int, end: int, changes: ChangeSet
) -> tuple[int, int]:
    s = world.sessions
    open_idx = np.flatnonzero(np.isin(s.status, OPEN_STATUSES))
    closed = progressed = 0
    to_price: list[int] = []
    for i in open_idx.tolist():
        planned_end = int(s.planned_end[i])
        begin = int(s.begin[i])
        status = int(s.status[i])
        if begin == NONE:
            # an authorization that never started charging: it times out
            if end >= int(s.creation[i]) + 300:
                s.column("status")[i] = STATUS["error"]
                s.column("error_code")[i] = ERROR["authorization_timeout"]
                s.column("process_end")[i] = int(s.creation[i]) + 300
                s.column("update")[i] = max(start + 1, int(s.creation[i]) + 300)
                changes.record_sessions(world, [i], "close")
                closed += 1
            continue
        if status == STATUS["stopped"] or planned_end + 5 <= end:
            if status != STATUS["stopped"]:
                s.column("end")[i] = planned_end
                s.column("process_end")[i] = planned_end + 5
                s.column("energy_wh")[i] = int(s.planned_wh[i])
            s.column("status")[i] = STATUS["closed"]
            s.column("update")[i] = int(_stamp(rng, max(start, int(s.process_end[i])), end, 1)[0])
            to_price.append(i)
            changes.record_sessions(world, [i], "close")
            closed += 1
        elif begin <= end:
            fraction = min(1.0, (end - begin) / max(1, planned_end - begin))
            s.column("status")[i] = STATUS["started"]
            s.column("energy_wh")[i] = round(int(s.planned_wh[i]) * fraction)
            s.column("update")[i] = end
            changes.record_sessions(world, [i], "update")
            progressed += 1
    if to_price:
        _reprice(world, np.asarray(to_price, dtype=np.int64))
    return closed, progressed


def _reprice(world: World, which: npt.NDArray[np.int64]) -> None:
    s = world.sessions
    rows = {name: s.column(name) for name in SessionStore.COLUMNS}
    generate.apply_prices(world.price_models, rows, which)


def late_corrections(
    world: World, rng: np.random.Generator, count: int, start: int, end: int, changes: ChangeSet | None = None
) -> int:
    """Corrects old closed sessions: meter values revised down a little, price recomputed."""
    s = world.sessions
    closed = np.flatnonzero((s.status == STATUS["closed"]) & (s.energy_wh > 0) & (s.update < start - 3600))
    if count <= 0 or len(closed) == 0:
        return 0
    chosen = rng.choice(closed, size=min(count, len(closed)), replace=False)
    factor = rng.uniform(0.95, 0.995, size=len(chosen))
    energy = s.column("energy_wh")
    energy[chosen] = np.floor(energy[chosen] * factor).astype(np.int64)
    s.column("planned_wh")[chosen] = energy[chosen]
    s.column("update")[chosen] = _stamp(rng, start, end, len(chosen))
    _reprice(world, np.sort(chosen))
    if changes is not None:
        changes.record_sessions(world, chosen.tolist(), "update")
    return len(chosen)


def _tariff_changes(world: World, rng: np.random.Generator, seconds: int, at: int, changes: ChangeSet) -> int:
    changed = 0
    for org in world.organizations:
        if rng.random() >= min(1.0, seconds / (45 * 86400)):
            continue
        candidates = [t for t in org.tariff_indices if world.tariffs[t].tariff_type != "direct_charging_cpo"]
        tariff = world.tariffs[candidates[int(rng.integers(len(candidates)))]]
        tax = 19 if org.country == "DE" else 20
        for pm_index in list(tariff.price_model_indices):
            old = world.price_models[pm_index]
            if old.valid_until is not None:
                continue
            energy_price = old.document["elements"][-1]["price_components"][0]["price"]
            world.builder.retire_price_model(old, at)
            world.builder.new_price_model(
                tariff, old.charging_type, round(energy_price * float(rng.uniform(1.02, 1.08)), 4),
                tax, at, order=len(tariff.price_model_indices),
            )  # fmt: skip
        tariff.document["update_date"] = timefmt.format_api(at)
        changes.tariffs.append(TariffChange(tariff.index, at))
        changed += 1
    if changed:
        world.tariff_version += 1
    return changed


def _station_changes(world: World, before: list[str], start: int, end: int, changes: ChangeSet) -> int:
    """Connectors whose status changed, grouped into their stations (an event is per station)."""
    latest: dict[int, int] = {}
    changed = 0
    for c, old in zip(world.connectors, before, strict=True):
        if c.status != old:
            changed += 1
            latest[c.station] = max(latest.get(c.station, start + 1), min(max(c.status_update, start + 1), end))
    changes.stations.extend(StationChange(index, at) for index, at in sorted(latest.items()))
    return changed


def advance(world: World, minutes: int, changes: ChangeSet | None = None) -> dict[str, Any]:
    """Moves the clock forward and returns what changed (counts; `changes` gets the records)."""
    if minutes <= 0:
        raise ValueError("minutes must be a positive integer")
    changes = ChangeSet() if changes is None else changes
    start, end = world.now, world.now + minutes * 60
    rng = _rng(world, "advance")
    changes.batch = world.advance_count
    rate = world.sizes.sessions / max(1, world.sizes.days * 86400) * 1.25
    new = _new_sessions(world, rng, int(rng.poisson(rate * minutes * 60)), start, end, changes)
    closed, progressed = _progress_open_sessions(world, rng, start, end, changes)
    late = late_corrections(world, rng, int(rng.poisson(minutes / 120)), start, end, changes)
    tariffs = _tariff_changes(world, rng, minutes * 60, end, changes)
    world.now = end
    before = [c.status for c in world.connectors]
    generate.refresh_connector_status(world)
    status_changes = _station_changes(world, before, start, end, changes)
    if status_changes:
        world.station_version += 1
    world.sessions.touch()
    summary = {
        "now": timefmt.format_api(world.now),
        "new_sessions": new,
        "closed_sessions": closed,
        "progressed_sessions": progressed,
        "late_updates": late,
        "connector_status_changes": status_changes,
        "tariff_changes": tariffs,
    }
    for key, value in summary.items():
        if isinstance(value, int):
            world.changes[key] = world.changes.get(key, 0) + value
    return summary


def shift(world: World, updates: int, inserts: int, changes: ChangeSet | None = None) -> dict[str, int]:
    """The page-shift fault: a minute passes mid-scan, with updates and inserts."""
    changes = ChangeSet() if changes is None else changes
    start, end = world.now, world.now + 60
    rng = _rng(world, "shift")
    changes.batch = world.advance_count
    late = late_corrections(world, rng, updates, start, end, changes)
    new = _new_sessions(world, rng, inserts, start, end, changes)
    world.now = end
    world.sessions.touch()
    return {"late_updates": late, "new_sessions": new}
