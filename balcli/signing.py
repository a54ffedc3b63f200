"""Request signing, one pure function per scheme (docs/apis/<api>.md, "Signing").

Inputs in, signature out: no clock, no I/O, and the caller's params are never mutated. The timestamp is
always an argument. Values are rendered by ``param_text`` so that ``20`` signs as ``20`` (never ``20.0``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from decimal import Decimal
from urllib.parse import quote, urlencode

Pairs = list[tuple[str, str]]


def param_text(value: object) -> str:
    """The textual form a parameter is signed and sent with."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, str)):
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a finite number: {value}")
        return format(value, "f")
    raise TypeError(f"unsupported parameter type {type(value).__name__}: pass str, int or Decimal")


def _pairs(params: Mapping[str, object] | Iterable[tuple[str, object]]) -> Pairs:
    items = params.items() if isinstance(params, Mapping) else params
    return [(k, param_text(v)) for k, v in items if v is not None]


def _reject_reserved(pairs: Pairs, reserved: frozenset[str], scheme: str) -> None:
    """The signing function adds these itself; one passed in would be sent twice and signed once."""
    clash = sorted({k for k, _ in pairs} & reserved)
    if clash:
        raise ValueError(f"{scheme}: {', '.join(clash)} must not be passed as a parameter (added when signing)")


def _hmac_sha256(secret: str, message: str) -> bytes:
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).digest()


# -- Zoomex v1 (docs/apis/zoomex.md, "Signing") --------------------------------------------------------

def zoomex_v1_string(params: Mapping[str, object]) -> str:
    """All params (api_key, timestamp, recv_window included), sorted by key, raw ``k=v`` joined by ``&``."""
    return "&".join(f"{k}={v}" for k, v in sorted(_pairs(params)))


def zoomex_v1_sign(secret: str, params: Mapping[str, object]) -> str:
    return _hmac_sha256(secret, zoomex_v1_string(params)).hex()


def zoomex_v1_request(
    params: Mapping[str, object], *, api_key: str, secret: str, timestamp: int, recv_window: int
) -> tuple[Pairs, dict[str, str]]:
    """Query pairs in the official sample's wire order (params, api_key, timestamp, recv_window, sign) and headers."""
    pairs = _pairs(params)
    _reject_reserved(pairs, frozenset({"api_key", "timestamp", "recv_window", "sign"}), "Zoomex v1")
    pairs += [
        ("api_key", api_key), ("timestamp", str(timestamp)), ("recv_window", str(recv_window)),
    ]
    sign = zoomex_v1_sign(secret, dict(pairs))
    headers = {
        "X-BAPI-API-KEY": api_key,
        "X-BAPI-SIGN": sign,
        "X-BAPI-TIMESTAMP": str(timestamp),
        "X-BAPI-RECV-WINDOW": str(recv_window),
    }
    return pairs + [("sign", sign)], headers


# -- CoinW spot MD5 (docs/apis/coinw-spot.md, "Signing") -----------------------------------------------

def coinw_spot_string(params: Mapping[str, object], *, api_key: str, secret: str) -> str:
    """Sorted ``k=v&`` pairs (``command`` excluded: it is never signed) followed by ``secret_key=SECRET``."""
    pairs = [(k, v) for k, v in _pairs(params) if k != "command"] + [("api_key", api_key)]
    return "".join(f"{k}={v}&" for k, v in sorted(pairs)) + f"secret_key={secret}"


def coinw_spot_sign(params: Mapping[str, object], *, api_key: str, secret: str) -> str:
    string = coinw_spot_string(params, api_key=api_key, secret=secret)
    return hashlib.md5(string.encode("utf-8")).hexdigest().upper()  # MD5: the API's scheme, not a choice


def coinw_spot_request(command: str, params: Mapping[str, object], *, api_key: str, secret: str) -> Pairs:
    """URL query pairs: ``command`` first, then the business params, ``api_key`` and ``sign`` (all in the URL)."""
    pairs = _pairs(params)
    _reject_reserved(pairs, frozenset({"command", "api_key", "sign", "secret_key"}), "CoinW spot")
    sign = coinw_spot_sign(params, api_key=api_key, secret=secret)
    return [("command", command)] + pairs + [("api_key", api_key), ("sign", sign)]


# -- CoinW futures / affiliate HMAC-SHA256 base64 (docs/apis/coinw-affiliate.md, "Signing") -------------

def coinw_futures_string(
    timestamp: int, method: str, path: str, query_pairs: Iterable[tuple[str, object]], body: str = ""
) -> str:
    """``timestamp + METHOD + path + ["?" + raw query in send order] + body``; no ``?`` without params."""
    query = "&".join(f"{k}={v}" for k, v in _pairs(query_pairs))
    return f"{timestamp}{method.upper()}{path}{'?' + query if query else ''}{body}"


def coinw_futures_sign(
    secret: str, timestamp: int, method: str, path: str, query_pairs: Iterable[tuple[str, object]], body: str = ""
) -> str:
    string = coinw_futures_string(timestamp, method, path, query_pairs, body)
    return base64.b64encode(_hmac_sha256(secret, string)).decode("ascii")


def coinw_futures_request(
    method: str, path: str, query_pairs: Iterable[tuple[str, object]], *, api_key: str, secret: str,
    timestamp: int, body: str = "",
) -> tuple[Pairs, dict[str, str]]:
    """Query pairs exactly in the order they are signed, and the ``api_key``/``timestamp``/``sign`` headers."""
    pairs = _pairs(query_pairs)
    sign = coinw_futures_sign(secret, timestamp, method, path, pairs, body)
    return pairs, {"api_key": api_key, "timestamp": str(timestamp), "sign": sign}


# -- Binance HMAC-SHA256 hex (docs/apis/binance.md, "Signing") -----------------------------------------

def binance_query(pairs: Iterable[tuple[str, object]]) -> str:
    """The query string exactly as sent: percent-encoded values, in the given order."""
    return urlencode(_pairs(pairs), quote_via=quote)


def binance_sign(secret: str, query_string: str) -> str:
    return _hmac_sha256(secret, query_string).hex()


def binance_request(
    pairs: Iterable[tuple[str, object]], *, secret: str, timestamp: int, recv_window: int | None
) -> str:
    """The full signed query string: params, ``recvWindow``, ``timestamp``, then ``signature`` last."""
    signed = _pairs(pairs)
    _reject_reserved(signed, frozenset({"recvWindow", "timestamp", "signature"}), "Binance")
    if recv_window is not None:
        signed.append(("recvWindow", str(recv_window)))
    signed.append(("timestamp", str(timestamp)))
    query = binance_query(signed)
    return f"{query}&signature={binance_sign(secret, query)}"


# -- OAuth 2.0 client credentials (docs/apis/cryptofuse.md, "Authentication") ----------------------------

def basic_auth(client_id: str, client_secret: str) -> str:
    token = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode("ascii")
    return f"Basic {token}"
