"""The client-side rate limiter: requests spaced just under an API's documented rate (README "Configuration")."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Spaces requests evenly at just under ``per_second`` (thread-safe, for concurrent page fetches).

    Even spacing at 96% of the documented rate keeps any rolling window under its limit, even with some
    scheduling jitter between the requests (about 40 ms a second at 5/s), while using over 95% of what the
    API allows. ``sent()`` re-anchors the spacing on the moment a request really leaves, so time spent between
    ``acquire()`` and the send (signing, a first connection) cannot squeeze two requests together.
    """

    HEADROOM = 0.96

    def __init__(self, per_second: float, *, clock: Callable[[], float] | None = None,
                 sleep: Callable[[float], None] | None = None) -> None:
        self.per_second = per_second
        self.interval = 1.0 / (per_second * self.HEADROOM)
        self._clock = clock or time.monotonic
        self._sleep = sleep or (lambda seconds: time.sleep(seconds))
        self._next = 0.0
        self._held = 0.0  # no request may leave before this moment (a 429's Retry-After)
        self._lock = threading.Lock()

    def acquire(self) -> float:
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval
        wait = start - now
        if wait > 0:
            self._sleep(wait)
        return wait

    def sent(self) -> None:
        with self._lock:
            self._next = max(self._next, self._clock() + self.interval)

    def hold(self, seconds: float) -> None:
        """Push every later request back (after a 429 with Retry-After, for instance), including those of
        workers that already passed ``acquire()``: they wait in ``wait_held()`` right before sending."""
        with self._lock:
            until = self._clock() + seconds
            self._next = max(self._next, until)
            self._held = max(self._held, until)

    def wait_held(self) -> float:
        """Wait out a hold that began after this worker's ``acquire()``; the seconds waited."""
        waited = 0.0
        for _ in range(3):  # a hold extended meanwhile (another 429) is waited out too, a bounded number of times
            with self._lock:
                wait = self._held - self._clock()
            if wait <= 0:
                break
            self._sleep(wait)
            waited += wait
        return waited
