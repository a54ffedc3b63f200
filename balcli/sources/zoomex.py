"""Zoomex broker: every direct customer's balances (docs/apis/zoomex.md)."""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator
from decimal import Decimal
from typing import Any

from balcli import exchanges, signing, views
from balcli.amounts import exact_sum, format_decimal
from balcli.errors import ClockSkewError, NetworkError, RateLimitError, ResponseError
from balcli.http import Answer, Api, HttpClient, Prepared, budget_identity, http_failure, snippet
from balcli.pagination import KeyIndex, OnPage, cursor_pages
from balcli.sources import Link
from balcli.sources._envelope import IP_HINT, KEY_HINT, PERM_HINT, SIGN_HINT, auth_error, param_error
from balcli.sources._rows import amount, need, need_list, text

ASSET_BALANCE = "/private/v1/broker/asset-balance"
SERVER_TIME = "/cloud/trade/v3/market/time"
RATE_LIMIT = exchanges.get("zoomex").rate_limits["broker"]  # requests per second per UID
MAX_PAGE_SIZE = views.BROKER_MAX_PAGE_SIZE


class ZoomexApi(Api):
    name = "zoomex"
    label = "Zoomex"

    def __init__(self, base_url: str, api_key: str, api_secret: str, recv_window: int) -> None:
        self.base_url = base_url
        self._key = api_key
        self._secret = api_secret
        self.recv_window = recv_window

    def prepare(self, method: str, path: str, params: list[tuple[str, Any]], now_ms: int) -> Prepared:
        pairs, headers = signing.zoomex_v1_request(
            dict(params), api_key=self._key, secret=self._secret, timestamp=now_ms, recv_window=self.recv_window)
        signed = signing.zoomex_v1_string(dict(pairs[:-1]))
        return Prepared(method, self.base_url + path, pairs, headers, log_note=f"signed: {signed}")

    def check(self, answer: Answer) -> Any:
        return check_zoomex(answer)

    def server_time_ms(self, client: HttpClient) -> int | None:
        body = client.get_json(self, SERVER_TIME)
        if isinstance(body, dict):
            if isinstance(body.get("time"), int):
                return body["time"]
            nano = (body.get("result") or {}).get("timeNano")
            if nano:
                return int(nano) // 10**6
        raise ResponseError("Zoomex server time answer has no time")

    def secrets(self) -> Iterable[str]:
        return (self._secret, self._key)

    def limit_identity(self) -> str | None:
        """Per UID (docs/apis/zoomex.md): every process using this key on this host."""
        return budget_identity(self.name, self.base_url, self._key)


def connect(link: Link, *, testnet: bool = False) -> ZoomexApi:
    s = link.settings
    return ZoomexApi(s["testnet_base_url"] if testnet else s["base_url"], link.fields["api_key"],
                     link.fields["api_secret"], int(s["recv_window"]))


def probe(link: Link) -> None:
    """One customer of the first page: the cheapest signed call the broker key can make."""
    pages = asset_balance_pages(link.client, connect(link), page_size=1, max_items=1,
                                rate_limit=link.rate_limit(RATE_LIMIT))
    try:
        next(iter(pages), None)
    finally:
        pages.close()


def server_time(client: HttpClient, base_url: str) -> int | None:
    """``GET /cloud/trade/v3/market/time`` (unsigned), epoch milliseconds."""
    return ZoomexApi(base_url, "", "", 0).server_time_ms(client)


def asset_balance_pages(
    client: HttpClient, api: ZoomexApi, *, uid: str | None = None, coin: str | None = None,
    page_size: int = MAX_PAGE_SIZE, max_items: int | None = None, rate_limit: float = RATE_LIMIT,
    on_page: OnPage | None = None,
) -> Generator[list[dict], None, None]:
    """``GET /private/v1/broker/asset-balance``, every cursor page; one row per customer and coin.

    ``max_items`` counts customers (the API pages by customer).
    """
    limiter = client.limiter(api.name, rate_limit, key=api.limit_identity())

    def fetch(cursor: str | None) -> tuple[list, str | None]:
        params = [("uid", uid), ("coin", coin), ("cursor", cursor), ("limit", page_size)]
        result = client.call(api, "GET", ASSET_BALANCE, [(k, v) for k, v in params if v is not None],
                             limiter=limiter)
        customers = need_list(result, "list", "Zoomex asset-balance")
        next_cursor = result.get("next_cursor") if isinstance(result, dict) else None
        return customers, next_cursor

    # A row is one customer and one coin: a customer on two pages (with other coins on the second) keeps
    # every coin, and only a (customer, coin) pair already yielded is dropped (repeated rows are dropped).
    yielded = _CustomerCoins()
    pages = cursor_pages(fetch, key=lambda c: str(need(c, "user_id", "Zoomex asset-balance")),
                         label="Zoomex asset-balance", max_items=max_items,
                         on_page=on_page or (lambda *_: None), keep_repeats=True, seen=yielded.customers)
    for customers in pages:
        yield [row for customer in customers for row in yielded.new_rows(customer_rows(customer))]


class _CustomerCoins:
    """Which coins have been yielded for each customer, in little memory: each distinct set of coin names is
    kept once and every customer refers to it by number (most customers hold one of a few sets)."""

    __slots__ = ("_ids", "_sets", "customers")

    def __init__(self) -> None:
        # customer -> the number of its set, in about 30 bytes a customer (a dict of UID strings: over 100); it is
        # pagination's memory of the customers seen too (a customer seen but not yet yielded has set 0, no coins)
        self.customers = KeyIndex()
        self._sets: list[frozenset[str]] = [frozenset()]
        self._ids: dict[frozenset[str], int] = {frozenset(): 0}

    def _id(self, coins: frozenset[str]) -> int:
        if coins not in self._ids:
            self._ids[coins] = len(self._sets)
            self._sets.append(coins)
        return self._ids[coins]

    def new_rows(self, rows: list[dict]) -> list[dict]:
        if not rows:
            return rows
        user = rows[0]["user_id"]
        known = self.customers.get(user)
        before = self._sets[known] if known is not None else frozenset()
        fresh = [r for r in rows if r["coin"] not in before]
        if len(fresh) == len(rows) and len({r["coin"] for r in rows}) == len(rows):
            self.customers.put(user, self._id(before | {r["coin"] for r in rows}))
            return rows
        out, seen = [], set(before)
        for r in fresh:
            if r["coin"] not in seen:
                seen.add(r["coin"])
                out.append(r)
        self.customers.put(user, self._id(frozenset(seen)))
        return out


def customer_rows(customer: Any) -> list[dict]:
    where = "Zoomex asset-balance list[]"
    user_id = text(customer, "user_id", where)
    coins = customer.get("coins") or []
    if not isinstance(coins, list):
        raise ResponseError(f"{where}: 'coins' is not a list for user {user_id}")
    return [{"user_id": user_id, "coin": text(c, "coin", where + ".coins[]"),
             "total_balance": amount(c, "total_balance", where + ".coins[]")} for c in coins]


def totals(pages: Iterable[list[dict]]) -> Iterator[list[dict]]:
    """Aggregate per coin: customers with a row for it, and the exact sum of their balances (one page)."""
    sums: dict[str, Decimal] = {}
    users: dict[str, set[str]] = {}
    for page in pages:
        for row in page:
            coin = row["coin"]
            sums[coin] = exact_sum((sums.get(coin, 0), row["total_balance"]))
            users.setdefault(coin, set()).add(row["user_id"])
    yield [{"coin": coin, "users": len(users[coin]), "total_balance": format_decimal(sums[coin])}
           for coin in sorted(sums)]


# -- answers -> typed errors (the API's envelope and codes) -----------------------------------------

def check_zoomex(answer: Answer) -> Any:
    """Zoomex v1 envelope: ``ret_code`` 0 is success; HTTP 403 is an IP ban, not bad credentials."""
    label = answer.api.label
    if answer.status == 403:
        raise RateLimitError(f"{label} banned this IP for exceeding its rate limit (HTTP 403)", banned=True,
                             hint="stop every client using this IP for at least 10 minutes, then run again")
    http_failure(answer)
    if answer.status == 401:
        raise auth_error(label, "invalid API key or missing authentication", KEY_HINT, 401, None)
    body = answer.json()
    code = body.get("ret_code") if isinstance(body, dict) else None
    msg = body.get("ret_msg") if isinstance(body, dict) else None
    if code is None:
        raise ResponseError(f"{label} answered without ret_code", "the answer is not a Zoomex v1 envelope; "
                            "check --base-url", api_message=snippet(answer))
    if code == 0:
        if "result" not in body:
            raise ResponseError(f"{label} answer has no 'result'")
        return body["result"]
    if code in (10002, 10021):
        raise ClockSkewError(f"{label} rejected the request time", api_code=code, api_message=msg)
    if code == 10003:
        raise auth_error(label, "invalid API key", KEY_HINT, code, msg)
    if code in (10004, 10022):
        raise auth_error(label, "invalid signature", SIGN_HINT, code, msg)
    if code == 10005:
        raise auth_error(label, "permission denied (is this a broker key?)", PERM_HINT, code, msg)
    if code == 10007:
        raise auth_error(label, "user authentication failed", KEY_HINT, code, msg)
    if code == 10010:
        raise auth_error(label, "request IP is not on the key's allow-list", IP_HINT, code, msg)
    if code in (10006, 10018):
        raise RateLimitError(f"{label} rate limit reached", "wait a few seconds and run again", api_code=code,
                             api_message=msg)
    if code == 10009:
        raise RateLimitError(f"{label} has banned this IP", "wait before retrying; contact Zoomex if it persists",
                             banned=True, api_code=code, api_message=msg)
    if code == 10001:
        raise param_error(label, code, msg)
    if code == 10016:
        raise NetworkError(f"{label} service unavailable", api_code=code, api_message=msg)
    raise ResponseError(f"{label} returned an error", "see the API's code and message", api_code=code,
                        api_message=msg)


# -- balcli summary ------------------------------------------------------------------------------------

def summary_rows(link: Link, scopes: Iterable[str] = ("broker",), *, warn: Any = None,
                 on_page: OnPage | None = None) -> Iterator[list[dict]]:
    """Scope ``broker``: every customer's ``total_balance``, summed exactly per coin (one page, at the end)."""
    from balcli.sources._summary import Sums

    sums = Sums()
    for page in asset_balance_pages(link.client, connect(link), rate_limit=link.rate_limit(RATE_LIMIT),
                                    on_page=on_page):
        for row in page:
            sums.add("broker", row["coin"], row["total_balance"])
    yield sums.rows()
