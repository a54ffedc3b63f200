"""Fault injection of the sandbox (each kind does what it says and counts down), and the standalone server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import signal
import subprocess
import sys
import threading
import time
from urllib.parse import urlencode

import pytest
import requests

from balcli.sandbox import DEMO_CREDENTIALS, DEMO_STATIC_TOKEN, Sandbox, serve
from tests.conftest import interruptible_process

ZK = DEMO_CREDENTIALS["zoomex"]
CW = DEMO_CREDENTIALS["coinw"]
BN = DEMO_CREDENTIALS["binance"]
APATH = "/api/v3/patener/openapi/v1/partner/invitation/user/assets"
STATIC = {"Authorization": f"Bearer {DEMO_STATIC_TOKEN}"}


@pytest.fixture
def sb():
    with Sandbox(customers=60, invitees=45, history=25, rate_limits=False) as box:
        yield box


@pytest.fixture
def s():
    with requests.Session() as session:
        yield session


def zoomex(sb, s, **params):
    p = {**params, "api_key": ZK["api_key"], "timestamp": sb.now_ms(), "recv_window": 5000}
    text = "&".join(f"{k}={p[k]}" for k in sorted(p))
    p["sign"] = hmac.new(ZK["api_secret"].encode(), text.encode(), hashlib.sha256).hexdigest()
    return s.get(f"{sb.base_url}/private/v1/broker/asset-balance?{urlencode(p)}", timeout=5)


def spot(sb, s):
    sign = hashlib.md5(f"api_key={CW['api_key']}&secret_key={CW['api_secret']}".encode()).hexdigest().upper()
    return s.post(f"{sb.base_url}/api/v1/private?command=returnBalances&api_key={CW['api_key']}&sign={sign}",
                  timeout=5)


def binance(sb, s):
    q = urlencode({"type": "SPOT", "timestamp": sb.now_ms()})
    sig = hmac.new(BN["api_secret"].encode(), q.encode(), hashlib.sha256).hexdigest()
    return s.get(f"{sb.base_url}/sapi/v1/accountSnapshot?{q}&signature={sig}",
                 headers={"X-MBX-APIKEY": BN["api_key"]}, timeout=5)


def affiliate(sb, s, page, size=20):
    ts = str(sb.now_ms())
    raw = f"pageNo={page}&pageSize={size}"
    sign = base64.b64encode(hmac.new(CW["api_secret"].encode(), f"{ts}GET{APATH}?{raw}".encode(),
                                     hashlib.sha256).digest()).decode()
    return s.get(f"{sb.base_url}{APATH}?{raw}", headers={"api_key": CW["api_key"], "timestamp": ts, "sign": sign},
                 timeout=5)


def history(sb, s, offset, limit=10):
    return s.get(f"{sb.base_url}/user/balances/history/?limit={limit}&offset={offset}", headers=STATIC, timeout=5)


def test_unknown_fault_or_api_is_refused(sb):
    with pytest.raises(ValueError, match="unknown fault"):
        sb.inject("meteor")
    with pytest.raises(ValueError, match="unknown api"):
        sb.inject("latency", api="kraken")


def test_latency_fault_and_constructor_latency(sb, s):
    sb.inject("latency", api="zoomex", times=1, ms=150)
    started = time.perf_counter()
    assert zoomex(sb, s).status_code == 200
    assert time.perf_counter() - started >= 0.15
    took = []
    for _ in range(3):
        started = time.perf_counter()
        zoomex(sb, s)
        took.append(time.perf_counter() - started)
    assert min(took) < 0.15, took  # used up: every request would wait (a loaded machine may slow one or two)
    assert [r.fault for r in sb.requests] == ["latency", None, None, None]
    with Sandbox(latency_ms=120) as slow, requests.Session() as s2:
        started = time.perf_counter()
        s2.get(slow.base_url + "/api/v3/time")
        assert time.perf_counter() - started >= 0.12


def test_faults_target_one_api_and_count_down(sb, s):
    sb.inject("http_error", api="binance", times=2, status=503)
    assert zoomex(sb, s).status_code == 200
    assert [binance(sb, s).status_code for _ in range(3)] == [503, 503, 200]
    sb.inject("http_error", status=502)  # every API, until cleared
    assert zoomex(sb, s).status_code == 502 and spot(sb, s).status_code == 502
    sb.clear_faults()
    assert spot(sb, s).status_code == 200


def test_http_error_html_page(sb, s):
    sb.inject("http_error", api="coinw_spot", times=1, status=502, html=True)
    r = spot(sb, s)
    assert r.status_code == 502 and r.headers["Content-Type"] == "text/html"
    assert "<center><h1>502 Bad Gateway</h1></center>" in r.text and "nginx" in r.text
    assert sb.requests[-1].fault == "http_error" and sb.requests[-1].status == 502


def test_error_rate_fault_and_constructor_error_rate(sb, s):
    sb.inject("error_rate", api="zoomex", rate=1.0, times=2)
    assert [zoomex(sb, s).status_code for _ in range(3)] == [500, 500, 200]
    with Sandbox(error_rate=0.5, seed=1) as flaky, requests.Session() as s2:
        codes = [s2.get(flaky.base_url + "/api/v3/time").status_code for _ in range(60)]
        assert 10 < codes.count(500) < 50 and set(codes) == {200, 500}
        assert flaky.count(status=500) == codes.count(500)


def test_rate_limit_fault_answers_each_apis_own_response(sb, s):
    sb.inject("rate_limit", times=1, api="zoomex")
    assert zoomex(sb, s).json()["ret_code"] == 10006
    sb.inject("rate_limit", times=1, api="coinw_spot")
    assert spot(sb, s).json()["code"] == 29001
    sb.inject("rate_limit", times=1, api="coinw_affiliate")
    assert affiliate(sb, s, 1).json()["code"] == 29001
    sb.inject("rate_limit", times=1, api="binance", retry_after=7)
    r = binance(sb, s)
    assert (r.status_code, r.headers["Retry-After"], r.json()["code"]) == (429, "7", -1003)
    sb.inject("rate_limit", times=1, api="cryptofuse", retry_after=3)
    r = history(sb, s, 0)
    assert (r.status_code, r.headers["Retry-After"]) == (429, "3")
    assert sb.count(rate_limited=True) == 5
    assert all(r.fault == "rate_limit" for r in sb.requests)


def test_ban_fault(sb, s):
    sb.inject("ban", api="zoomex", times=1)
    assert zoomex(sb, s).status_code == 403
    sb.inject("ban", api="binance", times=1, retry_after=240)
    r = binance(sb, s)
    assert r.status_code == 418 and r.headers["Retry-After"] == "240" and "banned until" in r.json()["msg"]
    assert sb.count(rate_limited=True) == 2


def test_invalid_json_fault(sb, s):
    sb.inject("invalid_json", api="coinw_affiliate", times=1)
    r = affiliate(sb, s, 1)
    assert r.status_code == 200
    with pytest.raises(ValueError):
        json.loads(r.text)
    assert affiliate(sb, s, 1).json()["code"] == "0"


def test_missing_field_fault(sb, s):
    sb.inject("missing_field", api="zoomex", times=1, field="result.next_cursor")
    assert "next_cursor" not in zoomex(sb, s).json()["result"]
    sb.inject("missing_field", api="zoomex", times=1, field="result.list.*.user_id")
    assert all("user_id" not in u for u in zoomex(sb, s).json()["result"]["list"])
    sb.inject("missing_field", api="cryptofuse", times=1, field="total")
    assert "total" not in history(sb, s, 0).json()
    assert "total" in history(sb, s, 0).json()


def test_cursor_cycle_fault(sb, s):
    first = zoomex(sb, s, limit=10).json()["result"]["next_cursor"]
    second = zoomex(sb, s, limit=10, cursor=first).json()["result"]["next_cursor"]
    sb.inject("cursor_cycle", api="zoomex", times=1)
    cycled = zoomex(sb, s, limit=10, cursor=second).json()["result"]["next_cursor"]
    assert cycled == second
    assert zoomex(sb, s, limit=10, cursor=second).json()["result"]["next_cursor"] not in (first, second)


def test_repeat_page_fault(sb, s):
    page1 = affiliate(sb, s, 1).json()["data"]["list"]
    sb.inject("repeat_page", times=1)
    assert affiliate(sb, s, 2).json()["data"]["list"] == page1
    assert affiliate(sb, s, 2).json()["data"]["list"] != page1
    h0 = history(sb, s, 0).json()["history"]
    sb.inject("repeat_page", api="cryptofuse", times=1)
    assert history(sb, s, 10).json()["history"] == h0


def test_short_and_unreachable_totals(sb, s):
    sb.inject("short_total", api="coinw_affiliate", times=1)
    body = affiliate(sb, s, 2).json()["data"]
    assert body == {"total": 45, "list": []}
    sb.inject("unreachable_total", api="coinw_affiliate", extra=5)
    assert affiliate(sb, s, 3).json()["data"]["total"] == 50
    assert affiliate(sb, s, 4).json()["data"] == {"total": 50, "list": []}
    sb.inject("short_total", api="cryptofuse", times=1)
    assert history(sb, s, 0).json()["history"] == [] and history(sb, s, 0).json()["total"] == 25


def test_total_changes_fault(sb, s):
    sb.inject("total_changes", api="cryptofuse", times=1, delta=3)
    assert [history(sb, s, o).json()["total"] for o in (0, 10, 20)] == [28, 25, 25]
    sb.inject("total_changes", api="coinw_affiliate", times=1)
    assert [affiliate(sb, s, p).json()["data"]["total"] for p in (1, 2)] == [46, 45]


def test_timeout_fault_sleeps_before_answering(sb, s):
    sb.inject("timeout", api="binance", times=1, seconds=1.0)
    with pytest.raises(requests.Timeout):
        s.get(sb.base_url + "/api/v3/time", timeout=0.2)
    with requests.Session() as fresh:
        assert fresh.get(sb.base_url + "/api/v3/time", timeout=2).status_code == 200


def test_drop_fault_closes_without_answer(sb, s):
    sb.inject("drop", api="coinw_spot", times=1)
    with pytest.raises(requests.ConnectionError):
        spot(sb, s)
    assert spot(sb, s).status_code == 200
    assert sb.requests[0].status == 0 and sb.requests[0].fault == "drop"


@pytest.mark.parametrize("shape,expected", [
    ("{}", {}), ("null", None), ('""', ""), ("missing", "absent"), ("empty_body", "no body"),
])
def test_empty_spot_shapes(sb, s, shape, expected):
    sb.inject("empty_spot", times=1, shape=shape)
    r = spot(sb, s)
    assert r.status_code == 200
    if expected == "no body":
        assert r.content == b""
    else:
        body = r.json()
        assert body["code"] == "200" and body["success"] is True
        assert body.get("data", "absent") == expected
    assert spot(sb, s).json()["data"] == sb.data.spot


def test_serve_prints_exports_and_config(capsys):
    out = io.StringIO()
    box = serve(port=0, customers=10, out=out, block=False)
    try:
        text = out.getvalue()
        url = box.base_url
        for var in ("ZOOMEX", "COINW", "BINANCE", "CRYPTOFUSE"):
            assert f"export BALCLI_{var}_BASE_URL={url}\n" in text
        assert f"export BALCLI_ZOOMEX_API_KEY={DEMO_CREDENTIALS['zoomex']['api_key']}\n" in text
        assert f"export BALCLI_COINW_API_SECRET={DEMO_CREDENTIALS['coinw']['api_secret']}\n" in text
        assert f"export BALCLI_CRYPTOFUSE_CLIENT_ID={DEMO_CREDENTIALS['cryptofuse']['client_id']}\n" in text
        assert f"    zoomex:     {{base_url: {url}}}" in text
        assert requests.get(url + "/api/v3/time").status_code == 200
        assert len(box.data.broker) == 10
    finally:
        box.stop()


def test_serve_blocks_until_stopped():
    stop, out = threading.Event(), io.StringIO()
    thread = threading.Thread(target=serve, kwargs={"out": out, "stop": stop, "customers": 5})
    thread.start()
    for _ in range(100):
        if "listening on" in out.getvalue():
            break
        time.sleep(0.02)
    url = out.getvalue().split("listening on ")[1].split()[0]
    assert requests.get(url + "/api/v3/time").status_code == 200
    stop.set()
    thread.join(3)
    assert not thread.is_alive()


def test_module_entry_point_serves_and_exits_quietly_on_interrupt():
    with interruptible_process([sys.executable, "-m", "balcli.sandbox", "--customers", "7", "--no-rate-limits"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        line = proc.stdout.readline()
        assert line.startswith("balcli sandbox listening on http://127.0.0.1:")
        url = line.split("listening on ")[1].split()[0]
        assert requests.get(url + "/v1/perpum/time").json()["code"] == 0
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        _, err = proc.communicate(timeout=5)
        assert proc.returncode == 0 and err == ""
