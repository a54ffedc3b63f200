"""What every source's ``summary_rows`` shares: exact sums per scope and coin, as rows of the ``summary`` view.

A source's ``summary_rows(link, scopes, *, warn, on_page)`` (named by its registry entry's ``summary``) yields
pages of rows ``scope, coin, amount, count, as_of``: one row per scope and coin, ``amount`` the exact sum
(``Decimal`` in a wide context, written in plain notation) of ``count`` source rows, ``as_of`` the ISO UTC time
the figure is valid for (a snapshot's update time; the moment the answer arrived for live balances). The
``summary`` command adds ``source`` and ``holder`` from the registry, the one place that says whose money it is.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal

from balcli.amounts import exact_sum, format_decimal

OnPage = Callable[[int, int, "int | None"], None]  # pages so far, items so far, reported total


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Sums:
    """Exact per-(scope, coin) sums of one source. Coins are compared upper-cased (``usdt`` is ``USDT``)."""

    def __init__(self) -> None:
        self._sums: dict[tuple[str, str], Decimal] = {}
        self._counts: dict[tuple[str, str], int] = {}
        self._as_of: dict[tuple[str, str], str | None] = {}

    def add(self, scope: str, coin: str, amount: str | None, as_of: str | None = None) -> None:
        """One source row; an empty amount (the API sent none) counts as a row of 0."""
        key = (scope, coin.strip().upper())
        self._sums[key] = exact_sum((self._sums.get(key, 0), amount or 0))
        self._counts[key] = self._counts.get(key, 0) + 1
        self._as_of[key] = as_of

    def rows(self, as_of: str | None = None) -> list[dict]:
        """The summary rows, sorted by scope then coin; ``as_of`` fills the rows that carry no time."""
        when = as_of or now_iso()
        return [{"scope": scope, "coin": coin, "amount": format_decimal(total), "count": self._counts[(scope, coin)],
                 "as_of": self._as_of[(scope, coin)] or when}
                for (scope, coin), total in sorted(self._sums.items())]
