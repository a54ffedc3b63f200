"""Exit codes (README "Exit codes") and the small typed error hierarchy every layer raises.

Errors are turned into exit codes in exactly one place: ``balcli.cli.main``.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1
    USAGE = 2
    CONFIG = 3
    AUTH = 4
    RATE_LIMITED = 5
    NETWORK = 6
    BAD_RESPONSE = 7
    BREACH = 8  # balcli check: every rule evaluated, at least one breached (README "Exit codes")
    INTERRUPTED = 130


class BalcliError(Exception):
    """An expected failure: one short message, an optional API code/message and a hint."""

    exit_code: ExitCode = ExitCode.INTERNAL
    default_hint: str | None = None

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        api_code: object = None,
        api_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint
        self.api_code = api_code
        self.api_message = api_message

    def __str__(self) -> str:
        if self.api_code is None and not self.api_message:
            return self.message
        detail = " ".join(
            part for part in (
                f"code {self.api_code}" if self.api_code is not None else "",
                repr(self.api_message) if self.api_message else "",
            ) if part
        )
        return f"{self.message} ({detail})"


class UsageError(BalcliError):
    exit_code = ExitCode.USAGE
    default_hint = "see --help for the valid options and values"


class ConfigError(BalcliError):
    exit_code = ExitCode.CONFIG


class AuthError(BalcliError):
    """The API rejected the credentials: bad key, bad signature, permission, IP allow-list."""

    exit_code = ExitCode.AUTH


class RateLimitError(BalcliError):
    """Rate limited (retryable) or banned (not retryable); ``until`` is when the ban lifts, if known."""

    exit_code = ExitCode.RATE_LIMITED

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        retry_after: float | None = None,
        banned: bool = False,
        until: float | None = None,
        api_code: object = None,
        api_message: str | None = None,
    ) -> None:
        super().__init__(message, hint, api_code=api_code, api_message=api_message)
        self.retry_after = retry_after
        self.banned = banned
        self.until = until  # epoch seconds


class NetworkError(BalcliError):
    """Connection failure, timeout, or the server failing (5xx, HTML error page)."""

    exit_code = ExitCode.NETWORK
    default_hint = "check the network and the API's status; balcli already retried with backoff"

    def __init__(self, message: str, hint: str | None = None, *, retry_after: float | None = None,
                 api_code: object = None, api_message: str | None = None) -> None:
        super().__init__(message, hint, api_code=api_code, api_message=api_message)
        self.retry_after = retry_after


class ResponseError(BalcliError):
    """The API answered but the answer is unusable (unknown code, bad JSON, missing field, pagination fault)."""

    exit_code = ExitCode.BAD_RESPONSE


class ClockSkewError(ResponseError):
    """The API rejected the request timestamp; the HTTP layer re-syncs once before giving up."""

    default_hint = "sync the system clock (e.g. `timedatectl set-ntp true`); balcli already re-synced once"


class StdoutClosed(Exception):
    """The reader of stdout went away (``| head``): not a failure of balcli; the run ends quietly."""


class Interrupted(BalcliError):
    exit_code = ExitCode.INTERRUPTED
