"""Signing: the cross-checked vectors (docs/apis/README.md#test-vectors), negative examples, purity, and properties.

Every vector in ``tests/data/signing-vectors.json`` is picked up by id, so adding a vector adds a test. The
property tests compare balcli's functions with small reference implementations written here from the spec
text (docs/apis/<api>.md, "Signing"); they deliberately do not call any balcli helper.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from balcli import signing
from balcli.signing import (
    basic_auth,
    binance_query,
    binance_request,
    binance_sign,
    coinw_futures_request,
    coinw_futures_sign,
    coinw_futures_string,
    coinw_spot_request,
    coinw_spot_sign,
    coinw_spot_string,
    param_text,
    zoomex_v1_request,
    zoomex_v1_sign,
    zoomex_v1_string,
)

VECTORS_PATH = Path(__file__).parent / "data" / "signing-vectors.json"
VECTORS: list[dict[str, Any]] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
REQUEST_VECTORS = [v for v in VECTORS if "url" in v or "headers" in v]

ZOOMEX = "zoomex_v1_hmac_sha256_hex"
COINW_SPOT = "coinw_spot_md5_upper"
COINW_FUTURES = "coinw_futures_hmac_sha256_base64"
BINANCE = "binance_hmac_sha256_hex"
ALTERNATIVE_SUFFIX = "_enc_alternative"  # a fallback hypothesis, not what balcli signs by default

API_KEY = "balcli-test-key-0001"
SECRET = "balcli-test-secret-0001"
TS = 1700000000000
AFFILIATE_PATH = "/api/v3/patener/openapi/v1/partner/invitation/user/assets"
BINANCE_DOC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"


def _by_id(vector_id: str) -> dict[str, Any]:
    return next(v for v in VECTORS if v["id"] == vector_id)


def _split_raw(string: str) -> list[tuple[str, str]]:
    """Pairs of a raw ``k=v&k=v`` string (only for vectors whose values hold no ``&``/``=``)."""
    return [tuple(part.split("=", 1)) for part in string.split("&")]  # type: ignore[misc]


def _query_pairs(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query, keep_blank_values=True, strict_parsing=False)


def _is_alternative(vector: dict[str, Any]) -> bool:
    return vector["id"].endswith(ALTERNATIVE_SUFFIX)


def _zoomex_params(inputs: dict[str, Any], string_to_sign: str) -> dict[str, Any]:
    if "params" not in inputs:  # a published vector that only gives the string (Z0)
        return dict(_split_raw(string_to_sign))
    params = dict(inputs["params"])
    for name in ("api_key", "timestamp", "recv_window"):
        if name in inputs:
            params[name] = inputs[name]
    return params


def _futures_pairs(inputs: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(k, v) for k, v in inputs["query_pairs_in_send_order"]]


def _binance_pairs(vector: dict[str, Any]) -> list[tuple[str, Any]]:
    inputs = vector["inputs"]
    if "query_pairs_in_send_order" in inputs:
        return [(k, v) for k, v in inputs["query_pairs_in_send_order"]]
    return _split_raw(vector["string_to_sign"])  # type: ignore[return-value]


# -- every vector: string-to-sign and signature ---------------------------------------------------------

@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_vector_string_and_signature(vector: dict[str, Any]) -> None:
    inputs, scheme = vector["inputs"], vector["scheme"]
    expected_string, expected_sign = vector["string_to_sign"], vector["signature"]

    if scheme == ZOOMEX:
        params = _zoomex_params(inputs, expected_string)
        assert zoomex_v1_string(params) == expected_string
        assert zoomex_v1_sign(inputs["secret"], params) == expected_sign
    elif scheme == COINW_SPOT:
        kwargs = {"api_key": inputs["api_key"], "secret": inputs["secret"]}
        assert coinw_spot_string(inputs["params"], **kwargs) == expected_string
        assert coinw_spot_sign(inputs["params"], **kwargs) == expected_sign
    elif scheme == COINW_FUTURES:
        args = (inputs["timestamp"], inputs["method"], inputs["path"], _futures_pairs(inputs))
        if _is_alternative(vector):
            # Default (raw values, recommended by the spec) must NOT produce the fallback variant ...
            assert coinw_futures_string(*args) != expected_string
            assert coinw_futures_sign(inputs["secret"], *args) != expected_sign
            # ... while signing the percent-encoded values does.
            encoded = [(k, quote(param_text(v), safe="")) for k, v in _futures_pairs(inputs)]
            enc_args = (inputs["timestamp"], inputs["method"], inputs["path"], encoded)
            assert coinw_futures_string(*enc_args) == expected_string
            assert coinw_futures_sign(inputs["secret"], *enc_args) == expected_sign
        else:
            assert coinw_futures_string(*args) == expected_string
            assert coinw_futures_sign(inputs["secret"], *args) == expected_sign
    elif scheme == BINANCE:
        assert binance_query(_binance_pairs(vector)) == expected_string
        assert binance_sign(inputs["secret"], expected_string) == expected_sign
    else:
        pytest.fail(f"vector {vector['id']}: unknown scheme {scheme!r}; teach this test about it")


# -- every vector with a URL/headers: the request functions reproduce them -----------------------------

@pytest.mark.parametrize("vector", REQUEST_VECTORS, ids=[v["id"] for v in REQUEST_VECTORS])
def test_vector_request(vector: dict[str, Any]) -> None:
    inputs, scheme = vector["inputs"], vector["scheme"]
    wire = _query_pairs(vector["url"])
    headers = vector.get("headers", {})

    if scheme == ZOOMEX:
        business = {k: v for k, v in inputs["params"].items()}
        pairs, got_headers = zoomex_v1_request(
            business, api_key=inputs["api_key"], secret=inputs["secret"],
            timestamp=inputs["timestamp"], recv_window=inputs["recv_window"],
        )
        assert Counter(pairs) == Counter(wire)  # the server re-sorts: wire order is irrelevant
        assert got_headers == headers
    elif scheme == COINW_SPOT:
        command = dict(wire)["command"]
        pairs = coinw_spot_request(command, inputs["params"], api_key=inputs["api_key"], secret=inputs["secret"])
        assert Counter(pairs) == Counter(wire)  # CoinW demo and CoinW.Net use different orders; both valid
        # Spot auth lives entirely in the URL: the vector's headers carry neither key nor signature.
        assert inputs["api_key"] not in headers.values() and vector["signature"] not in headers.values()
    elif scheme == COINW_FUTURES:
        pairs, got_headers = coinw_futures_request(
            inputs["method"], inputs["path"], _futures_pairs(inputs), api_key=inputs["api_key"],
            secret=inputs["secret"], timestamp=inputs["timestamp"],
        )
        assert pairs == wire  # order matters: the query is signed in send order
        assert urlencode(pairs) == urlsplit(vector["url"]).query  # what requests puts on the wire
        if _is_alternative(vector):
            assert got_headers["sign"] != headers["sign"]
            assert {k: v for k, v in got_headers.items() if k != "sign"} == {
                k: v for k, v in headers.items() if k != "sign"
            }
        else:
            assert got_headers == headers
    elif scheme == BINANCE:
        pairs = _binance_pairs(vector)
        values = dict(pairs)
        business = [(k, v) for k, v in pairs if k not in ("recvWindow", "timestamp")]
        recv_window = values.get("recvWindow")
        tail = (["recvWindow"] if recv_window is not None else []) + ["timestamp"]
        sent = binance_request(business, secret=inputs["secret"], timestamp=values["timestamp"],
                               recv_window=recv_window)
        expected_query = urlsplit(vector["url"]).query
        if [k for k, _ in pairs][-len(tail):] == tail:  # the official connector's order: balcli's order
            assert sent == expected_query
            assert parse_qsl(sent, keep_blank_values=True) == wire
        else:  # another valid order (ccxt): same params, different bytes, so a different signature
            query = binance_query(pairs)
            assert f"{query}&signature={binance_sign(inputs['secret'], query)}" == expected_query
            assert Counter(parse_qsl(sent)[:-1]) == Counter(wire[:-1])
            assert dict(parse_qsl(sent))["signature"] != vector["signature"]
        # The only Binance header is the key; the signature travels last in the query.
        assert headers == {"X-MBX-APIKEY": inputs["api_key"]}
        assert wire[-1] == ("signature", vector["signature"])
    else:
        pytest.fail(f"vector {vector['id']}: unknown scheme {scheme!r}; teach this test about it")


def test_vectors_cover_every_scheme() -> None:
    assert {v["scheme"] for v in VECTORS} == {ZOOMEX, COINW_SPOT, COINW_FUTURES, BINANCE}
    assert len({v["id"] for v in VECTORS}) == len(VECTORS)


# -- further values and negative examples (docs/apis/README.md#test-vectors) -----------------------------

def test_zoomex_source_page_recv_window() -> None:
    params = {"limit": 20, "api_key": API_KEY, "timestamp": TS, "recv_window": 1000000}
    assert zoomex_v1_string(params) == (
        "api_key=balcli-test-key-0001&limit=20&recv_window=1000000&timestamp=1700000000000"
    )
    assert zoomex_v1_sign(SECRET, params) == "15ad314cbea99c52c2f047fd79f43136dbdd35ca6a97eef5d09a821421c9da48"


def test_zoomex_limit_as_float_text_is_a_different_signature() -> None:
    z1 = _by_id("Z1")
    wrong = {"limit": "20.0", "api_key": API_KEY, "timestamp": TS, "recv_window": 5000}
    assert zoomex_v1_string(wrong) == "api_key=balcli-test-key-0001&limit=20.0&recv_window=5000&timestamp=1700000000000"
    assert zoomex_v1_sign(SECRET, wrong) == "682d372690c1a08f9b1b41fd5cbe6ebd7c678bf9c1f5f9511d583679be8273fe"
    assert zoomex_v1_sign(SECRET, wrong) != z1["signature"]
    with pytest.raises(TypeError):  # a float can never reach the string: 20.0 is refused, not signed
        zoomex_v1_sign(SECRET, {**wrong, "limit": 20.0})
    assert zoomex_v1_sign(SECRET, {**wrong, "limit": Decimal("20")}) == z1["signature"]


def test_coinw_spot_never_signs_command() -> None:
    c1 = _by_id("C1")
    with_command = "api_key=balcli-test-key-0001&command=returnBalances&secret_key=balcli-test-secret-0001"
    assert hashlib.md5(with_command.encode()).hexdigest().upper() == "FB432D3653C826B805D3A54D58D421A2"
    sign = coinw_spot_sign({"command": "returnBalances"}, api_key=API_KEY, secret=SECRET)
    assert sign == c1["signature"] != "FB432D3653C826B805D3A54D58D421A2"
    assert "command" not in coinw_spot_string({"command": "returnBalances"}, api_key=API_KEY, secret=SECRET)


def test_coinw_spot_signature_is_uppercase() -> None:
    sign = coinw_spot_sign({}, api_key=API_KEY, secret=SECRET)
    assert sign != "019571fff432459801318d99b93d43cb"  # the lowercase form is rejected by CoinW
    assert sign == sign.upper() and len(sign) == 32


def test_coinw_spot_secret_is_never_on_the_wire() -> None:
    pairs = coinw_spot_request("returnBalances", {}, api_key=API_KEY, secret=SECRET)
    assert all(SECRET not in k and SECRET not in v for k, v in pairs)
    assert "secret_key" not in dict(pairs)


def test_coinw_futures_sorted_order_is_a_different_signature() -> None:
    f1 = _by_id("F1")
    pairs = _futures_pairs(f1["inputs"])
    sorted_sign = coinw_futures_sign(SECRET, TS, "GET", AFFILIATE_PATH, sorted(pairs))
    assert sorted_sign == "9wEpXiq5kINecuDOPP9ulsAMpD9al/ZUxOkGl7CqKPQ="
    assert sorted_sign != f1["signature"]


def test_coinw_futures_no_trailing_question_mark() -> None:
    string = coinw_futures_string(TS, "GET", AFFILIATE_PATH, [])
    assert not string.endswith("?")
    stray = base64.b64encode(hmac.new(SECRET.encode(), (string + "?").encode(), hashlib.sha256).digest()).decode()
    assert stray == "Jkz8i33yfHO5WJQ36EtPPW/o5gWFF3B+4P2ji6Ccrik="
    assert coinw_futures_sign(SECRET, TS, "GET", AFFILIATE_PATH, []) != stray
    # Params that are all None are excluded, so they add no "?" either.
    assert coinw_futures_string(TS, "GET", AFFILIATE_PATH, [("uid", None)]) == string


def test_coinw_futures_base64_not_hex() -> None:
    f1 = _by_id("F1")
    sign = coinw_futures_sign(SECRET, TS, "GET", AFFILIATE_PATH, _futures_pairs(f1["inputs"]))
    hex_form = "f4b5603edc3d87d571858956719020c6a06d576578eeac0a74bb2a6751b005e1"
    assert sign != hex_form
    assert len(sign) == 44 and base64.b64decode(sign, validate=True).hex() == hex_form


def test_coinw_futures_method_is_uppercased() -> None:
    f1 = _by_id("F1")
    pairs = _futures_pairs(f1["inputs"])
    assert coinw_futures_string(TS, "get", AFFILIATE_PATH, pairs) == f1["string_to_sign"]
    assert coinw_futures_sign(SECRET, TS, "get", AFFILIATE_PATH, pairs) == f1["signature"]


def test_coinw_futures_documented_example_string() -> None:
    pairs = [("orderId", 54635502191944903), ("instrument", "BTC"), ("openId", 0)]
    string = coinw_futures_string(1701944491793, "GET", "/v1/fapi/getStopProfit", pairs)
    assert string == "1701944491793GET/v1/fapi/getStopProfit?orderId=54635502191944903&instrument=BTC&openId=0"
    sign = coinw_futures_sign(SECRET, 1701944491793, "GET", "/v1/fapi/getStopProfit", pairs)
    assert sign == "xoeJzi+K750fPPDHTeQ9xyYtJGeuQap01rGibAfTo4M="


def test_binance_non_ascii_is_percent_encoded_before_signing() -> None:
    b0 = _by_id("B0")
    pairs = [("symbol", "１２３４５６")] + _split_raw(b0["string_to_sign"])[1:]
    query = binance_query(pairs)
    assert query.startswith("symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY&")
    assert binance_sign(BINANCE_DOC_SECRET, query) == (
        "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3"
    )


def test_binance_own_key_minimal() -> None:
    sent = binance_request([("type", "MARGIN")], secret=SECRET, timestamp=TS, recv_window=None)
    assert sent == (
        "type=MARGIN&timestamp=1700000000000"
        "&signature=8b62e0149eb63556bc928b2a7cc3f2964e0e24a3f04e4ee7f1436b4a573a7a5f"
    )


def test_basic_auth_spec_example() -> None:
    assert basic_auth("balcli-client-id", "balcli-client-secret") == (
        "Basic YmFsY2xpLWNsaWVudC1pZDpiYWxjbGktY2xpZW50LXNlY3JldA=="
    )


# -- param_text ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("value", "text"),
    [
        (20, "20"),
        (-3, "-3"),
        ("20.0", "20.0"),
        ("", ""),
        (True, "true"),
        (False, "false"),
        (Decimal("1E+1"), "10"),
        (Decimal("1E-8"), "0.00000001"),
        (Decimal("20"), "20"),
    ],
)
def test_param_text(value: object, text: str) -> None:
    assert param_text(value) == text


@pytest.mark.parametrize("value", [20.0, 0.1, float("nan"), b"20", [20], object()])
def test_param_text_rejects_other_types(value: object) -> None:
    with pytest.raises(TypeError):
        param_text(value)


def test_bools_sign_as_lowercase_words() -> None:
    string = zoomex_v1_string({"a": True, "b": False})
    assert string == "a=true&b=false"
    assert binance_query([("x", True)]) == "x=true"


# -- purity: caller's params untouched, None excluded -----------------------------------------------------

PARAMS: dict[str, Any] = {"uid": "101479471", "limit": 50, "cursor": "c2Vl/MTAx+Nw==", "coin": None}
PAIRS: list[tuple[str, Any]] = [("startTime", "2025-01-01 00:00:00"), ("pageNo", 1), ("uid", None)]

CALLS: dict[str, Callable[[dict[str, Any], list[tuple[str, Any]]], object]] = {
    "zoomex_v1_string": lambda d, _: zoomex_v1_string(d),
    "zoomex_v1_sign": lambda d, _: zoomex_v1_sign(SECRET, d),
    "zoomex_v1_request": lambda d, _: zoomex_v1_request(d, api_key=API_KEY, secret=SECRET, timestamp=TS,
                                                          recv_window=5000),
    "coinw_spot_string": lambda d, _: coinw_spot_string(d, api_key=API_KEY, secret=SECRET),
    "coinw_spot_sign": lambda d, _: coinw_spot_sign(d, api_key=API_KEY, secret=SECRET),
    "coinw_spot_request": lambda d, _: coinw_spot_request("returnBalances", d, api_key=API_KEY, secret=SECRET),
    "coinw_futures_string": lambda _, p: coinw_futures_string(TS, "GET", AFFILIATE_PATH, p),
    "coinw_futures_sign": lambda _, p: coinw_futures_sign(SECRET, TS, "GET", AFFILIATE_PATH, p),
    "coinw_futures_request": lambda _, p: coinw_futures_request("GET", AFFILIATE_PATH, p, api_key=API_KEY,
                                                                 secret=SECRET, timestamp=TS),
    "binance_query": lambda _, p: binance_query(p),
    "binance_request": lambda _, p: binance_request(p, secret=SECRET, timestamp=TS, recv_window=5000),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_caller_params_are_not_mutated(name: str) -> None:
    params, pairs = copy.deepcopy(PARAMS), copy.deepcopy(PAIRS)
    first = CALLS[name](params, pairs)
    assert params == PARAMS and list(params) == list(PARAMS)
    assert pairs == PAIRS
    assert CALLS[name](params, pairs) == first  # and calling again gives the same answer


@pytest.mark.parametrize("name", sorted(CALLS))
def test_none_values_are_excluded(name: str) -> None:
    without_none_d = {k: v for k, v in PARAMS.items() if v is not None}
    without_none_p = [(k, v) for k, v in PAIRS if v is not None]
    assert CALLS[name](PARAMS, PAIRS) == CALLS[name](without_none_d, without_none_p)


def test_returned_pairs_are_not_the_callers_list() -> None:
    pairs = [("pageNo", "1")]
    got, _ = coinw_futures_request("GET", AFFILIATE_PATH, pairs, api_key=API_KEY, secret=SECRET, timestamp=TS)
    got.append(("x", "y"))
    assert pairs == [("pageNo", "1")]


def test_module_has_no_clock() -> None:
    source = Path(signing.__file__).read_text(encoding="utf-8")
    assert "import time" not in source and "datetime" not in source


# -- property tests against references written from the spec text -------------------------------------

def ref_text(value: object) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)  # ints in decimal digits, text as is


def ref_hmac(secret: str, message: str) -> bytes:
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).digest()


def ref_zoomex_sign(secret: str, params: dict[str, object]) -> str:
    """§1.3: all params, None excluded, sorted by key (byte order), raw ``k=v`` joined by ``&``, HMAC hex."""
    items = sorted(((k, ref_text(v)) for k, v in params.items() if v is not None), key=lambda kv: kv[0].encode())
    return ref_hmac(secret, "&".join(k + "=" + v for k, v in items)).hex()


def ref_coinw_spot_sign(params: dict[str, object], api_key: str, secret: str) -> str:
    """§2.2: params minus ``command`` plus ``api_key``, sorted, ``k=v&`` each, then ``secret_key=``; MD5 upper."""
    items = [(k, ref_text(v)) for k, v in params.items() if v is not None and k != "command"]
    items.append(("api_key", api_key))
    items.sort(key=lambda kv: kv[0].encode())
    message = "".join(k + "=" + v + "&" for k, v in items) + "secret_key=" + secret
    return hashlib.md5(message.encode("utf-8")).hexdigest().upper()


def ref_coinw_futures_sign(secret: str, ts: int, method: str, path: str, pairs: list[tuple[str, object]],
                           body: str) -> str:
    """§5.3: ts + METHOD + path + ("?" + raw query in send order, only if non-empty) + body; base64."""
    kept = [(k, ref_text(v)) for k, v in pairs if v is not None]
    message = str(ts) + method.upper() + path
    if kept:
        message += "?" + "&".join(k + "=" + v for k, v in kept)
    return base64.b64encode(ref_hmac(secret, message + body)).decode("ascii")


_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def ref_percent(text: str) -> str:
    """RFC 3986 percent-encoding of everything but the unreserved set (UTF-8, uppercase hex)."""
    return "".join(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in text.encode("utf-8"))


def ref_binance_query(pairs: list[tuple[str, object]]) -> str:
    """§4.3: the query exactly as sent, values percent-encoded, in the given order."""
    return "&".join(ref_percent(k) + "=" + ref_percent(ref_text(v)) for k, v in pairs if v is not None)


# Printable text that stresses the encodings: URL-reserved ASCII, space, and any non-control unicode.
_chars = st.one_of(
    st.sampled_from(list("+/=&?#%: ~;,@!$'()*[]")),
    st.characters(blacklist_categories=("Cs", "Cc")),
)
_text = st.text(_chars, max_size=12)
_value = st.one_of(_text, st.integers(), st.booleans(), st.none())


def _keys(*reserved: str) -> st.SearchStrategy[str]:
    return _text.filter(lambda k: k not in reserved)


_secret = st.text(_chars, min_size=1, max_size=20)
_ts = st.integers(min_value=0, max_value=2**53)
_settings = settings(max_examples=200, deadline=None)


def _raw(items: list[tuple[str, object]]) -> list[tuple[str, str]]:
    return [(k, ref_text(v)) for k, v in items if v is not None]


@_settings
@given(params=st.dictionaries(_keys("api_key", "timestamp", "recv_window", "sign"), _value, max_size=6),
       api_key=_text, secret=_secret, ts=_ts, recv_window=st.integers(min_value=1, max_value=10**7))
def test_zoomex_matches_reference(params: dict[str, object], api_key: str, secret: str, ts: int,
                                  recv_window: int) -> None:
    everything = {**params, "api_key": api_key, "timestamp": ts, "recv_window": recv_window}
    expected = ref_zoomex_sign(secret, everything)
    assert zoomex_v1_sign(secret, everything) == expected

    pairs, headers = zoomex_v1_request(params, api_key=api_key, secret=secret, timestamp=ts,
                                       recv_window=recv_window)
    assert headers == {"X-BAPI-API-KEY": api_key, "X-BAPI-SIGN": expected,
                       "X-BAPI-TIMESTAMP": str(ts), "X-BAPI-RECV-WINDOW": str(recv_window)}
    # Signed raw; on the wire URL-encoded, and the server decodes back to exactly the signed raw values.
    decoded = parse_qsl(urlencode(pairs), keep_blank_values=True)
    assert Counter(decoded) == Counter(_raw(list(everything.items())) + [("sign", expected)])


@_settings
@given(params=st.dictionaries(_keys("api_key", "command", "sign"), _value, max_size=6),
       api_key=_text, secret=_secret, command=_text)
def test_coinw_spot_matches_reference(params: dict[str, object], api_key: str, secret: str, command: str) -> None:
    expected = ref_coinw_spot_sign(params, api_key, secret)
    assert coinw_spot_sign(params, api_key=api_key, secret=secret) == expected
    assert coinw_spot_sign({**params, "command": command}, api_key=api_key, secret=secret) == expected

    pairs = coinw_spot_request(command, params, api_key=api_key, secret=secret)
    decoded = parse_qsl(urlencode(pairs), keep_blank_values=True)
    assert decoded[0] == ("command", command)
    assert Counter(decoded) == Counter(
        [("command", command)] + _raw(list(params.items())) + [("api_key", api_key), ("sign", expected)]
    )


@_settings
@given(pairs=st.lists(st.tuples(_text, _value), max_size=6), secret=_secret, ts=_ts,
       method=st.sampled_from(["GET", "get", "Post", "DELETE"]), path=_text, body=_text, api_key=_text)
def test_coinw_futures_matches_reference(pairs: list[tuple[str, object]], secret: str, ts: int, method: str,
                                         path: str, body: str, api_key: str) -> None:
    expected = ref_coinw_futures_sign(secret, ts, method, path, pairs, body)
    assert coinw_futures_sign(secret, ts, method, path, pairs, body) == expected

    sent, headers = coinw_futures_request(method, path, pairs, api_key=api_key, secret=secret, timestamp=ts,
                                          body=body)
    assert headers == {"api_key": api_key, "timestamp": str(ts), "sign": expected}
    # Same pairs, same order, signed raw; the wire form decodes back to them in that order.
    assert parse_qsl(urlencode(sent), keep_blank_values=True) == _raw(pairs)


@_settings
@given(pairs=st.lists(st.tuples(_keys("signature", "timestamp", "recvWindow"), _value), max_size=6),
       secret=_secret, ts=_ts, recv_window=st.one_of(st.none(), st.integers(min_value=1, max_value=60000)))
def test_binance_matches_reference(pairs: list[tuple[str, object]], secret: str, ts: int,
                                   recv_window: int | None) -> None:
    assert binance_query(pairs) == ref_binance_query(pairs)

    sent = binance_request(pairs, secret=secret, timestamp=ts, recv_window=recv_window)
    query, marker, signature = sent.rpartition("&signature=")
    assert marker
    extra: list[tuple[str, object]] = [("recvWindow", recv_window), ("timestamp", ts)]
    assert query == ref_binance_query(pairs + extra)
    # The signature covers exactly the bytes that are sent, in the order they are sent.
    assert signature == ref_hmac(secret, query).hex()
    decoded = parse_qsl(sent, keep_blank_values=True)
    assert decoded == _raw(pairs + extra) + [("signature", signature)]


@pytest.mark.parametrize("call", [
    lambda: signing.zoomex_v1_request({"timestamp": 1}, api_key="k", secret="s", timestamp=2, recv_window=5000),
    lambda: signing.coinw_spot_request("returnBalances", {"command": "x"}, api_key="k", secret="s"),
    lambda: signing.binance_request([("signature", "x")], secret="s", timestamp=1, recv_window=5000),
])
def test_reserved_names_are_refused_rather_than_sent_twice(call):
    with pytest.raises(ValueError, match="must not be passed"):
        call()


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "sNaN"])
def test_non_finite_decimals_are_refused(value):
    with pytest.raises(ValueError):
        signing.param_text(Decimal(value))
