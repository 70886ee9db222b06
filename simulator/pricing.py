"""The simulator's billing engine: session price from the API's own `PriceModel` document.

Every session's `totalPrice` and its parts are computed here from the price model exactly as
the API serves it, so an analyst can recompute revenue from the tariffs to the cent. The
rules (OCPI 2.2.1 style, with the simplifications the API's data allows) are written out in
`simulator/README.md` under "Pricing rules"; in short:

* `free` price models cost nothing.
* Per dimension (ENERGY, TIME, PARKING_TIME) the first element in list order whose
  restrictions (an array: all entries must hold) match the session, and that has a component
  of that dimension, prices it.
  Restrictions are evaluated once, at session start, in the station's local time (the API has
  no charging periods), except `min_duration`/`max_duration` on TIME and PARKING_TIME, which
  bound the billed time window: a blocking fee after a grace period is a PARKING_TIME
  component with `min_duration` = the grace period.
* ENERGY is priced per kWh, TIME and PARKING_TIME per minute, on the session totals, once:
  the quantity is rounded to the component's `step_size` (Wh or seconds) by the price
  model's `rounding_mode_energy` / `rounding_mode_time` (UP, DOWN, EXACT = not rounded).
* `connection_fee` is a start fee, charged when the session lasted at least
  `tolerance_duration` seconds.
* Each part (start fee, energy, time) is rounded half-up to the cent; the total net is their
  sum; VAT (`tax_rate` percent) is rounded half-up on each part and, separately, on the total.

All money is integer cents; component prices are integer 1/10,000 of the currency, so no
floating-point rounding can creep in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

PRICE_SCALE = 10_000  # component prices are held in 1/10,000 of the currency unit
DIMENSIONS = ("ENERGY", "TIME", "PARKING_TIME")
_DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")


def to_ticks(amount: float) -> int:
    """An amount in currency units as an exact integer of 1/10,000; refuses finer amounts."""
    ticks = round(amount * PRICE_SCALE)
    if abs(ticks - amount * PRICE_SCALE) > 1e-6:
        raise ValueError(f"price {amount} has more than 4 decimals")
    return ticks


def _round_half_up(numerator: IntArray, denominator: int) -> IntArray:
    result: IntArray = (numerator + denominator // 2) // denominator
    return result


@dataclass(frozen=True)
class SessionQuantities:
    """What a price depends on, one array entry per session."""

    energy_wh: IntArray
    duration_s: IntArray
    local_minute_of_day: IntArray  # at session start, station local time
    local_weekday: IntArray  # 0 = Monday
    local_day: IntArray  # days since 1970-01-01 in local time

    def __len__(self) -> int:
        return len(self.energy_wh)


@dataclass(frozen=True)
class PriceBreakdown:
    """Integer cents per session."""

    start_fee_net: IntArray
    energy_net: IntArray
    time_net: IntArray
    total_net: IntArray
    start_fee_tax: IntArray
    energy_tax: IntArray
    time_tax: IntArray
    total_tax: IntArray
    tax_rate_percent: int
    currency: str


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _day_number(iso_date: str) -> int:
    return int(np.datetime64(iso_date, "D").astype(np.int64))


def _restriction_mask(restrictions: dict[str, Any], q: SessionQuantities, *, time_dimension: bool) -> BoolArray:
    """Which sessions an element's restrictions admit (evaluated at session start)."""
    mask: BoolArray = np.ones(len(q), dtype=np.bool_)
    if "start_time" in restrictions or "end_time" in restrictions:
        start = _minutes(restrictions.get("start_time", "00:00"))
        end = _minutes(restrictions.get("end_time", "00:00")) or 24 * 60
        minute = q.local_minute_of_day
        if start < end:
            mask &= (minute >= start) & (minute < end)
        else:  # wraps past midnight, e.g. 22:00-06:00
            mask &= (minute >= start) | (minute < end)
    if "day_of_week" in restrictions:
        days = [_DAYS.index(day) for day in restrictions["day_of_week"]]
        mask &= np.isin(q.local_weekday, days)
    if "start_date" in restrictions:
        mask &= q.local_day >= _day_number(restrictions["start_date"])
    if "end_date" in restrictions:
        mask &= q.local_day < _day_number(restrictions["end_date"])
    if "min_kwh" in restrictions:
        mask &= q.energy_wh >= round(restrictions["min_kwh"] * 1000)
    if "max_kwh" in restrictions:
        mask &= q.energy_wh < round(restrictions["max_kwh"] * 1000)
    if not time_dimension:
        if "min_duration" in restrictions:
            mask &= q.duration_s >= restrictions["min_duration"]
        if "max_duration" in restrictions:
            mask &= q.duration_s < restrictions["max_duration"]
    for unsupported in ("min_price", "max_price"):
        if unsupported in restrictions:
            raise ValueError(f"restriction {unsupported} is not supported by the simulator")
    return mask


def _combined(restriction_list: list[dict[str, Any]]) -> dict[str, Any]:
    """One restriction set from the array: fields of different entries are ANDed; the same
    field twice would be ambiguous, so it is refused."""
    combined: dict[str, Any] = {}
    for entry in restriction_list:
        for key, value in entry.items():
            if key in combined:
                raise ValueError(f"restriction {key} appears in more than one entry")
            combined[key] = value
    return combined


def _round_quantity(quantity: IntArray, step: int, mode: str) -> IntArray:
    if mode == "EXACT" or step <= 1:
        return quantity
    if mode == "UP":
        result: IntArray = -(-quantity // step) * step
        return result
    if mode == "DOWN":
        down: IntArray = (quantity // step) * step
        return down
    raise ValueError(f"unknown rounding mode {mode}")


def price_sessions(price_model: dict[str, Any], q: SessionQuantities) -> PriceBreakdown:
    """Prices every session in `q` with one price model (vectorised over sessions)."""
    n = len(q)
    zeros: IntArray = np.zeros(n, dtype=np.int64)
    rate = round(float(price_model.get("tax_rate", 0)))
    currency = str(price_model.get("currency", "EUR"))
    if price_model.get("free"):
        return PriceBreakdown(zeros, zeros, zeros, zeros, zeros, zeros, zeros, zeros, rate, currency)

    # raw amounts in 1/10,000 currency units times the quantity's unit
    energy_raw = zeros.copy()  # (Wh x ticks per kWh) = 1e-7 currency
    time_raw = zeros.copy()  # (s x ticks per minute) = 1/600,000 currency
    priced: dict[str, BoolArray] = {d: np.zeros(n, dtype=np.bool_) for d in DIMENSIONS}
    for element in price_model.get("elements", []):
        # The reference types `restrictions` as an array of PriceModelRestriction: every
        # entry must hold (they are combined like OCPI's single restrictions object).
        restriction_list: list[dict[str, Any]] = element.get("restrictions") or []
        restrictions = _combined(restriction_list)
        for component in element.get("price_components", []):
            dimension = component["type"]
            time_dimension = dimension != "ENERGY"
            eligible = _restriction_mask(restrictions, q, time_dimension=time_dimension)
            eligible &= ~priced[dimension]
            priced[dimension] |= eligible
            ticks = to_ticks(float(component["price"]))
            step = int(component.get("step_size") or 1)
            if dimension == "ENERGY":
                qty = _round_quantity(q.energy_wh, step, price_model.get("rounding_mode_energy", "EXACT"))
                energy_raw = np.where(eligible, qty * ticks, energy_raw)
            else:
                lower = int(restrictions.get("min_duration", 0))
                upper = int(restrictions.get("max_duration", 2**62))
                window = np.clip(q.duration_s, lower, upper) - lower
                qty = _round_quantity(window, step, price_model.get("rounding_mode_time", "EXACT"))
                time_raw = time_raw + np.where(eligible, qty * ticks, 0)

    fee_cents = to_ticks(float(price_model.get("connection_fee", 0))) // 100
    tolerance = int(float(price_model.get("tolerance_duration", 0)))
    start_fee_net: IntArray = np.where(q.duration_s >= tolerance, fee_cents, 0).astype(np.int64)
    energy_net = _round_half_up(energy_raw, 100_000)  # 1e-7 -> cents
    time_net = _round_half_up(time_raw, 6_000)  # ticks per minute x seconds -> cents
    total_net = start_fee_net + energy_net + time_net

    def tax(net: IntArray) -> IntArray:
        return _round_half_up(net * rate, 100)

    return PriceBreakdown(
        start_fee_net=start_fee_net,
        energy_net=energy_net,
        time_net=time_net,
        total_net=total_net,
        start_fee_tax=tax(start_fee_net),
        energy_tax=tax(energy_net),
        time_tax=tax(time_net),
        total_tax=tax(total_net),
        tax_rate_percent=rate,
        currency=currency,
    )
