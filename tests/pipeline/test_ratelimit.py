"""The shared token bucket: a cap when set, none at 0, and a pause that holds every thread."""

from __future__ import annotations

import threading
import time

import pytest

from sources.wirelane.ratelimit import TokenBucket


def test_zero_means_no_client_side_limit() -> None:
    bucket = TokenBucket(0)
    started = time.monotonic()
    for _ in range(10_000):
        bucket.acquire()
    assert time.monotonic() - started < 5  # 10,000 at the default 50/s would take 200 s


def test_a_rate_spaces_requests_out() -> None:
    bucket = TokenBucket(20, burst=1)
    started = time.monotonic()
    for _ in range(6):
        bucket.acquire()
    assert time.monotonic() - started >= 5 / 20  # the first is free, then one per 1/20 s


@pytest.mark.parametrize("rate", [0, 1000])
def test_a_pause_holds_every_thread_then_resumes_at_the_rate(rate: float) -> None:
    bucket = TokenBucket(rate)
    bucket.pause(0.4)
    released: list[float] = []
    started = time.monotonic()
    threads = [threading.Thread(target=lambda: (bucket.acquire(), released.append(time.monotonic()))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(released) == 4 and min(released) - started >= 0.4


def test_a_negative_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="or 0 for no client-side limit"):
        TokenBucket(-1)
