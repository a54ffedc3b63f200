"""Exact amounts: strings in, ``Decimal`` sums out, never ``float``, never exponent notation.

Python's default decimal context keeps 28 significant digits, which would silently round a sum such as
``98765432109876543210.123456789 + 0.000000000000000001``; every sum here runs in a wide context instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Context, Decimal, InvalidOperation

# Wide enough for any balance an exchange sends (it grows no further than the longest input needs).
_EXACT = Context(prec=2000, Emax=10**6, Emin=-(10**6))


def parse_amount(value: object) -> Decimal:
    """An API amount (string, int or Decimal from ``json.loads(parse_float=Decimal)``) as an exact Decimal."""
    if isinstance(value, bool) or value is None or isinstance(value, float):  # float-ok: rejected, not used
        raise ValueError(f"not an exact amount: {value!r}")
    try:
        # any other type raises TypeError, caught below: the error message is the point
        d = Decimal(value) if not isinstance(value, Decimal) else value  # type: ignore[arg-type]
    except (InvalidOperation, TypeError):
        raise ValueError(f"not a decimal amount: {value!r}") from None
    if not d.is_finite():
        raise ValueError(f"not a finite amount: {value!r}")
    return d


def amount_text(value: object) -> str:
    """The amount as the API sent it: strings are kept verbatim; JSON numbers become plain decimal text."""
    if isinstance(value, str):
        parse_amount(value)  # validate, keep the original text (trailing zeros included)
        return value
    return format_decimal(parse_amount(value))


def exact_sum(values: Iterable[object]) -> Decimal:
    total = Decimal(0)
    for v in values:
        total = _EXACT.add(total, parse_amount(v))
    return total


def format_decimal(d: Decimal) -> str:
    """Plain positional notation, whatever the exponent: ``Decimal('1E-18')`` -> ``0.000000000000000001``."""
    text = format(d, "f")
    return "0" if text in ("-0", "") else text
