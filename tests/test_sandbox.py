"""The sandbox exchange: isolation, the signing vectors, Zoomex, the request log and TCP behaviour.

Signatures here are computed with small helpers written in this file from docs/apis/, never with balcli's code.
"""

from __future__ import annotations

import ast
import hashlib
import hmac
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
import requests

from balcli.sandbox import DEMO_CREDENTIALS, LIMITED_CREDENTIALS, Sandbox
from tests.conftest import ManualClock

ROOT = Path(__file__).resolve().parents[1]
VECTORS = json.loads((ROOT / "tests" / "data" / "signing-vectors.json").read_text())
ZPATH = "/private/v1/broker/asset-balance"
ZKEY, ZSECRET = DEMO_CREDENTIALS["zoomex"]["api_key"], DEMO_CREDENTIALS["zoomex"]["api_secret"]
CLIENT_ERROR_SHAPES = {
    "zoomex": lambda r: r.status_code == 200 and r.json()["ret_code"] == 10004,
    "coinw_spot": lambda r: r.status_code == 200 and r.json()["code"] == 1003 and r.json()["success"] is False,
    "coinw_affiliate": lambda r: r.status_code == 200 and r.json()["code"] == 6001,
    "binance": lambda r: r.status_code == 400 and r.json() == {"code": -1022,
                                                               "msg": "Signature for this request is not valid."},
}
SCHEME_API = {"zoomex_v1_hmac_sha256_hex": "zoomex", "coinw_spot_md5_upper": "coinw_spot",
              "coinw_futures_hmac_sha256_base64": "coinw_affiliate", "binance_hmac_sha256_hex": "binance"}


@pytest.fixture
def sb():
    with Sandbox(customers=120) as box:
        yield box


@pytest.fixture
def session():
    with requests.Session() as s:
        yield s


def zoomex_get(sb, params, *, key=ZKEY, secret=ZSECRET, ts=None, recv_window=5000, session=requests,
               tamper=False):
    """Sign like docs/apis/zoomex.md#signing (raw values, sorted) and send URL-encoded."""
    p = {k: v for k, v in params.items() if v is not None}
    p.update(api_key=key, timestamp=sb.now_ms() if ts is None else ts, recv_window=recv_window)
    text = "&".join(f"{k}={p[k]}" for k in sorted(p))
    sign = hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()
    if tamper:
        sign = sign[:-1] + ("0" if sign[-1] != "0" else "1")
    p["sign"] = sign
    headers = {"X-BAPI-API-KEY": key, "X-BAPI-SIGN": sign, "X-BAPI-TIMESTAMP": str(p["timestamp"]),
               "X-BAPI-RECV-WINDOW": str(recv_window)}
    return session.get(f"{sb.base_url}{ZPATH}?{urlencode(p)}", headers=headers)


def walk_broker(sb, session, **params):
    users, cursors, cursor = [], [], None
    while True:
        body = zoomex_get(sb, {**params, "cursor": cursor}, session=session).json()
        assert body["ret_code"] == 0, body
        users += body["result"]["list"]
        cursor = body["result"]["next_cursor"]
        if not cursor:
            return users, cursors
        cursors.append(cursor)


# ----------------------------------------------------------------------------------------- isolation
def test_sandbox_imports_nothing_from_balcli_outside_itself():
    """A shared signing mistake must not pass unseen: the sandbox has its own verification code."""
    offenders = []
    files = sorted((ROOT / "balcli" / "sandbox").rglob("*.py"))
    assert len(files) >= 8
    for path in files:
        package = "balcli.sandbox" + "".join("." + p for p in path.relative_to(ROOT / "balcli" / "sandbox").parent.parts)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    names = [".".join(base + ([node.module] if node.module else []))]
                else:
                    names = [node.module or ""]
            elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                    "import_module", "__import__"):
                names = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            for name in names:
                if (name == "balcli" or name.startswith("balcli.")) and not (
                        name == "balcli.sandbox" or name.startswith("balcli.sandbox.")):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}")
                top = name.split(".")[0]
                if top and top != "balcli" and top not in sys.stdlib_module_names:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: non-stdlib {name}")
    assert offenders == []


def test_importing_the_package_is_cheap_and_loads_no_server():
    code = ("import sys, balcli.sandbox as s; assert s.DEMO_CREDENTIALS['coinw']['api_key'];"
            "print(sorted(m for m in sys.modules if m.startswith('balcli') or m == 'http.server'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "http.server" not in out and "balcli.sandbox.server" not in out


def test_demo_credentials_have_the_documented_shape():
    assert set(DEMO_CREDENTIALS) == {"zoomex", "coinw", "binance", "cryptofuse"}
    for name in ("zoomex", "coinw", "binance"):
        assert set(DEMO_CREDENTIALS[name]) == {"api_key", "api_secret"}
    assert set(DEMO_CREDENTIALS["cryptofuse"]) == {"client_id", "client_secret"}


# ----------------------------------------------------------------------------------------- vectors
def _replay(sb, vector, tamper=False):
    url = urlsplit(vector["url"])
    target = f"{sb.base_url}{url.path}" + (f"?{url.query}" if url.query else "")
    headers = dict(vector.get("headers", {}))
    sig = vector["signature"]
    bad = sig[:5] + ("A" if sig[5] != "A" else "B") + sig[6:]
    if tamper:
        if "sign" in headers:
            headers["sign"] = bad
        if "X-BAPI-SIGN" in headers:
            headers["X-BAPI-SIGN"] = bad
        target = target.replace(sig, bad)
    # send the path and query byte for byte as the vector has them
    req = requests.Request(vector.get("method", "GET"), target, headers=headers,
                           data=vector.get("body", None) or None).prepare()
    req.url = target
    with requests.Session() as s:
        return s.send(req)


REPLAYABLE = [v for v in VECTORS if v.get("url")]


@pytest.mark.parametrize("vector", REPLAYABLE, ids=[v["id"] for v in REPLAYABLE])
def test_every_vector_with_a_url_is_accepted_and_a_tampered_one_rejected(vector):
    frozen = vector["inputs"].get("timestamp", 1700000000000)
    api = SCHEME_API[vector["scheme"]]
    with Sandbox(frozen_time_ms=frozen, customers=20, invitees=20, rate_limits=False) as sb:
        good = _replay(sb, vector)
        if vector["id"] == "F3_enc_alternative":
            # docs/apis/coinw-affiliate.md, open question 1: the sandbox checks the raw query; encoded signing fails
            assert CLIENT_ERROR_SHAPES[api](good), good.text
            return
        assert good.status_code == 200, good.text
        body = good.json()
        assert {"zoomex": lambda b: b["ret_code"] == 0 and b["ret_msg"] == "OK",
                "coinw_spot": lambda b: b["code"] == "200" and b["success"] is True,
                "coinw_affiliate": lambda b: b["code"] == "0" and "total" in b["data"],
                "binance": lambda b: b["code"] == 200 and b["snapshotVos"]}[api](body), body
        bad = _replay(sb, vector, tamper=True)
        assert CLIENT_ERROR_SHAPES[api](bad), bad.text
        assert [r.api for r in sb.requests] == [api, api]


def test_vector_z2_cursor_is_signed_raw_and_sent_encoded():
    vector = next(v for v in VECTORS if v["id"] == "Z2")
    with Sandbox(frozen_time_ms=1700000000000) as sb:
        body = _replay(sb, vector).json()
        assert body["ret_code"] == 0
        assert body["result"]["list"] == [{"user_id": "101479471", "coins": [{"coin": "USDT",
                                                                              "total_balance": "1000.25"}]}]
        assert dict(sb.requests[0].query)["cursor"] == "c2Vl/MTAx+Nw=="


# ----------------------------------------------------------------------------------------- zoomex
def test_zoomex_walk_returns_every_customer_once_with_exact_strings(sb, session):
    users, cursors = walk_broker(sb, session, limit=50)
    assert [u["user_id"] for u in users] == [uid for uid, _ in sb.data.broker]
    assert [[(c["coin"], c["total_balance"]) for c in u["coins"]] for u in users] == [
        coins for _, coins in sb.data.broker]
    assert len(cursors) == 2  # 120 customers, 50 per page
    assert all(set("+/=") <= set(c) for c in cursors)
    amounts = {c["total_balance"] for u in users for c in u["coins"]}
    assert {"0", "0.000000000000000001", "98765432109876543210.123456789", "1000.2500"} <= amounts
    assert any(u["coins"] == [] for u in users)
    assert sb.connections == 1 and sb.count(api="zoomex", status=200) == 3


def test_zoomex_default_limit_is_20_and_coin_filter_keeps_every_uid(sb, session):
    body = zoomex_get(sb, {}, session=session).json()
    assert len(body["result"]["list"]) == 20 and body["time_now"] > 0
    assert set(body) == {"ret_code", "ret_msg", "ext_code", "result", "ext_info", "time_now"}
    users, _ = walk_broker(sb, session, limit=50, coin="BTC")
    assert len(users) == 120
    assert all(c["coin"] == "BTC" for u in users for c in u["coins"])
    expected = sum(1 for _, coins in sb.data.broker for c, _ in coins if c == "BTC")
    assert sum(len(u["coins"]) for u in users) == expected


def test_zoomex_uid_filter(sb, session):
    uid, coins = sb.data.broker[7]
    body = zoomex_get(sb, {"uid": uid}, session=session).json()
    assert body["result"] == {"list": [{"user_id": uid, "coins": [{"coin": c, "total_balance": b}
                                                                 for c, b in coins]}], "next_cursor": ""}
    assert zoomex_get(sb, {"uid": "1"}, session=session).json()["result"]["list"] == []


@pytest.mark.parametrize("limit", ["0", "51", "20.0", "x", "-1"])
def test_zoomex_rejects_bad_limit_with_10001(sb, limit):
    assert zoomex_get(sb, {"limit": limit}).json()["ret_code"] == 10001


def test_zoomex_rejects_an_encoded_cursor_signature_and_a_forged_cursor(sb, session):
    _, cursors = walk_broker(sb, session, limit=50)
    cursor = cursors[0]
    p = {"cursor": cursor, "limit": 50, "api_key": ZKEY, "timestamp": sb.now_ms(), "recv_window": 5000}
    # a client that signs the percent-encoded cursor
    text = "&".join(f"{k}={urlencode({k: p[k]})[len(k) + 1:]}" for k in sorted(p))
    p["sign"] = hmac.new(ZSECRET.encode(), text.encode(), hashlib.sha256).hexdigest()
    body = session.get(f"{sb.base_url}{ZPATH}?{urlencode(p)}").json()
    assert body["ret_code"] == 10004 and body["ret_msg"].startswith("error sign!")
    assert zoomex_get(sb, {"cursor": "bm90LWEtY3Vyc29y"}, session=session).json()["ret_code"] == 10001


def test_zoomex_auth_errors_have_the_real_shape(sb):
    wrong_key = zoomex_get(sb, {}, key="nobody", secret="x").json()
    assert (wrong_key["ret_code"], wrong_key["ret_msg"]) == (10003, "API key is invalid.")
    assert wrong_key["result"] == {} and wrong_key["ext_code"] == ""
    stale = zoomex_get(sb, {}, ts=sb.now_ms() - 6000).json()
    assert stale["ret_code"] == 10002 and "recv_window" in stale["ret_msg"]
    ahead = zoomex_get(sb, {}, ts=sb.now_ms() + 1500, recv_window=100000).json()
    assert ahead["ret_code"] == 10002
    assert zoomex_get(sb, {}, ts=sb.now_ms() - 6000, recv_window=10000).json()["ret_code"] == 0
    assert zoomex_get(sb, {}, tamper=True).json()["ret_code"] == 10004
    limited = zoomex_get(sb, {}, key=LIMITED_CREDENTIALS["api_key"], secret=LIMITED_CREDENTIALS["api_secret"])
    assert limited.json()["ret_code"] == 10005


def test_zoomex_header_sign_must_match_the_query_sign(sb):
    p = {"api_key": ZKEY, "timestamp": sb.now_ms(), "recv_window": 5000}
    text = "&".join(f"{k}={p[k]}" for k in sorted(p))
    p["sign"] = hmac.new(ZSECRET.encode(), text.encode(), hashlib.sha256).hexdigest()
    url = f"{sb.base_url}{ZPATH}?{urlencode(p)}"
    assert requests.get(url).json()["ret_code"] == 0
    assert requests.get(url, headers={"X-BAPI-SIGN": "0" * 64}).json()["ret_code"] == 10004


def test_zoomex_clock_offset_and_server_time(session):
    with Sandbox(clock_offset_ms=-5_000, customers=5) as sb:
        local = int(time.time() * 1000)
        assert zoomex_get(sb, {}, ts=local, session=session).json()["ret_code"] == 10002
        t = session.get(sb.base_url + "/cloud/trade/v3/market/time").json()
        assert t["retCode"] == 0 and abs(t["time"] - (local - 5000)) < 1000
        assert int(t["result"]["timeNano"]) // 10**6 == t["time"]
        assert zoomex_get(sb, {}, ts=t["time"], session=session).json()["ret_code"] == 0


def test_zoomex_rate_limit_answers_too_many_visits():
    clock = ManualClock()
    with Sandbox(customers=5, limits={"zoomex": {"count": 3, "window": 0.5}}, clock=clock) as sb, \
            requests.Session() as s:
        codes = [zoomex_get(sb, {}, session=s).json()["ret_code"] for _ in range(5)]
        assert codes == [0, 0, 0, 10006, 10006]
        limited = [r for r in sb.requests if r.rate_limited]
        assert len(limited) == 2 and all(r.status == 200 for r in limited)
        assert sb.count(api="zoomex", rate_limited=True) == 2
        clock.advance(0.25)
        assert zoomex_get(sb, {}, session=s).json()["ret_code"] == 10006  # the window still holds three
        clock.advance(0.25)
        assert zoomex_get(sb, {}, session=s).json()["ret_code"] == 0  # a rolling window: they have left it


def test_zoomex_default_limit_allows_exactly_five_per_second():
    clock = ManualClock()
    with Sandbox(customers=5, clock=clock) as sb, requests.Session() as s:
        codes = [zoomex_get(sb, {}, session=s).json()["ret_code"] for _ in range(6)]
        assert codes == [0] * 5 + [10006]
        # another key has its own budget
        assert zoomex_get(sb, {}, key="balcli-test-key-0001", secret="balcli-test-secret-0001",
                          session=s).json()["ret_code"] == 0
        clock.advance(1.0)
        assert zoomex_get(sb, {}, session=s).json()["ret_code"] == 0


# ----------------------------------------------------------------------------------------- log, TCP
def test_request_log_records_what_was_sent(sb, session):
    zoomex_get(sb, {"limit": 5, "coin": "USDT"}, session=session)
    session.get(sb.base_url + "/no/such/path")
    first, second = sb.requests
    assert first.method == "GET" and first.path == ZPATH and first.api == "zoomex" and first.status == 200
    assert first.query[:2] == [("limit", "5"), ("coin", "USDT")]
    assert first.headers["X-BAPI-API-KEY"] == ZKEY and first.body == b""
    assert first.connection == second.connection and abs(first.time - time.time()) < 5
    assert second.status == 404 and second.api == "unknown" and not second.rate_limited and second.fault is None
    assert sb.count() == 2 and sb.count(status=404) == 1
    sb.clear_log()
    assert sb.requests == [] and sb.count() == 0


def test_unknown_path_is_a_404_page(sb):
    r = requests.get(sb.base_url + "/private/v1/broker/nothing")
    assert r.status_code == 404 and "<h1>404 Not Found</h1>" in r.text and r.headers["Content-Type"] == "text/html"
    assert sb.requests[-1].api == "zoomex"


def test_tcp_nodelay_and_keep_alive(sb, session):
    for _ in range(30):
        assert session.get(sb.base_url + "/cloud/trade/v3/market/time").status_code == 200
    assert sb.connections == 1 and sb.nodelay == [True]
    with requests.Session() as other:
        other.get(sb.base_url + "/api/v3/time")
    assert sb.connections == 2 and sb.nodelay == [True, True]
    assert {r.connection for r in sb.requests} == {1, 2}


def test_keep_alive_requests_do_not_stall():
    """Stock http.server + Nagle stalls every keep-alive request ~40 ms (the delayed ACK's minimum). The fastest
    of 30 requests shows it: a loaded machine slows many requests, never every one, and a stall slows them all."""
    with Sandbox(customers=5) as sb, requests.Session() as s:
        s.get(sb.base_url + "/api/v3/time")
        took = []
        for _ in range(30):
            started = time.perf_counter()
            s.get(sb.base_url + "/cloud/trade/v3/market/time")
            took.append(time.perf_counter() - started)
        assert min(took) < 0.03, sorted(took)[:5]


def test_raw_socket_pipelined_keep_alive_and_content_length(sb):
    with socket.create_connection(("127.0.0.1", sb.port)) as conn:
        req = b"GET /api/v3/time HTTP/1.1\r\nHost: x\r\n\r\n"
        conn.sendall(req + req)
        data = b""
        while data.count(b"serverTime") < 2:
            data += conn.recv(4096)
    assert data.count(b"HTTP/1.1 200 OK") == 2 and b"Content-Length: " in data
    assert sb.connections == 1


def test_stop_is_idempotent_and_frees_the_port():
    sb = Sandbox(customers=5).start()
    port = sb.port
    requests.get(sb.base_url + "/api/v3/time")
    sb.stop()
    sb.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/api/v3/time", timeout=2)


def test_demo_data_is_deterministic_and_big_sizes_are_cheap():
    a, b = Sandbox(seed=3, customers=50), Sandbox(seed=3, customers=50)
    assert a.data.broker == b.data.broker and a.data.spot == b.data.spot
    assert Sandbox(seed=4, customers=50).data.broker != a.data.broker
    started = time.thread_time()  # the CPU it costs, which other processes on the machine do not change
    big = Sandbox(customers=100_000).data.broker
    assert len(big) == 100_000 and time.thread_time() - started < 5
    ids = [uid for uid, _ in big]
    assert ids == sorted(ids) and len(set(ids)) == len(ids) and len({len(i) for i in ids}) == 1


def test_zoomex_ip_limit_answers_403_and_bans():
    clock = ManualClock()
    with Sandbox(customers=5, limits={"zoomex_ip": {"count": 3, "window": 5.0, "ban": 0.5}}, clock=clock) as sb, \
            requests.Session() as s:
        statuses = [zoomex_get(sb, {}, session=s).status_code for _ in range(5)]
        assert statuses == [200, 200, 200, 403, 403]
        assert sb.count(api="zoomex", status=403, rate_limited=True) == 2
        clock.advance(0.5)
        assert zoomex_get(sb, {}, session=s).status_code == 403  # the ban is over, the window still full: again
        clock.advance(5.0)
        assert zoomex_get(sb, {}, session=s).status_code == 200  # both over


def test_prepare_generates_everything():
    data = Sandbox(customers=30, invitees=20, history=10).data.prepare()
    assert "broker" in vars(data) and "invitees" in vars(data) and len(data.history) == 10
