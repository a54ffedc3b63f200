"""Zoomex broker: every direct customer's balances (docs/apis/zoomex.md)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from balcli import signing
from balcli.amounts import exact_sum, format_decimal
from balcli.errors import ResponseError
from balcli.http import Answer, Api, HttpClient, Prepared, RateLimiter, check_zoomex
from balcli.pagination import OnPage, cursor_pages
from balcli.sources._rows import amount, need, need_list, text

ASSET_BALANCE = "/private/v1/broker/asset-balance"
SERVER_TIME = "/cloud/trade/v3/market/time"
RATE_LIMIT = 5.0  # requests per second per UID (docs/apis/zoomex.md, "Rate limits")
MAX_PAGE_SIZE = 50


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


def asset_balance_pages(
    client: HttpClient, api: ZoomexApi, *, uid: str | None = None, coin: str | None = None,
    page_size: int = MAX_PAGE_SIZE, max_items: int | None = None, rate_limit: float = RATE_LIMIT,
    on_page: OnPage | None = None,
) -> Iterator[list[dict]]:
    """``GET /private/v1/broker/asset-balance``, every cursor page; one row per customer and coin.

    ``max_items`` counts customers (the API pages by customer).
    """
    limiter = RateLimiter(rate_limit)

    def fetch(cursor: str | None) -> tuple[list, str | None]:
        params = [("uid", uid), ("coin", coin), ("cursor", cursor), ("limit", page_size)]
        result = client.call(api, "GET", ASSET_BALANCE, [(k, v) for k, v in params if v is not None],
                             limiter=limiter)
        customers = need_list(result, "list", "Zoomex asset-balance")
        next_cursor = result.get("next_cursor") if isinstance(result, dict) else None
        return customers, next_cursor or None

    pages = cursor_pages(fetch, key=lambda c: str(need(c, "user_id", "Zoomex asset-balance")),
                         label="Zoomex asset-balance", max_items=max_items,
                         on_page=on_page or (lambda *_: None))
    for customers in pages:
        yield [row for customer in customers for row in customer_rows(customer)]


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
