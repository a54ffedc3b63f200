"""Reading fields out of API answers: a missing or malformed field is an error (exit 7) that names it."""

from __future__ import annotations

from typing import Any

from balcli.amounts import amount_text
from balcli.errors import ResponseError


def need(obj: Any, key: str, where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj or obj[key] is None:
        raise ResponseError(f"{where}: the answer has no '{key}' field",
                            "the API changed or a proxy altered the answer; run with -vv to see it")
    return obj[key]


def need_list(obj: Any, key: str, where: str) -> list:
    value = need(obj, key, where)
    if not isinstance(value, list):
        raise ResponseError(f"{where}: '{key}' is not a list", "run with -vv to see the answer")
    return value


def amount(obj: Any, key: str, where: str, *, optional: bool = False) -> str | None:
    """An amount exactly as sent (strings verbatim, JSON numbers as plain decimal text)."""
    if optional and (not isinstance(obj, dict) or obj.get(key) in (None, "")):
        return None
    value = need(obj, key, where)
    try:
        return amount_text(value)
    except ValueError:
        raise ResponseError(f"{where}: '{key}' is not a decimal amount ({value!r})",
                            "run with -vv to see the answer") from None


def text(obj: Any, key: str, where: str) -> str:
    value = need(obj, key, where)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ResponseError(f"{where}: '{key}' is not a string ({value!r})", "run with -vv to see the answer")
    return str(value)
