"""CoinW spot: the account's balances per coin (docs/apis/coinw-spot.md).

``returnBalances`` gives the available balance only (amounts in open orders excluded);
``returnCompleteBalances`` gives available and on-orders, from which the exact total is computed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any, cast

from balcli import exchanges, signing
from balcli.amounts import exact_sum, format_decimal, parse_amount
from balcli.errors import NetworkError, ResponseError
from balcli.http import Answer, Api, HttpClient, Prepared, budget_identity, http_failure
from balcli.sources import Link, _coinw
from balcli.sources._envelope import KEY_HINT, SIGN_HINT, auth_error, param_error
from balcli.sources._rows import amount

PRIVATE = "/api/v1/private"
BALANCES = "returnBalances"
COMPLETE_BALANCES = "returnCompleteBalances"
RATE_LIMIT = exchanges.get("coinw").rate_limits["spot"]  # returnBalances: requests per second per UID
COMPLETE_RATE_LIMIT = exchanges.get("coinw").rate_limits["spot_complete"]  # returnCompleteBalances: 5 per 2 s


class CoinwSpotApi(Api):
    """CoinW spot's private API: ``api_key`` and an MD5 ``sign`` in the URL query, ``command`` never signed."""

    name = "coinw_spot"
    label = "CoinW spot"

    def __init__(self, base_url: str, api_key: str, api_secret: str) -> None:
        self.base_url = base_url
        self._key = api_key
        self._secret = api_secret
        self._signs: set[str] = set()

    def prepare(self, method: str, path: str, params: list[tuple[str, Any]], now_ms: int) -> Prepared:
        business = [(k, v) for k, v in params if k != "command"]
        command = dict(params)["command"]
        pairs = signing.coinw_spot_request(command, dict(business), api_key=self._key, secret=self._secret)
        signed = signing.coinw_spot_string(dict(business), api_key=self._key, secret=self._secret)
        signed = signed[: signed.rindex("secret_key=")] + "secret_key=***"
        # The sign is a constant MD5 over the key, the parameters and the secret: replayable, and open to
        # offline guessing of the secret. It is a secret of its own wherever a server echoes it.
        self._signs.update(str(v) for k, v in pairs if k == "sign")
        # CoinW's own demo sends an empty body with this content type (docs/apis/coinw-spot.md, "Parameters").
        return Prepared(method, self.base_url + path, pairs, {"Content-Type": "application/json"},
                        log_note=f"signed: {signed}")

    def check(self, answer: Answer) -> Any:
        return check_coinw_spot(answer)

    def secrets(self) -> Iterable[str]:
        return (self._secret, self._key, *self._signs)

    def limit_identity(self) -> str | None:
        """Per UID: every process using this key on this host."""
        return budget_identity(self.name, self.base_url, self._key)


def _assets(data: Any, command: str) -> dict[str, Any]:
    """The ``{coin: ...}`` mapping; each "no assets" shape is an empty one (docs/apis/coinw-spot.md#response)."""
    if data is None or data == "" or data == [] or data == {}:
        return {}
    if not isinstance(data, dict):
        raise ResponseError(f"CoinW {command}: 'data' is not an object of coins ({type(data).__name__})",
                            "the API changed or a proxy altered the answer; run with -vv to see it")
    return data


def _wanted(coins: Iterable[str] | None) -> set[str] | None:
    return {c.upper() for c in coins} if coins else None


def _is_zero(value: str) -> bool:
    return parse_amount(value) == Decimal(0)


def connect(link: Link) -> CoinwSpotApi:
    return CoinwSpotApi(link.settings["base_url"], link.fields["api_key"], link.fields["api_secret"])


def probe(link: Link) -> None:
    """One ``returnBalances``: the cheapest signed call a CoinW key can make."""
    for _ in balances(link.client, connect(link), rate_limit=link.rate_limit(RATE_LIMIT)):
        pass


def balances(
    client: HttpClient, api: CoinwSpotApi, *, coins: Iterable[str] | None = None, hide_zero: bool = False,
    rate_limit: float = RATE_LIMIT,
) -> Iterator[list[dict]]:
    """``POST /api/v1/private?command=returnBalances``: one row per coin (available balance), sorted by coin."""
    limiter = client.limiter(api.name, rate_limit, key=api.limit_identity())
    data = _assets(client.call(api, "POST", PRIVATE, [("command", BALANCES)], limiter=limiter), BALANCES)
    wanted = _wanted(coins)
    rows = []
    for coin in sorted(data, key=str.upper):
        if wanted is not None and coin.upper() not in wanted:
            continue
        balance = cast(str, amount(data, coin, f"CoinW {BALANCES} data"))  # not optional=True: never None
        if hide_zero and _is_zero(balance):
            continue
        rows.append({"coin": coin, "balance": balance})
    yield rows


def complete_balances(
    client: HttpClient, api: CoinwSpotApi, *, coins: Iterable[str] | None = None, hide_zero: bool = False,
    rate_limit: float = COMPLETE_RATE_LIMIT,
) -> Iterator[list[dict]]:
    """``POST /api/v1/private?command=returnCompleteBalances``: available, on orders and their exact total."""
    limiter = client.limiter(f"{api.name}.complete", rate_limit, key=api.limit_identity())
    data = _assets(client.call(api, "POST", PRIVATE, [("command", COMPLETE_BALANCES)], limiter=limiter),
                   COMPLETE_BALANCES)
    wanted = _wanted(coins)
    rows = []
    for coin in sorted(data, key=str.upper):
        if wanted is not None and coin.upper() not in wanted:
            continue
        where = f"CoinW {COMPLETE_BALANCES} data.{coin}"
        entry = data[coin]
        if not isinstance(entry, dict):
            raise ResponseError(f"{where}: not an object with available and onOrders ({entry!r})",
                                "run with -vv to see the answer")
        available = amount(entry, "available", where)
        on_orders = amount(entry, "onOrders", where)
        total = exact_sum((available, on_orders))
        if hide_zero and total == 0:
            continue
        rows.append({"coin": coin, "available": available, "on_orders": on_orders,
                     "total": format_decimal(total)})
    yield rows


# -- answers -> typed errors (the API's envelope and codes) -----------------------------------------

def check_coinw_spot(answer: Answer) -> Any:
    """CoinW spot: ``code`` "200" (string) is success; an empty answer means no assets."""
    label = answer.api.label
    _coinw.unauthorized(answer)
    _coinw.too_many(answer)
    http_failure(answer)
    if answer.status == 200 and not answer.text.strip():
        return {}
    body = answer.json()
    code = _coinw.code_of(answer, body)
    msg = body.get("msg") or body.get("message")
    if code in ("200", "0") and body.get("success") is not False and body.get("failed") is not True:
        return body.get("data")
    if code == "29001":
        raise _coinw.rate_limited(label, code, msg)
    if code in ("-103", "1003", "6000", "10006"):
        raise auth_error(label, "authentication failed (API key, signature, IP or permission)",
                    f"{KEY_HINT}; check the API secret too", code, msg)
    if code == "10007":
        raise auth_error(label, "invalid signature", SIGN_HINT, code, msg)
    if code in ("-3", "10003"):
        raise param_error(label, code, msg)
    if code == "-200":
        raise NetworkError(f"{label} system error", api_code=code, api_message=msg)
    raise ResponseError(f"{label} returned an error", "see the API's code and message", api_code=code,
                        api_message=msg)


# -- balcli summary ------------------------------------------------------------------------------------

def summary_rows(link: Link, scopes: Iterable[str] = ("spot",), *, warn: Any = None,
                 on_page: Any = None) -> Iterator[list[dict]]:
    """Scope ``spot``: ``returnCompleteBalances`` available + on orders per coin (the exact total)."""
    from balcli.sources._summary import Sums

    sums = Sums()
    rows = [row for page in complete_balances(link.client, connect(link),
                                              rate_limit=link.rate_limit(COMPLETE_RATE_LIMIT)) for row in page]
    for row in rows:
        sums.add("spot", row["coin"], row["total"])
    if on_page is not None:
        on_page(1, len(rows), None)
    yield sums.rows()
