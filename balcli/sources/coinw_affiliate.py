"""CoinW affiliate: direct invitees' deposits, withdrawals and balance (docs/apis/coinw-affiliate.md).

CoinW's ``yyyy-MM-dd HH:mm:ss`` times carry no zone. The caller picks one (``--tz``, config ``coinw.timezone``,
default ``+08:00``); the window is written in it and the answer's times are read in it and shown in UTC.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

from balcli import exchanges, signing, views
from balcli.amounts import amount_text
from balcli.errors import ClockSkewError, ResponseError, UsageError
from balcli.http import Answer, Api, HttpClient, Prepared, budget_identity, http_failure, snippet
from balcli.pagination import OnPage, Warn, indexed_pages
from balcli.sources import Link, _coinw
from balcli.sources._envelope import KEY_HINT, PERM_HINT, SIGN_HINT, auth_error, param_error
from balcli.sources._rows import need, need_list

USER_ASSETS = "/api/v3/patener/openapi/v1/partner/invitation/user/assets"  # "patener" is CoinW's spelling
SERVER_TIME = "/v1/perpum/time"
RATE_LIMIT = exchanges.get("coinw").rate_limits["affiliate"]  # requests per second per IP and UID
MAX_PAGE_SIZE = views.INVITEES_MAX_PAGE_SIZE  # the "1000" of the page's precautions is not trusted
CONCURRENCY = 4  # page requests in flight once the total is known (all under the one limiter)
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
WHERE = "CoinW invitee assets"


class CoinwAffiliateApi(Api):
    """CoinW futures-style signing: HMAC-SHA256 base64 over the raw query in send order; headers only."""

    name = "coinw_affiliate"
    label = "CoinW affiliate"

    def __init__(self, base_url: str, api_key: str, api_secret: str) -> None:
        self.base_url = base_url
        self._key = api_key
        self._secret = api_secret

    def prepare(self, method: str, path: str, params: list[tuple[str, Any]], now_ms: int) -> Prepared:
        pairs, headers = signing.coinw_futures_request(method, path, params, api_key=self._key,
                                                       secret=self._secret, timestamp=now_ms)
        signed = signing.coinw_futures_string(now_ms, method, path, pairs)
        return Prepared(method, self.base_url + path, pairs, headers, log_note=f"signed: {signed}")

    def check(self, answer: Answer) -> Any:
        return check_coinw_affiliate(answer)

    def server_time_ms(self, client: HttpClient) -> int | None:
        """``GET /v1/perpum/time`` -> ``{"code":0,"data":{"time":<ms>}}`` (docs/apis/coinw-affiliate.md#server-time)."""
        body = client.get_json(self, SERVER_TIME)
        data = body.get("data") if isinstance(body, dict) else None
        value = data.get("time") if isinstance(data, dict) else None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ResponseError("CoinW server time answer has no time")

    def secrets(self) -> Iterable[str]:
        return (self._secret, self._key)

    def limit_identity(self) -> str | None:
        """Per IP and UID: every process using this key on this host."""
        return budget_identity(self.name, self.base_url, self._key)


# -- times ---------------------------------------------------------------------------------------------

def wire_time(when: datetime, zone: tzinfo, *, end: bool) -> str:
    """An aware datetime as CoinW's ``yyyy-MM-dd HH:mm:ss`` in ``zone``, to whole seconds without widening
    the window: a start rounds up, an end rounds down (CoinW's times have one-second resolution)."""
    try:
        local = when.astimezone(zone)
    except OverflowError:
        raise UsageError(f"{when.isoformat()} is outside the years 1-9999 at UTC{local_offset(zone)}",
                         "give a later --start / an earlier --end") from None
    if local.microsecond:
        local = local.replace(microsecond=0) + (timedelta(0) if end else timedelta(seconds=1))
    return local.strftime(TIME_FORMAT)


def local_offset(zone: tzinfo) -> str:
    offset = zone.utcoffset(None)
    return "" if offset is None else datetime(2000, 1, 1, tzinfo=zone).strftime("%z")


def iso_from_wire(text: str, zone: tzinfo) -> str:
    """``2026-05-21 10:25:00`` read in ``zone`` -> ``2026-05-21T02:25:00Z`` (for +08:00)."""
    local = datetime.strptime(text, TIME_FORMAT).replace(tzinfo=zone)
    return local.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- rows ----------------------------------------------------------------------------------------------

def _present(obj: Any, key: str) -> Any:
    """The value of ``key``, which must be present (exit 7 otherwise); null and "" become None."""
    if not isinstance(obj, dict) or key not in obj:
        raise ResponseError(f"{WHERE}: the answer has no '{key}' field",
                            "the API changed or a proxy altered the answer; run with -vv to see it")
    value = obj[key]
    return None if value is None or value == "" else value


def _amount(obj: Any, key: str) -> str | None:
    value = _present(obj, key)
    if value is None:
        return None
    try:
        return amount_text(value)
    except ValueError:
        raise ResponseError(f"{WHERE}: '{key}' is not a decimal amount ({value!r})",
                            "run with -vv to see the answer") from None


def _time(obj: Any, key: str, zone: tzinfo) -> str | None:
    value = _present(obj, key)
    if value is None:
        return None
    try:
        if isinstance(value, str):
            return iso_from_wire(value, zone)
    except (ValueError, OverflowError):  # OverflowError: 0001-01-01 00:00:00 at +08:00 is before year 1 in UTC
        pass
    raise ResponseError(f"{WHERE}: '{key}' is not a yyyy-MM-dd HH:mm:ss time in years 1-9999 ({value!r})",
                        "run with -vv to see the answer")


def uid_of(item: Any) -> int:
    value = need(item, "uid", f"{WHERE} list[]")
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
        raise ResponseError(f"{WHERE}: 'uid' is not an integer ({value!r})", "run with -vv to see the answer")
    return int(value)


def invitee_row(item: Any, zone: tzinfo) -> dict:
    return {
        "uid": uid_of(item),
        "total_deposit": _amount(item, "totalDeposit"),
        "total_withdrawal": _amount(item, "totalWithdrawal"),
        "current_balance": _amount(item, "currentBalance"),
        "update_time": _time(item, "updateTime", zone),
        "first_deposit_amount": _amount(item, "firstDepositAmount"),
        "first_deposit_time": _time(item, "firstDepositTime", zone),
    }


def connect(link: Link) -> CoinwAffiliateApi:
    return CoinwAffiliateApi(link.settings["base_url"], link.fields["api_key"], link.fields["api_secret"])


def server_time(client: HttpClient, base_url: str) -> int | None:
    """``GET /v1/perpum/time`` (unsigned), epoch milliseconds."""
    return CoinwAffiliateApi(base_url, "", "").server_time_ms(client)


# -- the endpoint --------------------------------------------------------------------------------------

def user_assets_pages(
    client: HttpClient, api: CoinwAffiliateApi, *, zone: tzinfo, uid: int | None = None,
    start: datetime | None = None, end: datetime | None = None, quote: str = "usdt",
    page_size: int = MAX_PAGE_SIZE, max_items: int | None = None, rate_limit: float = RATE_LIMIT,
    concurrency: int = CONCURRENCY, warn: Warn | None = None, on_page: OnPage | None = None,
) -> Iterator[list[dict]]:
    """``GET /api/v3/patener/openapi/v1/partner/invitation/user/assets``, every page; one row per invitee.

    Query in send order (it is signed in that order): uid, startTime, endTime, quote, pageNo, pageSize.
    ``pageSize`` is always sent (the documented default is contradictory: 10 or 20).
    """
    limiter = client.limiter(api.name, rate_limit, key=api.limit_identity())
    head = [("uid", uid),
            ("startTime", wire_time(start, zone, end=False) if start else None),
            ("endTime", wire_time(end, zone, end=True) if end else None),
            ("quote", quote)]
    head = [(k, v) for k, v in head if v is not None]
    if max_items is not None:
        page_size = min(page_size, max_items)  # ask for no more than will be shown

    def fetch(index: int, size: int) -> tuple[list, int]:
        data = client.call(api, "GET", USER_ASSETS, head + [("pageNo", index + 1), ("pageSize", size)],
                           limiter=limiter)
        items = need_list(data, "list", WHERE)
        total = need(data, "total", WHERE)
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            raise ResponseError(f"{WHERE}: 'total' is not a count ({total!r})", "run with -vv to see the answer")
        return items, total

    pages = indexed_pages(fetch, page_size=page_size, key=uid_of, label=WHERE, max_items=max_items,
                          concurrency=max(1, min(concurrency, math.ceil(rate_limit))), warn=warn or (lambda _: None),
                          on_page=on_page or (lambda *_: None), speculate_after=limiter.interval)
    for items in pages:
        yield [invitee_row(item, zone) for item in items]


# -- answers -> typed errors (the API's envelope and codes) -----------------------------------------

def check_coinw_affiliate(answer: Answer) -> Any:
    """CoinW affiliate (futures-style): ``code`` "0" is success."""
    label = answer.api.label
    _coinw.unauthorized(answer)
    _coinw.too_many(answer)
    http_failure(answer)
    body = answer.json()
    code = _coinw.code_of(answer, body)
    msg = body.get("msg") or body.get("message")
    if code == "0":
        if not isinstance(body.get("data"), dict):
            raise ResponseError(f"{label} answer has no 'data' object", api_message=snippet(answer))
        return body["data"]
    if code == "29001":
        raise _coinw.rate_limited(label, code, msg)
    if code == "6000":
        raise auth_error(label, "invalid API key", KEY_HINT, code, msg)
    if code == "6001":
        raise auth_error(label, "invalid signature", SIGN_HINT, code, msg)
    if code == "6002":
        raise ClockSkewError(f"{label} rejected the request time", api_code=code, api_message=msg)
    if code == "6003":
        raise auth_error(label, "the key lacks the Affiliate permission", PERM_HINT, code, msg)
    if code in ("1", "402"):
        raise param_error(label, code, msg)
    raise ResponseError(f"{label} returned an error", "see the API's code and message", api_code=code,
                        api_message=msg)


# -- balcli summary ------------------------------------------------------------------------------------

SUMMARY_QUOTE = "usdt"


def summary_rows(link: Link, scopes: Iterable[str] = ("invitees",), *, warn: Warn | None = None,
                 on_page: OnPage | None = None) -> Iterator[list[dict]]:
    """Scope ``invitees``: every invitee's ``current_balance`` in USDT (the affiliate API's default quote; the
    same balances quoted in USDC are another valuation of the same money, so only one is summed)."""
    from balcli.sources._summary import Sums
    from balcli.timeparse import parse_offset

    sums = Sums()
    zone = parse_offset(str(link.settings.get("timezone") or "+08:00"), option="coinw.timezone")
    for page in user_assets_pages(link.client, connect(link), zone=zone, quote=SUMMARY_QUOTE,
                                  rate_limit=link.rate_limit(RATE_LIMIT), warn=warn, on_page=on_page):
        for row in page:
            sums.add("invitees", SUMMARY_QUOTE, row["current_balance"])
    yield sums.rows()
