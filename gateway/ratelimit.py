"""Per-key rate limits: one token bucket per API key.

A bucket refills at `calls_per_minute / 60` tokens per second and holds at most
`max(1, calls_per_minute / 6)` tokens, so a key may burst ten seconds' worth of calls and
then settles to its rate. Each call (a whole stream included) takes one token.

All buckets live on the gateway's event loop thread, so no locking is needed.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """Tokens refilled continuously at `per_minute / 60` per second, capped at the burst."""

    def __init__(self, per_minute: float, now: float) -> None:
        if not per_minute > 0:
            raise ValueError(f"calls per minute must be positive, got {per_minute}")
        self.per_minute = per_minute
        self.rate_per_s = per_minute / 60.0
        self.capacity = max(1.0, per_minute / 6.0)
        self._tokens = self.capacity
        self._updated = now

    def take(self, now: float) -> float:
        """Take one token: 0.0 if granted, else the seconds until one will be available."""
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate_per_s)
        self._updated = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate_per_s


class RateLimiter:
    """A bucket per key id, created on the key's first call."""

    def __init__(
        self, default_per_minute: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.default_per_minute = default_per_minute
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def acquire(self, key_id: str, per_minute: float | None = None) -> float:
        """One call for `key_id`: 0.0 if allowed, else the seconds to wait before retrying.

        `per_minute` is the key's own limit; None means the default.
        """
        limit = self.default_per_minute if per_minute is None else per_minute
        now = self._clock()
        bucket = self._buckets.get(key_id)
        if bucket is None or bucket.per_minute != limit:
            bucket = self._buckets[key_id] = TokenBucket(limit, now)
        return bucket.take(now)
