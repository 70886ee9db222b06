"""The billing engine against hand-computed examples of the documented pricing rules."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from simulator import pricing


def quantities(
    energy_wh: int, duration_s: int, minute_of_day: int = 12 * 60, weekday: int = 2
) -> pricing.SessionQuantities:
    def one(value: int) -> Any:
        return np.asarray([value], dtype=np.int64)

    return pricing.SessionQuantities(one(energy_wh), one(duration_s), one(minute_of_day), one(weekday), one(20_000))


def model(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "currency": "EUR",
        "free": False,
        "tax_rate": 19.0,
        "connection_fee": 0.0,
        "tolerance_duration": 0,
        "rounding_mode_energy": "EXACT",
        "rounding_mode_time": "EXACT",
        "elements": [{"price_components": [{"type": "ENERGY", "price": 0.4202, "step_size": 1}]}],
    }
    return base | overrides


def cents(breakdown: pricing.PriceBreakdown) -> dict[str, int]:
    return {
        name: int(getattr(breakdown, name)[0])
        for name in ("start_fee_net", "energy_net", "time_net", "total_net", "total_tax")
    }


def test_energy_only_exact() -> None:
    # 17.460 kWh x 0.4202 = 7.336692 -> 7.34 net; VAT 19 % of 7.34 = 1.3946 -> 1.39
    result = cents(pricing.price_sessions(model(), quantities(17_460, 3600)))
    assert result == {"start_fee_net": 0, "energy_net": 734, "time_net": 0, "total_net": 734, "total_tax": 139}


def test_energy_rounded_up_to_step() -> None:
    # 17,460 Wh rounded UP to 100 Wh steps = 17.5 kWh x 0.4202 = 7.3535 -> 7.35
    elements = [{"price_components": [{"type": "ENERGY", "price": 0.4202, "step_size": 100}]}]
    result = cents(
        pricing.price_sessions(model(elements=elements, rounding_mode_energy="UP"), quantities(17_460, 3600))
    )
    assert result["energy_net"] == 735


def test_energy_rounded_down_to_step() -> None:
    elements = [{"price_components": [{"type": "ENERGY", "price": 0.5, "step_size": 1000}]}]
    result = cents(
        pricing.price_sessions(model(elements=elements, rounding_mode_energy="DOWN"), quantities(17_999, 60))
    )
    assert result["energy_net"] == 850  # 17 kWh x 0.50


def test_blocking_fee_after_grace_period_with_cap() -> None:
    # plugged 5 h 0 min 30 s; blocking fee from 4 h, capped at 6.5 h; 0.084/min, minutes rounded up:
    # 3,630 s beyond the grace -> 61 min x 0.084 = 5.124 -> 5.12
    elements = [
        {
            "price_components": [{"type": "PARKING_TIME", "price": 0.084, "step_size": 60}],
            "restrictions": [{"min_duration": 14_400, "max_duration": 23_400}],
        },
        {"price_components": [{"type": "ENERGY", "price": 0.4202, "step_size": 1}]},
    ]
    result = cents(
        pricing.price_sessions(model(elements=elements, rounding_mode_time="UP"), quantities(10_000, 18_030))
    )
    assert result["time_net"] == 512
    assert result["energy_net"] == 420  # 10 kWh x 0.4202 = 4.202
    capped = cents(
        pricing.price_sessions(model(elements=elements, rounding_mode_time="UP"), quantities(10_000, 40_000))
    )
    assert capped["time_net"] == 1260  # 150 min x 0.084 = 12.60


def test_time_of_day_restriction_wraps_midnight() -> None:
    elements = [
        {
            "price_components": [{"type": "ENERGY", "price": 0.3, "step_size": 1}],
            "restrictions": [{"start_time": "22:00", "end_time": "06:00"}],
        },
        {"price_components": [{"type": "ENERGY", "price": 0.5, "step_size": 1}]},
    ]
    priced = model(elements=elements)
    assert cents(pricing.price_sessions(priced, quantities(10_000, 60, minute_of_day=23 * 60)))["energy_net"] == 300
    assert cents(pricing.price_sessions(priced, quantities(10_000, 60, minute_of_day=5 * 60 + 59)))["energy_net"] == 300
    assert cents(pricing.price_sessions(priced, quantities(10_000, 60, minute_of_day=6 * 60)))["energy_net"] == 500


def test_day_of_week_restriction() -> None:
    elements = [
        {
            "price_components": [{"type": "ENERGY", "price": 0.3, "step_size": 1}],
            "restrictions": [{"day_of_week": ["SUNDAY"]}],
        },
        {"price_components": [{"type": "ENERGY", "price": 0.5, "step_size": 1}]},
    ]
    priced = model(elements=elements)
    assert cents(pricing.price_sessions(priced, quantities(10_000, 60, weekday=6)))["energy_net"] == 300
    assert cents(pricing.price_sessions(priced, quantities(10_000, 60, weekday=5)))["energy_net"] == 500


def test_connection_fee_needs_the_tolerance_duration() -> None:
    priced = model(connection_fee=0.84, tolerance_duration=120)
    assert cents(pricing.price_sessions(priced, quantities(1_000, 119)))["start_fee_net"] == 0
    charged = cents(pricing.price_sessions(priced, quantities(1_000, 120)))
    assert charged["start_fee_net"] == 84
    assert charged["total_net"] == 84 + 42  # 1 kWh x 0.4202 = 0.4202 -> 0.42


def test_vat_on_the_total_is_rounded_once() -> None:
    # parts 0.84 + 0.42: VAT on parts would be 0.16 + 0.08 = 0.24, on the total 1.26 x 19 % = 0.2394 -> 0.24
    breakdown = pricing.price_sessions(model(connection_fee=0.84), quantities(1_000, 300))
    assert int(breakdown.total_tax[0]) == 24
    assert int(breakdown.start_fee_tax[0]) == 16 and int(breakdown.energy_tax[0]) == 8


def test_free_price_model_costs_nothing() -> None:
    result = cents(pricing.price_sessions(model(free=True, connection_fee=5.0), quantities(50_000, 7200)))
    assert set(result.values()) == {0}


def test_unsupported_restriction_is_refused() -> None:
    elements = [
        {"price_components": [{"type": "ENERGY", "price": 0.5, "step_size": 1}], "restrictions": [{"min_price": 1}]}
    ]
    with pytest.raises(ValueError, match="min_price"):
        pricing.price_sessions(model(elements=elements), quantities(1_000, 60))


def test_prices_with_more_than_four_decimals_are_refused() -> None:
    with pytest.raises(ValueError, match="4 decimals"):
        pricing.to_ticks(0.123456)


def test_restrictions_are_an_array_whose_entries_all_hold() -> None:
    elements = [
        {
            "price_components": [{"type": "ENERGY", "price": 0.3, "step_size": 1}],
            "restrictions": [{"day_of_week": ["SUNDAY"]}, {"start_time": "22:00", "end_time": "06:00"}],
        },
        {"price_components": [{"type": "ENERGY", "price": 0.5, "step_size": 1}]},
    ]
    priced = model(elements=elements)
    assert (
        cents(pricing.price_sessions(priced, quantities(10_000, 60, minute_of_day=23 * 60, weekday=6)))["energy_net"]
        == 300
    )
    assert (
        cents(pricing.price_sessions(priced, quantities(10_000, 60, minute_of_day=12 * 60, weekday=6)))["energy_net"]
        == 500
    )
    assert (
        cents(pricing.price_sessions(priced, quantities(10_000, 60, minute_of_day=23 * 60, weekday=5)))["energy_net"]
        == 500
    )
    twice = [
        {
            "price_components": [{"type": "ENERGY", "price": 0.3, "step_size": 1}],
            "restrictions": [{"min_kwh": 1}, {"min_kwh": 2}],
        }
    ]
    with pytest.raises(ValueError, match="more than one entry"):
        pricing.price_sessions(model(elements=twice), quantities(10_000, 60))
