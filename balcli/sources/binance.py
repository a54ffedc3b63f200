"""Binance daily account snapshot (docs/apis/binance.md).

One signed ``GET /sapi/v1/accountSnapshot`` per run (weight 2400 against 12,000 per minute per IP, i.e. five
calls a minute). The query is signed exactly as it is sent (``signing.binance_request``), ``signature`` last.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from balcli import exchanges, signing, views
from balcli.errors import ClockSkewError, RateLimitError, ResponseError, UsageError
from balcli.http import (
    Answer,
    Api,
    HttpClient,
    Prepared,
    budget_identity,
    http_failure,
    retry_after_seconds,
    until_text,
)
from balcli.sources import Link
from balcli.sources._envelope import IP_HINT, KEY_HINT, SIGN_HINT, auth_error, param_error
from balcli.sources._rows import amount, need, need_list, text
from balcli.timeparse import from_ms, iso_utc, to_ms

ACCOUNT_SNAPSHOT = "/sapi/v1/accountSnapshot"
SERVER_TIME = "/api/v3/time"
WEIGHT = 2400  # IP weight of one snapshot call (docs/apis/binance.md, "Rate limits")
BUDGET = 12000  # IP weight per minute of this /sapi endpoint (docs/apis/binance.md, "Rate limits")
RATE_LIMIT = exchanges.get("binance").rate_limits["snapshot"]  # BUDGET / WEIGHT per minute: 5 calls
WEIGHT_HEADER = "X-SAPI-USED-IP-WEIGHT-1M"
TYPES = ("spot", "margin", "futures")
DAY_MS = 86_400_000
MAX_WINDOW_MS = 30 * DAY_MS  # endTime - startTime must be shorter than this (docs/apis/binance.md, "Parameters")
LOOKBACK_MS = 30 * DAY_MS  # "the last one month": startTime no earlier than 30 days before now
SEND_MARGIN_MS = 60_000  # see window_params
DEFAULT_LIMIT, MIN_LIMIT = views.SNAPSHOT_DEFAULT_LIMIT, views.SNAPSHOT_MIN_LIMIT
MAX_LIMIT = views.SNAPSHOT_MAX_LIMIT


class BinanceApi(Api):
    """HMAC-SHA256 over the exact query string; the IP weight budget read from every answer."""

    name = "binance"
    label = "Binance"

    def __init__(self, base_url: str, api_key: str, api_secret: str, recv_window: int | None,
                 *, clock: Any = None) -> None:
        self.base_url = base_url
        self._key = api_key
        self._secret = api_secret
        self.recv_window = recv_window
        self._clock = clock or (lambda: time.time())
        self._lock = threading.Lock()
        self._used: int | None = None  # IP weight used in the minute ``_minute``, from the last answer
        self._minute: int | None = None

    def prepare(self, method: str, path: str, params: list[tuple[str, Any]], now_ms: int) -> Prepared:
        query = signing.binance_request(params, secret=self._secret, timestamp=now_ms, recv_window=self.recv_window)
        signed = query.rsplit("&signature=", 1)[0]
        return Prepared(method, self.base_url + path, query, {"X-MBX-APIKEY": self._key},
                        log_note=f"signed: {signed}")

    def check(self, answer: Answer) -> Any:
        return check_binance(answer)

    def observe(self, answer: Answer) -> None:
        """Remember the IP weight this minute has used (``X-SAPI-USED-IP-WEIGHT-1M``, not the /api header)."""
        value = answer.headers.get(WEIGHT_HEADER) if answer.headers is not None else None
        try:
            used = int(str(value).strip())
        except ValueError:
            return
        with self._lock:
            self._used, self._minute = used, math.floor(self._clock() / 60)  # float-ok: seconds

    def wait_before(self) -> float:
        """Seconds until the next minute when this minute's budget cannot take another call (never a 429)."""
        with self._lock:
            if self._used is None or self._minute is None or self._used + WEIGHT <= BUDGET:
                return 0.0
            now = self._clock()
            if math.floor(now / 60) != self._minute:
                return 0.0
            return (self._minute + 1) * 60 - now + 0.5  # half a second past the boundary: the clocks differ

    def server_time_ms(self, client: HttpClient) -> int | None:
        body = client.get_json(self, SERVER_TIME)
        if isinstance(body, dict) and isinstance(body.get("serverTime"), int):
            return body["serverTime"]
        raise ResponseError("Binance server time answer has no serverTime")

    def secrets(self) -> Iterable[str]:
        return (self._secret, self._key)

    def limit_identity(self) -> str | None:
        """The weight budget is per IP, not per key: every process on this machine that calls this host."""
        return budget_identity(self.name, self.base_url)


# -- the window and the limit ------------------------------------------------------------------------------

def day_ends(start_ms: int, end_ms: int) -> int:
    """How many daily snapshots (taken at the end of each UTC day) fall inside [start_ms, end_ms]."""
    first = -((DAY_MS - 1000 - start_ms) // DAY_MS)  # ceil: the first day whose snapshot is at/after start
    last = (end_ms - DAY_MS + 1000) // DAY_MS
    return max(0, last - first + 1)


def check_window(start: datetime | None, end: datetime | None, now: datetime) -> None:
    """The API's window rules, checked before anything is sent (exit 2, naming the option).

    - ``--start`` must be before ``--end``;
    - ``--end - --start`` must be shorter than 30 days (a date-to-date window of 30 calendar days is fine);
    - ``--start`` may be at most 30 days before now (``--start 30d`` is the earliest) and not in the future;
      ``--end`` alone must be within the last 30 days too (the API keeps no older snapshots).
    """
    now_ms = to_ms(now)
    earliest = iso_utc(now_ms - LOOKBACK_MS)
    if start is not None and end is not None:
        if to_ms(start) >= to_ms(end):
            raise UsageError(f"--start ({iso_utc(to_ms(start))}) is not before --end ({iso_utc(to_ms(end))})",
                             "give a --start earlier than --end")
        if to_ms(end) - to_ms(start) >= MAX_WINDOW_MS:
            raise UsageError("--start and --end span 30 days or more; Binance accepts a window shorter than 30 "
                             "days", "shorten the window, e.g. --start 29d, or --start 2025-01-01 --end 2025-01-30")
    if start is not None and to_ms(start) < now_ms - LOOKBACK_MS:
        raise UsageError(f"--start {iso_utc(to_ms(start))} is more than 30 days ago; Binance keeps snapshots "
                         f"for the last month only", f"the earliest --start now is {earliest} (--start 30d)")
    if start is not None and to_ms(start) > now_ms:
        raise UsageError(f"--start {iso_utc(to_ms(start))} is in the future; a daily snapshot exists only for "
                         "days that have ended", "give a --start in the last 30 days, e.g. --start 7d")
    if start is None and end is not None and to_ms(end) < now_ms - LOOKBACK_MS:
        raise UsageError(f"--end {iso_utc(to_ms(end))} is more than 30 days ago; Binance keeps snapshots "
                         "for the last month only", f"give an --end after {earliest}")


def window_params(start: datetime | None, end: datetime | None, limit: int | None,
                  now_ms: int) -> tuple[list[tuple[str, int]], int | None]:
    """``startTime``/``endTime``/``limit`` to send, and the limit balcli chose itself (None if none).

    Binance returns at most ``limit`` snapshots (default 7) even when the window holds more, so a window of more
    than 7 days without ``--limit`` would silently lose days: balcli then sends ``limit`` = the number of days in
    the window (at most 30). ``startTime`` is sent no earlier than 30 days minus a minute before the time of
    sending, so that the moments between the check and the server's own check cannot get a ``--start 30d``
    refused (at most one minute of the window's oldest edge is given up; a daily snapshot falls in it only in
    the last minute of a UTC day).
    """
    start_ms = to_ms(start) if start is not None else None
    end_ms = to_ms(end) if end is not None else None
    if start_ms is not None:
        start_ms = max(start_ms, now_ms - LOOKBACK_MS + SEND_MARGIN_MS)
    chosen = None
    if limit is None and start_ms is not None:
        days = day_ends(start_ms, end_ms if end_ms is not None else now_ms)
        if days > DEFAULT_LIMIT:
            chosen = limit = min(days, MAX_LIMIT)
    params = [("startTime", start_ms), ("endTime", end_ms), ("limit", limit)]
    return [(k, v) for k, v in params if v is not None], chosen


# -- the endpoint ------------------------------------------------------------------------------------------

def connect(link: Link) -> BinanceApi:
    return BinanceApi(link.settings["base_url"], link.fields["api_key"], link.fields["api_secret"],
                      int(link.settings["recv_window"]))


def probe(link: Link) -> None:
    """One spot snapshot: weight 2400 of the 12,000 per minute an IP may spend; it is the only signed endpoint
    balcli speaks here."""
    account_snapshot(link.client, connect(link), "spot", window=[], rate_limit=link.rate_limit(RATE_LIMIT))


def server_time(client: HttpClient, base_url: str) -> int | None:
    """``GET /api/v3/time`` (unsigned), epoch milliseconds."""
    return BinanceApi(base_url, "", "", None).server_time_ms(client)


def account_snapshot(client: HttpClient, api: BinanceApi, kind: str, *, window: list[tuple[str, int]],
                     rate_limit: float = RATE_LIMIT) -> list[dict]:
    """``GET /sapi/v1/accountSnapshot`` (type, startTime, endTime, limit): the snapshotVos, oldest day first."""
    body = client.call(api, "GET", ACCOUNT_SNAPSHOT, [("type", kind.upper()), *window],
                       limiter=client.limiter(api.name, rate_limit, key=api.limit_identity()))
    vos = need_list(body, "snapshotVos", "Binance accountSnapshot")
    for vo in vos:
        sent = vo.get("type") if isinstance(vo, dict) else None
        if sent is not None and str(sent).lower() != kind:
            raise ResponseError(f"Binance accountSnapshot: asked for {kind} snapshots, got {sent!r}",
                                "run with -vv to see the answer")
    return sorted(vos, key=lambda vo: _update_ms(vo))


def _update_ms(vo: Any) -> int:
    value = need(vo, "updateTime", "Binance accountSnapshot snapshotVos[]")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MAX_EPOCH_MS:
        raise ResponseError(f"Binance accountSnapshot snapshotVos[]: 'updateTime' is not epoch milliseconds "
                            f"({value!r})", "run with -vv to see the answer")
    return value


MAX_EPOCH_MS = 253402300800000  # 10000-01-01T00:00:00Z: past the last time a date can be written


def snapshot_rows(vos: list[dict], kind: str, positions: bool = False) -> Iterator[list[dict]]:
    """One page of rows per snapshot day, in ascending date order."""
    for vo in vos:
        ms = _update_ms(vo)
        day = {"date": from_ms(ms).strftime("%Y-%m-%d"), "update_time": iso_utc(ms)}
        where = f"Binance {kind} snapshot of {day['date']}"
        data = need(vo, "data", where)
        if positions:
            yield [{**day, "symbol": text(p, "symbol", where + " position[]"),
                    "position_amt": amount(p, "positionAmt", where + " position[]"),
                    "entry_price": amount(p, "entryPrice", where + " position[]"),
                    "mark_price": amount(p, "markPrice", where + " position[]"),
                    "unrealized_profit": amount(p, "unRealizedProfit", where + " position[]")}
                   for p in need_list(data, "position", where)]
        elif kind == "spot":
            total = amount(data, "totalAssetOfBtc", where)
            yield [{**day, "asset": text(b, "asset", where + " balances[]"),
                    "free": amount(b, "free", where + " balances[]"),
                    "locked": amount(b, "locked", where + " balances[]"), "total_asset_of_btc": total}
                   for b in need_list(data, "balances", where)]
        elif kind == "margin":
            level = amount(data, "marginLevel", where)
            net = amount(data, "totalNetAssetOfBtc", where)
            w = where + " userAssets[]"
            yield [{**day, "asset": text(a, "asset", w), "free": amount(a, "free", w),
                    "locked": amount(a, "locked", w), "borrowed": amount(a, "borrowed", w),
                    "interest": amount(a, "interest", w), "net_asset": amount(a, "netAsset", w),
                    "margin_level": level, "total_net_asset_of_btc": net}
                   for a in need_list(data, "userAssets", where)]
        else:
            w = where + " assets[]"
            yield [{**day, "asset": text(a, "asset", w), "wallet_balance": amount(a, "walletBalance", w),
                    "margin_balance": amount(a, "marginBalance", w)}
                   for a in need_list(data, "assets", where)]


# -- answers -> typed errors (the API's envelope and codes) -----------------------------------------

def check_binance(answer: Answer) -> Any:
    """Binance: HTTP status first (418 ban, 429 limit), then ``code`` (success bodies carry ``"code":200``)."""
    label = answer.api.label
    if answer.status == 418:
        retry = retry_after_seconds(answer.headers)
        try:
            body = answer.json()
        except ResponseError:
            body = None
        code = body.get("code") if isinstance(body, dict) else None
        msg = body.get("msg") if isinstance(body, dict) else None
        until = re.search(r"banned until (\d{13})", msg) if isinstance(msg, str) else None
        if retry is None and until:  # no Retry-After: the message still says when (epoch ms)
            retry = max(0.0, int(until.group(1)) / 1000 - time.time())  # float-ok: seconds
        raise RateLimitError(f"{label} has banned this IP (HTTP 418){until_text(retry)}", banned=True,
                             retry_after=retry,
                             hint=f"do not retry{until_text(retry) or ' before the ban lifts'}; "
                                  "the ban grows if you do",
                             api_code=code, api_message=msg)
    http_failure(answer)
    body = answer.json()
    code = body.get("code") if isinstance(body, dict) else None
    msg = body.get("msg") if isinstance(body, dict) else None
    if answer.status < 400 and (code is None or code == 200):
        return body
    if code == -1021:
        raise ClockSkewError(f"{label} rejected the request time", api_code=code, api_message=msg)
    if code == -1022:
        raise auth_error(label, "invalid signature", SIGN_HINT, code, msg)
    if code in (-2014, -2015, -1002):
        raise auth_error(label, "invalid API key, IP or permissions", f"{KEY_HINT}; {IP_HINT}", code, msg)
    if code == -1003:
        raise RateLimitError(f"{label} rate limit reached", "wait a minute and run again", api_code=code,
                             api_message=msg)
    if answer.status == 403:
        raise auth_error(label, "request blocked by the web application firewall (HTTP 403)",
                    "check proxies and the request; wait before retrying", code, msg)
    if isinstance(code, int) and (-1199 <= code <= -1100 or code == -3026):
        raise param_error(label, code, msg)
    if answer.status in (401,):
        raise auth_error(label, "unauthorized", KEY_HINT, code, msg)
    raise ResponseError(f"{label} returned an error (HTTP {answer.status})", "see the API's code and message",
                        api_code=code, api_message=msg)


# -- balcli summary ------------------------------------------------------------------------------------

# What one day of each snapshot type holds: the rows of ``snapshot_rows`` and the amounts summed per asset.
SUMMARY_AMOUNTS = {"spot": ("free", "locked"), "margin": ("net_asset",), "futures": ("wallet_balance",)}


def summary_rows(link: Link, scopes: Iterable[str] = ("snapshot.spot",), *, warn: Any = None,
                 on_page: Any = None) -> Iterator[list[dict]]:
    """Scopes ``snapshot.<type>``: the latest day of each type: spot free + locked, margin net asset, futures
    wallet balance, per asset; ``as_of`` is that snapshot's update time. One call per type, in scope order."""
    from balcli.amounts import exact_sum
    from balcli.sources._summary import Sums

    api = connect(link)
    sums = Sums()
    for calls, scope in enumerate(scopes, 1):
        kind = scope.partition(".")[2]
        vos = account_snapshot(link.client, api, kind, window=[], rate_limit=link.rate_limit(RATE_LIMIT))
        latest = list(snapshot_rows(vos[-1:], kind))  # oldest first: the last one is the latest day
        for row in latest[0] if latest else []:
            total = exact_sum(row[f] or 0 for f in SUMMARY_AMOUNTS[kind])
            sums.add(scope, row["asset"], str(total), row["update_time"])
        if on_page is not None:
            on_page(calls, calls, None)
    yield sums.rows()
