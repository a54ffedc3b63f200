"""WHEN values of --start/--end (README "Commands"): an ISO date or datetime (UTC unless an offset is given) or a
relative age such as ``7d``, ``36h``, ``90m``, ``2w``. A date alone is the start of that day for --start and
its last millisecond for --end (inclusive)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from balcli.errors import UsageError

_AGE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_OFFSET = re.compile(r"^(?:Z|UTC|([+-])([01]\d|2[0-3]):?([0-5]\d))$")

EXAMPLES = "e.g. 2025-01-31, 2025-01-31T08:00:00+08:00, 2025-01-31 08:00Z, 7d or 36h"


def parse_when(text: str, *, option: str, end: bool, now: datetime) -> datetime:
    """An aware UTC datetime; ``UsageError`` naming ``option`` when the text is not a WHEN, or names a moment
    outside what a datetime can hold (``999999999d``, or ``9999-12-31`` as an end: OverflowError)."""
    value = text.strip()
    try:
        return _parse(value, end=end, now=now)
    except ValueError:
        raise UsageError(f"{option} {text!r} is not a date, a datetime or an age",
                         f"{option} takes an ISO date/datetime or an age ({EXAMPLES})") from None
    except OverflowError:
        raise UsageError(f"{option} {text!r} is too far from today",
                         f"give a date between years 1 and 9999, or a shorter age ({EXAMPLES})") from None


def _parse(value: str, *, end: bool, now: datetime) -> datetime:
    age = _AGE.match(value.lower())
    if age:
        return now - timedelta(**{_UNITS[age.group(2)]: int(age.group(1))})
    if value.lower() == "now":
        return now
    if _DATE.match(value):
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=timezone.utc)
        return day + timedelta(days=1, milliseconds=-1) if end else day
    parsed = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def parse_offset(text: str, *, option: str) -> timezone:
    """A fixed UTC offset such as ``+08:00``, ``-0500`` or ``Z``."""
    m = _OFFSET.match(text.strip())
    if not m:
        raise UsageError(f"{option} {text!r} is not a UTC offset", f"{option} takes e.g. +08:00, -05:00 or Z")
    if not m.group(1):
        return timezone.utc
    delta = timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
    return timezone(-delta if m.group(1) == "-" else delta)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def to_ms(when: datetime) -> int:
    """Epoch milliseconds, exactly (integer arithmetic, no float rounding)."""
    return (when - _EPOCH) // timedelta(milliseconds=1)


def from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def iso_utc(ms: int) -> str:
    """Epoch milliseconds as ISO 8601 UTC, ``2019-12-13T23:59:59Z`` (milliseconds only when non-zero)."""
    text = from_ms(ms).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{ms % 1000:03d}Z" if ms % 1000 else f"{text}Z"
