"""Exact amounts: strings in, ``Decimal`` sums out, never ``float``, never exponent notation.

Python's default decimal context keeps 28 significant digits, which would silently round a sum such as
``98765432109876543210.123456789 + 0.000000000000000001``; every sum here runs in a wide context instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Context, Decimal, InvalidOperation

# Wide enough for any sum of amounts within the bounds below: exact, never rounded.
_EXACT = Context(prec=2000, Emax=10**6, Emin=-(10**6))
# The plain decimal grammar an API writes: sign, ASCII digits, one point, an optional exponent. Python's
# Decimal also takes "1_000", " 1.5 ", "Infinity" and Arabic-Indic digits, which no tool downstream (bc, jq,
# a spreadsheet) reads the same way.
AMOUNT_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
MAX_DIGITS = 100  # digits of one amount beyond those its exponent bound allows
MAX_EXPONENT = 900  # |power of ten| of one amount's leading digit: sums of such stay exact within _EXACT


def parse_amount(value: object) -> Decimal:
    """An API amount (string, int or Decimal from ``json.loads(parse_float=Decimal)``) as an exact Decimal;
    ValueError when it is not a plain decimal number of sane size (``1E+2000000`` is not a balance)."""
    if isinstance(value, bool) or value is None or isinstance(value, float):  # float-ok: rejected, not used
        raise ValueError(f"not an exact amount: {value!r}")
    if isinstance(value, str) and not AMOUNT_RE.fullmatch(value):
        raise ValueError(f"not a plain decimal amount: {value[:40]!r}")
    try:
        # any other type raises TypeError, caught below: the error message is the point
        d = Decimal(value) if not isinstance(value, Decimal) else value  # type: ignore[arg-type]
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"not a decimal amount: {str(value)[:40]!r}") from None
    if not d.is_finite():
        raise ValueError(f"not a finite amount: {value!r}")
    # Digits: a value within the exponent bound written out in full (``1E+100`` as 101 digits) is fine.
    if abs(d.adjusted()) > MAX_EXPONENT or len(d.as_tuple().digits) > MAX_EXPONENT + MAX_DIGITS or \
            abs(int(d.as_tuple().exponent)) > MAX_EXPONENT + MAX_DIGITS:
        raise ValueError(f"not a plausible amount (too many digits, or exponent beyond ±{MAX_EXPONENT}): "
                         f"{str(value)[:40]!r}")
    return d


def amount_text(value: object) -> str:
    """The amount as the API sent it: strings are kept verbatim; JSON numbers become plain decimal text."""
    if isinstance(value, str):
        parse_amount(value)  # validate, keep the original text (trailing zeros included)
        return value
    return format_decimal(parse_amount(value))


def exact_sum(values: Iterable[object]) -> Decimal:
    total = Decimal(0)
    for v in values:  # a Decimal is a running total (ours): only what came from outside is checked
        total = _EXACT.add(total, v if isinstance(v, Decimal) and v.is_finite() else parse_amount(v))
    return total


def format_decimal(d: Decimal) -> str:
    """Plain positional notation, whatever the exponent: ``Decimal('1E-18')`` -> ``0.000000000000000001``."""
    text = format(d, "f")
    return "0" if text in ("-0", "") else text
