"""The client-side rate limiter: evenly spaced requests just under an API's documented rate (README
"Configuration"), shared by every balcli process that uses the same API key (``SharedSlots``), so that
back-to-back runs in a shell loop and parallel cron jobs are paced, not refused."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from balcli import cancel


class RateLimiter:
    """Spaces requests evenly at just under ``per_second`` (thread-safe, for concurrent page fetches).

    Even spacing at 96% of the documented rate keeps any rolling window under its limit, even with some
    scheduling jitter between the requests (about 40 ms a second at 5/s), while using over 95% of what the
    API allows. ``acquire()`` hands out slots in advance (a slot taken and not used delays the next caller by
    one spacing, no more); ``wait_turn()``, called right before the send, makes sure of the spacing from the
    latest send, whichever worker made it: a worker that wakes late for its slot (a busy CPU) and the next one, on
    time, cannot go out closer together than the spacing. ``sent()`` re-anchors the next slot on the moment a
    request really leaves. Nothing waits for a send that never happens: there is no turn to hand back.
    """

    HEADROOM = 0.96

    def __init__(self, per_second: float, *, clock: Callable[[], float] | None = None,
                 sleep: Callable[[float], None] | None = None, shared: SharedSlots | None = None,
                 bucket: str = "") -> None:
        self.per_second = per_second
        self.interval = 1.0 / (per_second * self.HEADROOM)
        self._clock = clock or time.monotonic
        self._sleep = sleep or (lambda seconds: cancel.pause(seconds))  # cut short for an abandoned page
        self._next = 0.0
        self._held = 0.0  # no request may leave before this moment (a 429's Retry-After)
        self._last: float | None = None  # when the latest request left (or was cleared to leave)
        self._lock = threading.Lock()
        self.shared = shared
        self.bucket = bucket

    def acquire(self) -> float:
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            if self.shared is not None:  # another process may have taken the next slots: wait for a free one
                start = now + self.shared.reserve(self.bucket, start - now, self.interval)
            self._next = start + self.interval
        wait = start - now
        if wait > 0:
            self._sleep(wait)
        return wait

    def sent(self) -> None:
        with self._lock:
            now = self._clock()
            self._next = max(self._next, now + self.interval)
            self._last = now if self._last is None else max(self._last, now)
            if self.shared is not None:
                self.shared.push(self.bucket, self.interval)

    def hold(self, seconds: float) -> None:
        """Push every later request back (after a 429 with Retry-After, for instance), in every process, including
        workers that already passed ``acquire()``: they wait in ``wait_turn()`` right before sending."""
        with self._lock:
            until = self._clock() + seconds
            self._next = max(self._next, until)
            self._held = max(self._held, until)
            if self.shared is not None:
                self.shared.push(self.bucket, seconds)

    def wait_turn(self) -> float:
        """Right before a send: wait out a hold that began after this worker's ``acquire()`` and the spacing from
        the latest send, then claim this send's moment (in the same lock hold as the check: two workers cannot
        both be cleared against the same latest send); the seconds waited."""
        waited, waited_for = 0.0, None
        for _ in range(8):  # another worker may claim the moment first, or a 429 extend the hold: bounded
            with self._lock:
                now = self._clock()
                spaced = now if self._last is None else self._last + self.interval
                moment = max(self._held, spaced)
                if moment <= now or moment == waited_for:  # (the latter: a clock that a sleep does not move)
                    self._last = now if self._last is None else max(self._last, now)
                    return waited
            self._sleep(moment - now)
            waited, waited_for = waited + moment - now, moment
            if cancel.stopped():  # an abandoned page: the caller ends it before sending
                return waited
        with self._lock:
            now = self._clock()
            self._last = now if self._last is None else max(self._last, now)
        return waited


class SharedSlots:
    """The next free send time of each bucket of one API key, kept for every process in a small JSON file in
    the user cache folder (``{bucket: wall-clock seconds}``, mode 0600), read-modify-written under
    ``fcntl.flock``.

    The lock dies with its process (the kernel releases it), and a lock that is not granted within
    ``LOCK_WAIT`` seconds is given up for that request: pacing then falls back to this process alone, never
    to a stall. A time further ahead than ``MAX_AHEAD`` (a clock that jumped, a damaged file) is ignored.
    ``note`` is told once when the file cannot be used (the ``-v`` log).
    """

    LOCK_WAIT = 2.0
    MAX_AHEAD = 120.0  # seconds; longer than any pause balcli itself asks for (Retry-After is capped at 60 s)

    def __init__(self, path: Path, *, wall: Callable[[], float] | None = None,
                 note: Callable[[str], None] | None = None) -> None:
        self.path = path
        self._wall = wall or (lambda: time.time())  # looked up late: tests move the clocks
        self._note = note
        self._noted = False

    def reserve(self, bucket: str, wait: float, interval: float) -> float:
        """Take the first slot at least ``wait`` seconds from now that no process holds; the seconds to it."""
        result = [wait]

        def update(state: dict[str, float], now: float) -> None:
            start = max(now + wait, state.get(bucket, 0.0))
            state[bucket] = start + interval
            result[0] = start - now

        self._update(update)
        return result[0]

    def push(self, bucket: str, seconds: float) -> None:
        """No process sends in ``bucket`` before ``seconds`` from now."""
        def update(state: dict[str, float], now: float) -> None:
            state[bucket] = max(state.get(bucket, 0.0), now + seconds)

        self._update(update)

    def _update(self, change: Callable[[dict[str, float], float], None]) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: per-process pacing only
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            self._fail(f"cannot open {self.path} ({exc.strerror})")
            return
        try:
            if not self._lock(fcntl, fd):
                self._fail(f"{self.path} stayed locked for {self.LOCK_WAIT:g} s")
                return
            with os.fdopen(os.dup(fd), "r+", encoding="utf-8") as f:
                now = self._wall()
                state = self._read(f.read(), now)
                change(state, now)
                f.seek(0)
                f.truncate()
                f.write(json.dumps({k: v for k, v in state.items() if v > now}))
        except OSError as exc:
            self._fail(f"cannot update {self.path} ({exc.strerror})")
        finally:
            os.close(fd)  # releases the lock

    def _lock(self, fcntl: object, fd: int) -> bool:
        deadline = time.monotonic() + self.LOCK_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # type: ignore[attr-defined]
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.005)

    def _read(self, text: str, now: float) -> dict[str, float]:
        try:
            state = json.loads(text) if text else {}
        except ValueError:
            return {}
        if not isinstance(state, dict):
            return {}
        return {k: v for k, v in state.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
                and now < v <= now + self.MAX_AHEAD}

    def _fail(self, why: str) -> None:
        if self._note is not None and not self._noted:
            self._noted = True
            self._note(f"rate limits are paced in this process only: {why}")


def shared_slots(identity: str, *, note: Callable[[str], None] | None = None) -> SharedSlots | None:
    """The shared state of one API key (``identity``: a hash, never the key) in the user cache folder, or None
    (then a ``note``) when the folder cannot be used."""
    from balcli import cache

    try:
        folder = cache.private_dir()
    except OSError as exc:
        if note is not None:
            note(f"rate limits are paced in this process only: cannot use the cache folder "
                 f"{cache.user_cache_dir()} ({exc.strerror or exc})")
        return None
    return SharedSlots(folder / f"limits-{identity}.json", note=note)
