"""Stopping the page fetches of a consumer that went away (``| head``, an error on an earlier page, Ctrl-C).

``balcli.pagination`` runs each page fetch on a thread of its own with the stop event of its run of pages
(``running_until``); when the run ends it sets the event and waits for those threads. The transport asks
``stopped()`` before each attempt and waits with ``pause()``, which the event cuts short: a page still being
retried or waiting for its rate-limit slot ends at once instead of after its back-off. On any other thread
(the main one) ``pause`` is ``time.sleep`` and ``stopped()`` is False.

The transport also calls ``sending()`` as a request leaves and ``retrying()`` before it retries a failed attempt: a
fetch run with ``on_send``/``on_retry`` learns of them (pagination asks for a second page ahead of the first one's
answer only once the first has been on the wire a while and is not being retried).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
_local = threading.local()


def running_until(stop: threading.Event | None, fn: Callable[..., T], *args: Any,
                  on_retry: Callable[[], None] | None = None, on_send: Callable[[], None] | None = None) -> T:
    """``fn(*args)`` on this thread, stopped early (see ``stopped`` and ``pause``) once ``stop`` is set (``None``:
    as before), with ``on_send()`` called as each request leaves and ``on_retry()`` before each retry the
    transport makes (it may raise, to give up)."""
    previous = getattr(_local, "stop", None), getattr(_local, "on_retry", None), getattr(_local, "on_send", None)
    _local.stop, _local.on_retry, _local.on_send = stop if stop is not None else previous[0], on_retry, on_send
    try:
        return fn(*args)
    finally:
        _local.stop, _local.on_retry, _local.on_send = previous


def retrying() -> None:
    """The transport is about to retry a failed attempt on this thread (see ``running_until``)."""
    on_retry = getattr(_local, "on_retry", None)
    if on_retry is not None:
        on_retry()


def sending() -> None:
    """A request is leaving on this thread (see ``running_until``)."""
    on_send = getattr(_local, "on_send", None)
    if on_send is not None:
        on_send()


def stopped() -> bool:
    stop = getattr(_local, "stop", None)
    return stop is not None and stop.is_set()


def pause(seconds: float) -> None:
    """Sleep ``seconds``, or less: until this thread's page fetch is stopped."""
    stop = getattr(_local, "stop", None)
    if stop is None:
        time.sleep(seconds)  # looked up late: tests patch time.sleep
    else:
        stop.wait(seconds)
