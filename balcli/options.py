"""Each option fact in one home: the default, range or allowed values of every setting that the command line,
the environment and the config file share. The Typer options, the env parsing, the YAML validation and the help
text all read them from here (plain data and two small checks: cheap to import).
"""

from __future__ import annotations

import math
import re
from typing import Any, NamedTuple

FORMATS = ("table", "json", "ndjson", "csv", "tsv", "prometheus")  # prometheus: summary and check only
MONITORING_COMMANDS = ("summary", "check")  # the commands that write -o prometheus


def formats_of(command: str | None) -> tuple[str, ...]:
    """The -o values ``command`` takes (its help and its errors list these; every command parses all of them)."""
    return FORMATS if command in MONITORING_COMMANDS else tuple(f for f in FORMATS if f != "prometheus")


_TZ_RE = re.compile(r"^(?:Z|UTC|[+-](?:[01]\d|2[0-3]):?[0-5]\d)$")


class Option(NamedTuple):  # not a dataclass: 10x cheaper to define at start-up
    """One setting: its kind (``url``, ``int``, ``number``, ``choice``, ``tz``), default and range."""

    name: str
    kind: str
    default: Any = None
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    unit: str = ""
    help: str = ""

    def rule(self) -> str:
        """What a valid value is, in words (for errors and help): ``a number from 0.1 to 600``."""
        if self.kind == "url":
            return "an http(s) URL with a host"
        if self.kind == "choice":
            return f"one of {', '.join(self.choices)}"
        if self.kind == "tz":
            return "a UTC offset such as +08:00, -05:00 or Z"
        what = "a whole number" if self.kind == "int" else "a number"
        return f"{what} from {self.low:g} to {self.high:g}"

    def check(self, value: Any) -> Any:
        """The value as the program uses it, or ValueError('must be …') saying what is wrong."""
        if self.kind == "url":
            from balcli.config import check_url

            if not isinstance(value, str):
                raise ValueError(f"must be {self.rule()}")
            try:
                return check_url(value)
            except ValueError as exc:
                raise ValueError(f"must be {self.rule()}; this one {exc}") from None
        if self.kind == "choice":
            if value not in self.choices:
                raise ValueError(f"must be {self.rule()}")
            return value
        if self.kind == "tz":
            if not isinstance(value, str) or not _TZ_RE.match(value):
                raise ValueError(f"must be {self.rule()}")
            return value
        ok_types = (int,) if self.kind == "int" else (int, float)
        if isinstance(value, bool) or not isinstance(value, ok_types):
            raise ValueError(f"must be {self.rule()}")
        assert self.low is not None and self.high is not None
        if not (math.isfinite(value) and self.low <= value <= self.high):  # NaN and infinities fail too
            raise ValueError(f"must be {self.rule()}")
        return value

    def parse(self, text: str) -> Any:
        """A value from the environment (text), checked like one from the config file."""
        if self.kind in ("int", "number"):
            try:
                number: Any = int(text) if self.kind == "int" else float(text)  # float-ok: seconds or a rate
            except ValueError:
                raise ValueError(f"must be {self.rule()}") from None
            return self.check(number)
        return self.check(text)


TIMEOUT = Option("timeout", "number", 10.0, 0.1, 600.0, unit="seconds", help="Per-request timeout")
MAX_RETRIES = Option("max_retries", "int", 4, 0, 20, help="Retries of a retryable failure")
FORMAT = Option("format", "choice", None, choices=FORMATS, help="Output format")
RATE_LIMIT = Option("rate_limit", "number", None, 0.01, 1000.0, unit="requests per second",
                    help="Requests per second (default: the API's documented limit)")
RECV_WINDOW = Option("recv_window", "int", 5000, 1, 60000, unit="milliseconds",
                     help="How long a signed request stays valid")
TIMEZONE = Option("timezone", "tz", "+08:00", help="Zone of the exchange's zone-less times")

# The settings of the config file's ``defaults:`` section, each also an environment variable BALCLI_<NAME>.
DEFAULTS = (TIMEOUT, MAX_RETRIES, FORMAT)


def base_url(default: str, name: str = "base_url") -> Option:
    return Option(name, "url", default, help="The API host")
