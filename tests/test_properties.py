"""Property tests (hypothesis) for what the other files do not already cover.

Covered elsewhere: each signing scheme against an independent reference (test_signing.py), json/ndjson/csv/tsv
round-trips of any text and decimal string and the table's footer sum (test_render.py), every pagination style
yielding each item exactly once (test_pagination.py). Here: the totals balcli computes itself (broker --total,
spot --complete) through the real source functions and HTTP client with the API mocked by ``responses``, for
arbitrary decimal amounts sent as JSON strings or bare JSON numbers; WHEN parsing; CoinW's zone-less times for
any offset.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta, timezone
from decimal import Context, Decimal, localcontext
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from balcli.amounts import exact_sum, format_decimal
from balcli.errors import UsageError
from balcli.http import HttpClient
from balcli.sources import coinw_spot, zoomex
from balcli.sources.coinw_affiliate import TIME_FORMAT, iso_from_wire, wire_time
from balcli.timeparse import iso_utc, parse_offset, parse_when, to_ms

BASE = "https://api.example.test"
PLAIN = re.compile(r"-?[0-9]+(\.[0-9]+)?")
WIDE = Context(prec=5000, Emax=10**6, Emin=-(10**6))

# An amount as an API may send it: a decimal string (kept verbatim in rows) or a bare JSON number, possibly with
# an exponent (json.loads with parse_float=Decimal keeps every digit).
digits = st.from_regex(r"-?(0|[1-9][0-9]{0,30})(\.[0-9]{1,30})?([eE][-+]?[0-9]{1,2})?", fullmatch=True)
amounts = st.tuples(digits, st.booleans())  # (text, sent as a JSON string?)
coins = st.sampled_from(["BTC", "ETH", "USDT", "USDC", "DUST", "ZMX"])


def literal(amount: tuple[str, bool]) -> str:
    text, as_string = amount
    return json.dumps(text) if as_string else text


def exact(amount: tuple[str, bool]) -> Decimal:
    return Decimal(amount[0])


def shown(amount: tuple[str, bool]) -> str:
    """What a row shows: a string verbatim, a JSON number as plain decimal text."""
    text, as_string = amount
    return text if as_string else format_decimal(Decimal(text))


def client() -> HttpClient:
    return HttpClient(timeout=5, max_retries=0, sleep=lambda _: None)


# -- broker --total ---------------------------------------------------------------------------------------------

customers = st.lists(st.dictionaries(coins, amounts, max_size=4), min_size=0, max_size=25)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(customers, st.integers(min_value=1, max_value=7))
def test_broker_total_per_coin_is_the_exact_sum_of_every_customers_balance(holdings, page_size):
    """Pages of ``page_size`` customers behind cursors; --total gives per coin the customers holding it and the
    exact sum of their balances, in plain notation, whatever the digits and exponents."""
    pages = [holdings[i:i + page_size] for i in range(0, len(holdings), page_size)] or [[]]

    def body(index: int) -> str:
        first = index * page_size
        items = [f'{{"user_id":"{1000 + first + j}","coins":[' + ",".join(
            f'{{"coin":"{c}","total_balance":{literal(a)}}}' for c, a in customer.items()) + "]}"
                 for j, customer in enumerate(pages[index])]
        cursor = f"cursor-{index + 1}" if index + 1 < len(pages) else ""
        return ('{"ret_code":0,"ret_msg":"OK","ext_code":"","result":{"list":[' + ",".join(items)
                + f'],"next_cursor":"{cursor}"}},"ext_info":null,"time_now":1}}')

    def callback(request):
        cursor = dict(parse_qsl(urlsplit(request.url).query)).get("cursor")
        return 200, {}, body(0 if cursor is None else int(cursor.split("-")[1]))

    api = zoomex.ZoomexApi(BASE, "key-0123456789", "secret-0123456789", 5000)
    with responses.RequestsMock() as rsps:
        rsps.add_callback(responses.GET, BASE + zoomex.ASSET_BALANCE, callback=callback)
        per_customer = list(zoomex.asset_balance_pages(client(), api, page_size=page_size, rate_limit=1e6))
        assert len(rsps.calls) == len(pages)
    rows = next(zoomex.totals(iter(per_customer)))

    with localcontext(WIDE):
        expected = {}
        for customer in holdings:
            for coin, amount in customer.items():
                users, total = expected.get(coin, (0, Decimal(0)))
                expected[coin] = (users + 1, total + exact(amount))
    assert [row["coin"] for row in rows] == sorted(expected)
    for row in rows:
        assert PLAIN.fullmatch(row["total_balance"]), row
        assert (row["users"], Decimal(row["total_balance"])) == expected[row["coin"]]
    # and the per-customer rows carry every amount as it was sent
    assert [r["total_balance"] for page in per_customer for r in page] == [
        shown(a) for customer in holdings for a in customer.values()]


# -- spot --complete ---------------------------------------------------------------------------------------------

@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(coins, st.tuples(amounts, amounts), max_size=6), st.booleans())
def test_spot_complete_total_is_available_plus_on_orders_exactly(holdings, hide_zero):
    data = ",".join(f'"{c}":{{"available":{literal(a)},"onOrders":{literal(o)}}}' for c, (a, o) in holdings.items())
    text = f'{{"code":"200","data":{{{data}}},"msg":"SUCCESS","success":true,"failed":false}}'
    api = coinw_spot.CoinwSpotApi(BASE, "key-0123456789", "secret-0123456789")
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, BASE + coinw_spot.PRIVATE, body=text)
        rows = next(coinw_spot.complete_balances(client(), api, hide_zero=hide_zero, rate_limit=1e6))
        assert len(rsps.calls) == 1

    with localcontext(WIDE):
        expected = [{"coin": c, "available": shown(a), "on_orders": shown(o), "total": exact(a) + exact(o)}
                    for c, (a, o) in sorted(holdings.items())]
    if hide_zero:
        expected = [row for row in expected if row["total"] != 0]
    assert [{**row, "total": Decimal(row["total"])} for row in rows] == expected
    assert all(PLAIN.fullmatch(row["total"]) for row in rows)


@settings(max_examples=100, deadline=None)
@given(st.lists(digits, max_size=30))
def test_exact_sum_never_rounds_and_format_never_uses_an_exponent(values):
    total = exact_sum(values)
    with localcontext(WIDE):
        assert total == sum((Decimal(v) for v in values), Decimal(0))
    assert PLAIN.fullmatch(format_decimal(total))
    assert Decimal(format_decimal(total)) == total


# -- WHEN ---------------------------------------------------------------------------------------------------------

offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(lambda m: timedelta(minutes=m))
NOW = datetime(2026, 5, 21, 12, 0, tzinfo=timezone.utc)


def offset_text(delta: timedelta, compact: bool = False) -> str:
    minutes = int(delta.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hh, mm = divmod(abs(minutes), 60)
    return f"{sign}{hh:02d}{'' if compact else ':'}{mm:02d}"


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)), offsets,
       st.sampled_from(["T", " "]), st.booleans())
def test_when_reads_any_iso_datetime_with_any_offset_as_the_same_instant_in_utc(local, delta, sep, end):
    text = local.isoformat(sep=sep) + offset_text(delta)
    parsed = parse_when(text, option="--start", end=end, now=NOW)
    assert parsed.utcoffset() == timedelta(0)
    assert parsed == local.replace(tzinfo=timezone(delta))
    # no offset means UTC, and so does Z
    assert parse_when(local.isoformat(sep=sep), option="--end", end=end, now=NOW) == local.replace(tzinfo=timezone.utc)
    assert parse_when(local.isoformat() + "Z", option="--end", end=end, now=NOW) == local.replace(tzinfo=timezone.utc)


@settings(max_examples=200, deadline=None)
@given(st.dates(min_value=date(1971, 1, 1), max_value=date(2200, 1, 1)))
def test_a_date_alone_is_its_first_millisecond_for_start_and_its_last_for_end(day):
    start = parse_when(day.isoformat(), option="--start", end=False, now=NOW)
    end = parse_when(day.isoformat(), option="--end", end=True, now=NOW)
    assert iso_utc(to_ms(start)) == f"{day.isoformat()}T00:00:00Z"
    assert iso_utc(to_ms(end)) == f"{day.isoformat()}T23:59:59.999Z"
    assert to_ms(end) - to_ms(start) == 86_400_000 - 1


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=100_000), st.sampled_from(list("smhdw")), st.booleans())
def test_an_age_is_that_long_before_now(n, unit, upper):
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}[unit] * n
    text = f"{n}{unit.upper() if upper else unit}"
    assert parse_when(text, option="--start", end=False, now=NOW) == NOW - timedelta(seconds=seconds)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789-:TZ+ dhx", max_size=25))
def test_any_other_text_is_a_usage_error_naming_the_option_or_a_valid_time(text):
    try:
        parsed = parse_when(text, option="--end", end=True, now=NOW)
    except UsageError as exc:
        assert "--end" in str(exc) and exc.exit_code == 2
    else:
        assert parsed.utcoffset() == timedelta(0)


# -- CoinW's zone-less times, for any --tz ----------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(offsets, st.booleans())
def test_tz_offsets_parse_to_exactly_that_offset(delta, compact):
    assert parse_offset(offset_text(delta, compact), option="--tz").utcoffset(None) == delta


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)), offsets)
def test_invitee_times_round_trip_through_coinw_text_for_any_offset(moment, delta):
    """UTC -> CoinW text in the zone -> UTC gives the same second; a window never widens when it is cut to
    CoinW's whole seconds (a start rounds up, an end rounds down); and CoinW text -> UTC -> text is the same text."""
    zone = parse_offset(offset_text(delta), option="--tz")
    at = moment.replace(tzinfo=timezone.utc)
    start, end = wire_time(at, zone, end=False), wire_time(at, zone, end=True)
    as_start = datetime.strptime(iso_from_wire(start, zone), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    as_end = datetime.strptime(iso_from_wire(end, zone), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert as_end <= at <= as_start < as_end + timedelta(seconds=2)
    assert (as_start == as_end) == (at.microsecond == 0)
    assert as_end == at.replace(microsecond=0)
    # CoinW's text read in the zone and written back in it is the same text
    local = datetime.strptime(end, TIME_FORMAT).replace(tzinfo=zone)
    assert wire_time(local, zone, end=True) == end == local.strftime(TIME_FORMAT)


@pytest.mark.parametrize("text", ["+08:00", "-0530", "Z", "UTC", "+00:00"])
def test_documented_tz_spellings(text):
    assert parse_offset(text, option="--tz").utcoffset(None) is not None
