"""A token bucket shared by every request of a client, across threads.

Retries react to 429s; this keeps the client from causing them. Written here rather than
taken from a library because it is a dozen lines and must block (not raise) under a lock.
When the API answers `Retry-After`, `pause` holds every thread of the client, not only the one
that was told: a rate limit is the API's, so the whole client waits, rather than the other
workers hammering it through the pause.
"""

from __future__ import annotations

import threading
import time


class TokenBucket:
    def __init__(self, rate_per_s: float, burst: float | None = None) -> None:
        if rate_per_s < 0:
            raise ValueError("requests_per_second must be positive, or 0 for no client-side limit")
        self.rate = rate_per_s  # 0: no limit of ours; the concurrency and the API's Retry-After govern
        self.capacity = burst if burst is not None else max(1.0, rate_per_s)
        self._tokens = self.capacity
        self._updated = time.monotonic()
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def pause(self, seconds: float) -> None:
        """No request leaves for `seconds` from now (a later pause extends, an earlier one doesn't shorten)."""
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)
            # and then the steady rate, not a burst of what would have been saved up meanwhile
            self._tokens, self._updated = 0.0, self._paused_until

    def acquire(self) -> None:
        """Blocks until a request may be sent."""
        while True:
            with self._lock:
                now = time.monotonic()
                if now < self._paused_until:
                    wait = self._paused_until - now
                elif not self.rate:
                    return
                else:
                    self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
                    self._updated = now
                    if self._tokens >= 1:
                        self._tokens -= 1
                        return
                    wait = (1 - self._tokens) / self.rate
            time.sleep(wait)
