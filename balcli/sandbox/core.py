"""Plumbing shared by the sandbox's five API modules: request/reply records, limiters, JSON helpers.

Standard library only, and nothing from balcli outside ``balcli.sandbox`` (see the package docstring).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

API_NAMES = ("zoomex", "coinw_spot", "binance", "coinw_affiliate", "cryptofuse")


@dataclass
class LoggedRequest:
    """One request as the sandbox saw it, and what it answered (``sb.requests``)."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    status: int
    api: str
    time: float
    connection: int
    rate_limited: bool = False
    fault: str | None = None


@dataclass
class Request:
    """A parsed request handed to an API handler."""

    method: str
    path: str
    raw_query: str
    query: list[tuple[str, str]]
    headers: dict[str, str]  # keys lower-cased
    body: bytes
    now_ms: int  # the sandbox's (possibly shifted or frozen) clock
    api: str
    take_fault: Callable[[str], dict[str, Any] | None]

    def param(self, name: str) -> str | None:
        """First value of a query parameter, decoded; None when absent."""
        for key, value in self.query:
            if key == name:
                return value
        return None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Reply:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)
    rate_limited: bool = False
    drop: bool = False  # close the connection without answering
    content: Any = None  # the JSON object behind `body`, for post-processing faults


def json_reply(status: int, obj: Any, headers: list[tuple[str, str]] | None = None, *,
               rate_limited: bool = False) -> Reply:
    body = json_bytes(obj)
    hdrs = [("Content-Type", "application/json")] + list(headers or [])
    return Reply(status, body, hdrs, rate_limited=rate_limited, content=obj)


def json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), default=_json_default).encode()


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):  # never expected (amounts are strings), but never a float either
        return format(value, "f")
    raise TypeError(f"cannot serialise {type(value).__name__}")


def nginx_page(status: int) -> bytes:
    reason = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Not Allowed",
              500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Temporarily Unavailable",
              504: "Gateway Time-out"}.get(status, "Error")
    return (f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
            f"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
            "</body>\r\n</html>\r\n").encode()


def html_reply(status: int) -> Reply:
    return Reply(status, nginx_page(status), [("Content-Type", "text/html")])


def parse_int(text: str | None) -> int | None:
    """A strict decimal integer (optional leading minus), else None. '20.0' and '' are not integers."""
    if text is None:
        return None
    body = text.removeprefix("-")
    if not body or not body.isascii() or not body.isdigit():
        return None
    return int(text)


def fmt(amount: Decimal) -> str:
    """Plain-notation string of a Decimal (never exponent notation)."""
    return format(amount, "f")


class RollingLimiter:
    """``count`` requests per rolling ``window`` seconds, per key.

    A request is rejected when the number of requests accepted in the last ``window`` seconds (strictly after
    now - window) already equals ``count``. Rejected requests are not recorded. ``clock`` is the sandbox's
    limit clock (``Sandbox.limit_seconds``: monotonic unless a test injects its own), so a frozen or shifted
    server clock does not affect limits.
    """

    def __init__(self, count: int, window: float, clock: Callable[[], float] | None = None) -> None:
        self.count = count
        self.window = window
        self._clock = clock or (lambda: time.monotonic())
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float | None:
        """Record and return None when allowed; else return seconds until a slot frees up."""
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.count:
                return max(hits[0] + self.window - now, 0.0)
            hits.append(now)
            return None


def paging_faults(req: Request, page: list, total: int) -> tuple[list, int]:
    """The paging faults shared by the page-number and offset APIs: ``short_total`` empties the page,
    ``unreachable_total`` and ``total_changes`` inflate the reported total."""
    if req.take_fault("short_total") is not None:
        page = []
    opts = req.take_fault("unreachable_total")
    if opts is not None:
        total += int(opts.get("extra", 10))
    opts = req.take_fault("total_changes")
    if opts is not None:
        total += int(opts.get("delta", 1))
    return page, total


def retry_after_seconds(wait: float) -> str:
    """Retry-After header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(wait)))


def remove_path(obj: Any, dotted: str) -> bool:
    """Delete ``a.b.c`` from nested dicts; ``*`` walks every element of a list. True when something was removed."""
    parts = dotted.split(".")

    def walk(node: Any, rest: list[str]) -> bool:
        head, tail = rest[0], rest[1:]
        if head == "*" and isinstance(node, list):
            removed = False
            for item in node if tail else []:  # every element, no short-circuit
                removed = walk(item, tail) or removed
            return removed
        if isinstance(node, dict) and head in node:
            if not tail:
                del node[head]
                return True
            return walk(node[head], tail)
        if isinstance(node, list) and head.isdigit() and int(head) < len(node):
            if not tail:
                del node[int(head)]
                return True
            return walk(node[int(head)], tail)
        return False

    return walk(obj, parts)
