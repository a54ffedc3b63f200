"""``balcli check`` rules (README "Commands"): parsed before any request, evaluated exactly over the summary's rows.

::

    RULE     := SELECTOR OP AMOUNT          spot:USDT>=500   broker:USDT<5000000   own:USDT>=100000
    SELECTOR := SCOPE ':' COIN | HOLDER ':' COIN
    OP       := >= | > | <= | < | == | !=

A scope is one a source reports (``balcli.exchanges``: ``broker``, ``spot``, ``invitees``, ``snapshot.spot``,
``snapshot.margin``, ``snapshot.futures``, ``oauth.account``, ``oauth.sub_accounts``); a holder (``own``,
``customers``) means the ``summary --by coin`` figure: every configured source of that holder. Amounts are plain
decimals (no exponent, no thousands separator) compared as ``Decimal``; a coin with no row counts as 0.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import NamedTuple

from balcli.errors import UsageError

HOLDERS = ("own", "customers")
OPS: dict[str, Callable[[Decimal, Decimal], bool]] = {
    ">=": operator.ge, "<=": operator.le, "==": operator.eq, "!=": operator.ne, ">": operator.gt, "<": operator.lt}
_RULE = re.compile(r"^\s*(?P<key>[A-Za-z][A-Za-z_.]*)\s*:\s*(?P<coin>[A-Za-z0-9]+)\s*"
                   r"(?P<op>>=|<=|==|!=|>|<)\s*(?P<amount>[+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*$")
EXAMPLES = "e.g. 'spot:USDT>=500', 'broker:USDT<5000000', 'own:USDT>=100000'"


class Rule(NamedTuple):
    name: str  # its config name, or its text when it comes from the command line
    text: str  # as written, blanks removed: spot:USDT>=500
    key: str  # a scope (spot, snapshot.futures) or a holder (own, customers)
    coin: str  # upper-cased
    op: str
    amount: Decimal
    by_holder: bool

    def selector(self) -> str:
        return f"{self.key}:{self.coin}"

    def value(self, rows: Iterable[dict]) -> Decimal:
        """The exact figure the rule compares: the sum of the summary rows it selects (0 when none)."""
        from balcli.amounts import exact_sum

        field = "holder" if self.by_holder else "scope"
        return exact_sum(r["amount"] for r in rows if r[field] == self.key and r["coin"].upper() == self.coin)

    def holds(self, value: Decimal) -> bool:
        return OPS[self.op](value, self.amount)


def parse(text: str, name: str | None, scopes: Iterable[str]) -> Rule:
    """A rule, or a usage error (exit 2) naming it and saying what is wrong."""
    known = tuple(scopes)
    label = f"rule {name!r} ({text!r})" if name and name != text else f"rule {text!r}"
    m = _RULE.match(text)
    if m is None:
        why = "is not SELECTOR OP AMOUNT"
        if not any(op in text for op in OPS):
            why = "has no comparison (>=, >, <=, <, == or !=)"
        elif ":" not in text:
            why = "has no SCOPE:COIN or HOLDER:COIN selector"
        elif re.search(r"\d[eE][+-]?\d|,|_", text.rpartition(":")[2]):
            why = "has an amount that is not a plain decimal (no exponent, no separators)"
        raise UsageError(f"{label} {why}", f"write SCOPE:COIN OP AMOUNT, {EXAMPLES}")
    key = m["key"].lower()
    if key not in HOLDERS and key not in known:
        raise UsageError(f"{label}: unknown scope or holder {m['key']!r}",
                         f"give one of {', '.join((*known, *HOLDERS))}")
    clean = f"{key}:{m['coin'].upper()}{m['op']}{m['amount']}"
    return Rule(name or clean, clean, key, m["coin"].upper(), m["op"], Decimal(m["amount"]), key in HOLDERS)
