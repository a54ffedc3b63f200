"""What CoinW's two APIs (spot and affiliate) share in their answers: HTTP 401/403 refusals and bans, the
``code`` field, and the 29001 rate-limit pause (docs/apis/coinw-spot.md)."""

from __future__ import annotations

from typing import Any

from balcli.errors import RateLimitError, ResponseError
from balcli.http import Answer, retry_after_seconds, snippet, until_text
from balcli.sources._envelope import IP_HINT, KEY_HINT, auth_error


def unauthorized(answer: Answer) -> None:
    """CoinW answers HTTP 401/403 (often HTML) for a refused key or IP (docs/apis/coinw-spot.md#errors) and, by its
    "precautions" page, while a key or IP is banned for too many errors: never retried like a 5xx."""
    if answer.status in (401, 403):
        raise auth_error(answer.api.label, f"HTTP {answer.status}", f"{KEY_HINT}; {IP_HINT}; after many failed "
                    "or too frequent requests CoinW also bans for a while: wait a few minutes before retrying",
                    answer.status, None)


def code_of(answer: Answer, body: Any) -> str:
    """The envelope's ``code`` as text; an answer without one is named as such (not as "code None")."""
    if not isinstance(body, dict):
        raise ResponseError(f"{answer.api.label} answer is not a JSON object", api_message=snippet(answer))
    if body.get("code") is None:
        raise ResponseError(f"{answer.api.label} answered without 'code'", "the answer is not a CoinW envelope; "
                            "check --base-url", api_message=snippet(answer))
    return str(body["code"])


RATE_LIMIT_PAUSE = 30.0  # docs/apis/README.md#retries: back off 30 s; CoinW turns repeated errors into bans


def rate_limited(label: str, code: str, msg: str | None) -> RateLimitError:
    return RateLimitError(f"{label} rate limit reached", "wait half a minute and run again; lower coinw "
                          "rate_limit in the config if another client shares this key", api_code=code,
                          api_message=msg, retry_after=RATE_LIMIT_PAUSE)


def too_many(answer: Answer) -> None:
    """HTTP 429 from CoinW: its Retry-After when it sends one, else the same 30 s pause as code 29001 (CoinW
    asks for at least that much back-off, and turns repeated errors into bans), not the generic 1-8 s."""
    if answer.status == 429:
        retry = retry_after_seconds(answer.headers)
        raise RateLimitError(f"{answer.api.label} rate limit reached (HTTP 429)",
                             f"wait{until_text(retry) or ' half a minute'} and run again; lower coinw rate_limit in "
                             "the config if another client shares this key",
                             retry_after=retry if retry else RATE_LIMIT_PAUSE)
