"""The transport (balcli.http): one session, timeouts, safe retries with capped jittered backoff and
Retry-After, the rate limiter, clock-skew recovery, redacted -v/-vv logging, and every API's status/envelope
-> error mapping (README "Exit codes" and "When things go wrong"; "Errors" in each docs/apis/ page). HTTP is mocked with `responses`."""

from __future__ import annotations

import email.utils
import hashlib
import io
import itertools
import json
import re
import threading
import time
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests
import responses
from requests.structures import CaseInsensitiveDict

from balcli import __version__, cancel, http
from balcli.errors import (
    AuthError,
    ClockSkewError,
    ConfigError,
    ExitCode,
    Interrupted,
    NetworkError,
    RateLimitError,
    ResponseError,
    UsageError,
)
from balcli.http import Answer, Api, HttpClient, Prepared, RateLimiter
from balcli.redaction import redact_query
from balcli.sources import cryptofuse
from balcli.sources.binance import check_binance
from balcli.sources.coinw_affiliate import check_coinw_affiliate
from balcli.sources.coinw_spot import check_coinw_spot
from balcli.sources.cryptofuse import check_cryptofuse
from balcli.sources.zoomex import check_zoomex

BASE = "https://api.example.test"
PATH = "/v1/balances"
URL = BASE + PATH
TIME_URL = BASE + "/v1/time"
KEY = "fake-api-key-0123456789"
SECRET = "fake-secret-abcdef0123"
NOW = 1_700_000_000.0  # the client's (wrong) wall clock in the clock-skew tests


class FakeApi(Api):
    """A tiny exchange: signs ``timestamp`` into the query and sends every header that must be redacted."""

    name = "fake"
    label = "Fake"
    base_url = BASE

    def __init__(self, check=check_cryptofuse, *, has_time: bool = True) -> None:
        self._check = check
        self.has_time = has_time
        self.prepared: list[Prepared] = []

    def prepare(self, method, path, params, now_ms):
        pairs = [(k, str(v)) for k, v in params] + [("timestamp", str(now_ms)), ("api_key", KEY)]
        signature = hashlib.sha256((SECRET + urlencode(pairs)).encode()).hexdigest()
        headers = {"X-BAPI-API-KEY": KEY, "X-BAPI-SIGN": signature, "X-BAPI-TIMESTAMP": str(now_ms),
                   "X-MBX-APIKEY": KEY, "Authorization": f"Bearer tok-{SECRET}", "Accept": "application/json"}
        p = Prepared(method, self.base_url + path, pairs + [("sign", signature), ("signature", signature)],
                     headers, log_note=f"signed: {urlencode(pairs)}&secret={SECRET}")
        self.prepared.append(p)
        return p

    def check(self, answer):
        return self._check(answer)

    def server_time_ms(self, client):
        if not self.has_time:
            return None
        return client.get_json(self, "/v1/time")["time"]

    def secrets(self):
        return (SECRET, KEY)


def query_of(request) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(request.url).query))


def ok(body=None, status=200, headers=None):
    return {"status": status, "body": json.dumps({"balances": []} if body is None else body),
            "headers": headers or {}}


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as r:
        yield r


@pytest.fixture
def err():
    return io.StringIO()


def client(**kw) -> HttpClient:
    kw.setdefault("err", io.StringIO())
    return HttpClient(**kw)


# -- the session --------------------------------------------------------------------------------------------

def test_one_session_with_the_versioned_user_agent_and_the_timeout_on_every_request(rsps, monkeypatch):
    created = []
    real_session = requests.Session

    class CountingSession(real_session):
        def __init__(self):
            super().__init__()
            created.append(self)

    monkeypatch.setattr(requests, "Session", CountingSession)
    rsps.get(URL, json={"balances": ["a"]})
    c = client(timeout=3.5)
    assert [c.call(FakeApi(), "GET", PATH) for _ in range(3)] == [{"balances": ["a"]}] * 3
    assert len(created) == 1 and c.session is created[0] and c.session is c.session
    assert len(rsps.calls) == 3
    for call in rsps.calls:
        assert call.request.headers["User-Agent"].startswith(f"balcli/{__version__} ")
        assert call.request.req_kwargs["timeout"].total == 3.5  # connect + whole body (the deadline)


def test_params_are_sent_in_order_and_the_answer_is_checked(rsps):
    rsps.get(URL, json={"balances": [{"coin": "BTC", "free": "1.5"}]})
    result = client().call(FakeApi(), "GET", PATH, [("coin", "BTC"), ("limit", 50)])
    assert result == {"balances": [{"coin": "BTC", "free": "1.5"}]}
    q = list(parse_qsl(urlsplit(rsps.calls[0].request.url).query))
    assert [k for k, _ in q] == ["coin", "limit", "timestamp", "api_key", "sign", "signature"]


# -- retries: only where safe and useful --------------------------------------------------------------------

def _fail(rsps, kind: str, times: int) -> None:
    """Register ``times`` failing answers of one kind (first), then a success."""
    zoomex_code = {"zoomex_10006": 10006, "zoomex_10018": 10018, "zoomex_10016": 10016}.get(kind)
    for _ in range(times):
        if kind == "connection":
            rsps.get(URL, body=requests.ConnectionError("[Errno 111] Connection refused"))
        elif kind == "read_timeout":
            rsps.get(URL, body=requests.ReadTimeout("read timed out"))
        elif kind == "connect_timeout":
            rsps.get(URL, body=requests.ConnectTimeout("connect timed out"))
        elif kind.isdigit():
            rsps.get(URL, status=int(kind), json={"code": -1001, "msg": "Internal error"})
        elif zoomex_code:
            rsps.get(URL, json={"ret_code": zoomex_code, "ret_msg": "Too many visits!"})
        elif kind == "coinw_29001":
            rsps.get(URL, json={"code": 29001, "msg": "API access frequently", "success": False})
        elif kind == "binance_-1003":
            rsps.get(URL, status=400, json={"code": -1003, "msg": "Too many requests"})
    success = {"ret_code": 0, "ret_msg": "OK", "result": {"ok": 1}} if zoomex_code else \
        {"code": "200", "data": {"ok": 1}, "success": True} if kind == "coinw_29001" else {"ok": 1}
    rsps.get(URL, json=success)


RETRIED = {  # kind -> the check function that reads it
    "connection": check_cryptofuse, "read_timeout": check_cryptofuse, "connect_timeout": check_cryptofuse,
    "429": check_cryptofuse, "500": check_cryptofuse, "502": check_cryptofuse, "503": check_cryptofuse,
    "504": check_cryptofuse, "zoomex_10006": check_zoomex, "zoomex_10018": check_zoomex,
    "zoomex_10016": check_zoomex, "coinw_29001": check_coinw_spot, "binance_-1003": check_binance,
}


@pytest.mark.parametrize("kind", sorted(RETRIED))
def test_retryable_failures_are_retried_until_success(kind, rsps, no_sleep):
    _fail(rsps, kind, 2)
    result = client(max_retries=4).call(FakeApi(RETRIED[kind]), "GET", PATH)
    assert result == {"ok": 1}
    assert len(rsps.calls) == 3
    assert len(no_sleep) == 2 and all(s > 0 for s in no_sleep)


@pytest.mark.parametrize("kind,exit_code", [
    ("connection", ExitCode.NETWORK), ("read_timeout", ExitCode.NETWORK), ("503", ExitCode.NETWORK),
    ("429", ExitCode.RATE_LIMITED), ("zoomex_10006", ExitCode.RATE_LIMITED),
])
def test_persistent_failures_give_up_after_max_retries(kind, exit_code, rsps, no_sleep):
    _fail(rsps, kind, 10)
    with pytest.raises((NetworkError, RateLimitError)) as info:
        client(max_retries=2).call(FakeApi(RETRIED[kind]), "GET", PATH)
    assert info.value.exit_code == exit_code
    assert len(rsps.calls) == 3 and len(no_sleep) == 2
    if exit_code == ExitCode.NETWORK:
        assert "gave up after 3 attempts" in info.value.hint


def test_connection_errors_and_timeouts_say_what_happened(rsps, no_sleep):
    _fail(rsps, "connection", 1)
    with pytest.raises(NetworkError) as refused:
        client(max_retries=0).call(FakeApi(), "GET", PATH)
    assert "cannot reach Fake at https://api.example.test: Connection refused" in str(refused.value)
    rsps.reset()
    _fail(rsps, "read_timeout", 1)
    with pytest.raises(NetworkError) as slow:
        client(max_retries=0, timeout=2.5).call(FakeApi(), "GET", PATH)
    assert "did not answer within 2.5 s" in str(slow.value) and "timeout" in slow.value.hint


class HeaderApi(FakeApi):
    """Sends a header value that cannot go on the wire (a key with a pasted line break)."""

    def prepare(self, method, path, params, now_ms):
        p = super().prepare(method, path, params, now_ms)
        return p._replace(headers={**p.headers, "X-BAPI-API-KEY": KEY + "\n"})


@pytest.mark.parametrize("failure", [
    requests.exceptions.InvalidURL("Failed to parse: http://127.0.0.1:99999"),
    requests.exceptions.InvalidSchema("No connection adapters were found"),
    requests.exceptions.MissingSchema("Invalid URL 'x': No scheme supplied"),
    requests.exceptions.InvalidHeader(f"Invalid return character in header value: {KEY!r}"),
    UnicodeEncodeError("latin-1", KEY + "\u2026", len(KEY), len(KEY) + 1, "ordinal not in range(256)"),
])
def test_a_request_that_cannot_be_built_is_not_retried_nor_a_crash(rsps, no_sleep, failure):
    """Was: retried as "cannot reach ...: InvalidURL" (exit 6 after ~7 s), or internal error (exit 1)."""
    rsps.get(URL, body=failure)
    with pytest.raises(ConfigError) as info:
        client(max_retries=4).call(FakeApi(), "GET", PATH)
    assert len(rsps.calls) == 1 and no_sleep == []
    assert info.value.exit_code == ExitCode.CONFIG
    assert f"cannot send a request to Fake at {BASE}" in str(info.value) and type(failure).__name__ in str(info.value)
    assert KEY not in str(info.value) + info.value.hint


def test_a_header_with_a_line_break_is_refused_once_without_showing_it(rsps, no_sleep):
    rsps.get(URL, json={})
    with pytest.raises(ConfigError) as info:
        client(max_retries=4).call(HeaderApi(), "GET", PATH)
    assert no_sleep == [] and "(InvalidHeader)" in str(info.value) and KEY not in str(info.value)


def test_max_retries_zero_means_exactly_one_attempt(rsps, no_sleep):
    _fail(rsps, "503", 3)
    with pytest.raises(NetworkError) as info:
        client(max_retries=0).call(FakeApi(), "GET", PATH)
    assert info.value.exit_code == 6 and "HTTP 503" in str(info.value)
    assert len(rsps.calls) == 1 and no_sleep == []
    assert "gave up" not in (info.value.hint or "")


NOT_RETRIED = [  # (check, HTTP status, body, error class, exit code)
    (check_cryptofuse, 401, {"error": {"code": "authentication_failed", "message": "bad"}}, AuthError, 4),
    (check_cryptofuse, 403, {"error": {"code": "forbidden", "message": "scope"}}, AuthError, 4),
    (check_cryptofuse, 400, {"error": {"code": "invalid", "message": "bad limit"}}, UsageError, 2),
    (check_zoomex, 200, {"ret_code": 10003, "ret_msg": "invalid api key"}, AuthError, 4),
    (check_zoomex, 200, {"ret_code": 10004, "ret_msg": "error sign"}, AuthError, 4),
    (check_zoomex, 200, {"ret_code": 10001, "ret_msg": "params error"}, UsageError, 2),
    (check_zoomex, 200, {"ret_code": 10009, "ret_msg": "ip banned"}, RateLimitError, 5),
    (check_zoomex, 403, "access too frequent", RateLimitError, 5),
    (check_binance, 418, {"code": -1003, "msg": "IP banned until 1"}, RateLimitError, 5),
    (check_binance, 400, {"code": -1022, "msg": "Signature for this request is not valid."}, AuthError, 4),
    (check_binance, 401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions"}, AuthError, 4),
    (check_binance, 400, {"code": -1102, "msg": "Mandatory parameter 'type' was not sent"}, UsageError, 2),
    (check_coinw_spot, 200, {"code": "-103", "msg": "用户API出错"}, AuthError, 4),
    (check_coinw_affiliate, 200, {"code": 6003, "message": "require more permission"}, AuthError, 4),
    (check_cryptofuse, 404, {"error": {"code": "not_found"}}, ResponseError, 7),
    (check_cryptofuse, 501, "<html><body>501 Not Implemented</body></html>", NetworkError, 6),
    (check_cryptofuse, 404, "<html><body><h1>404 Not Found</h1></body></html>", NetworkError, 6),
]


@pytest.mark.parametrize("check,status,body,cls,code", NOT_RETRIED,
                         ids=[f"{c.__name__}-{s}-{i}" for i, (c, s, *_) in enumerate(NOT_RETRIED)])
def test_credentials_parameters_bans_and_unknown_failures_are_never_retried(check, status, body, cls, code,
                                                                           rsps, no_sleep):
    text = body if isinstance(body, str) else json.dumps(body)
    rsps.get(URL, status=status, body=text, headers={"Retry-After": "1"})
    with pytest.raises(cls) as info:
        client(max_retries=4).call(FakeApi(check), "GET", PATH)
    assert info.value.exit_code == code
    assert len(rsps.calls) == 1, "a failure that a retry cannot fix was retried"
    assert no_sleep == []
    if cls is NetworkError:
        assert "did not retry" in info.value.hint


def test_a_rate_limit_page_in_html_is_still_a_rate_limit(rsps, no_sleep):
    rsps.get(URL, status=429, body="<html><body><h1>429 Too Many Requests</h1></body></html>",
             headers={"Retry-After": "2"})
    rsps.get(URL, json={"ok": 1})
    limiter = RateLimiter(5.0)
    assert client().call(FakeApi(), "GET", PATH, limiter=limiter) == {"ok": 1}
    assert len(rsps.calls) == 2 and 2.0 <= no_sleep[0] <= 2.25
    rsps.get(URL, status=429, body="<html><body>429</body></html>")
    rsps.replace(responses.GET, URL, status=429, body="<html><body>429</body></html>")
    with pytest.raises(RateLimitError) as info:
        client(max_retries=0).call(FakeApi(), "GET", PATH)
    assert info.value.exit_code == 5


# -- backoff ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("pick,expected", [
    ("high", [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]),  # doubled from BACKOFF_BASE, capped at BACKOFF_CAP
    ("low", [0.25, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0]),  # equal jitter: never less than half the step
])
def test_network_backoff_is_exponential_jittered_and_capped(pick, expected, rsps, no_sleep, monkeypatch):
    monkeypatch.setattr(http.random, "uniform", lambda a, b: b if pick == "high" else a)
    _fail(rsps, "503", 7)
    assert client(max_retries=7).call(FakeApi(), "GET", PATH) == {"ok": 1}
    assert no_sleep == expected


def test_rate_limit_backoff_starts_at_a_second(rsps, no_sleep, monkeypatch):
    monkeypatch.setattr(http.random, "uniform", lambda a, b: b)
    _fail(rsps, "zoomex_10006", 5)
    client(max_retries=5).call(FakeApi(check_zoomex), "GET", PATH)
    assert no_sleep == [1.0, 2.0, 4.0, 8.0, 8.0]


def test_real_jitter_stays_within_each_step_and_varies(rsps, no_sleep):
    http.random.seed(7)
    _fail(rsps, "502", 6)
    client(max_retries=6).call(FakeApi(), "GET", PATH)
    steps = [min(8.0, 0.5 * 2 ** i) for i in range(6)]
    assert all(step / 2 <= s <= step for s, step in zip(no_sleep, steps))
    assert len({round(s / step, 6) for s, step in zip(no_sleep, steps)}) > 1  # not a fixed fraction


@pytest.mark.parametrize("status", [429, 503])
def test_a_positive_retry_after_in_seconds_is_honoured(status, rsps, no_sleep):
    rsps.get(URL, status=status, json={}, headers={"Retry-After": "7"})
    rsps.get(URL, json={"ok": 1})
    assert client().call(FakeApi(), "GET", PATH) == {"ok": 1}
    assert len(no_sleep) == 1 and 7.0 <= no_sleep[0] <= 7.25


def test_a_retry_after_http_date_is_honoured(rsps, no_sleep, monkeypatch):
    monkeypatch.setattr("time.time", lambda: NOW)  # read against a clock that does not move while the test runs
    when = email.utils.formatdate(NOW + 30, usegmt=True)
    rsps.get(URL, status=429, json={}, headers={"Retry-After": when})
    rsps.get(URL, json={"ok": 1})
    client().call(FakeApi(), "GET", PATH)
    assert len(no_sleep) == 1 and 30.0 <= no_sleep[0] <= 30.25


@pytest.mark.parametrize("value", ["0", "-5", "soon", email.utils.formatdate(time.time() - 60, usegmt=True)])
def test_a_zero_past_or_unreadable_retry_after_falls_back_to_backoff(value, rsps, no_sleep, monkeypatch):
    monkeypatch.setattr(http.random, "uniform", lambda a, b: b)
    rsps.get(URL, status=429, json={}, headers={"Retry-After": value})
    rsps.get(URL, json={"ok": 1})
    client().call(FakeApi(), "GET", PATH)
    assert no_sleep == [1.0]


def test_a_page_fetch_stopped_during_its_back_off_ends_at_once_without_another_attempt(rsps):
    """A page thread whose consumer went away (`| head`, an error on an earlier page) stops waiting out its
    Retry-After, and sends nothing more."""
    rsps.get(URL, status=503, json={}, headers={"Retry-After": "30"})
    rsps.get(URL, json={"ok": 1})
    stop, outcome = threading.Event(), []

    def page():
        try:
            outcome.append(cancel.running_until(stop, client().call, FakeApi(), "GET", PATH))
        except Interrupted as exc:
            outcome.append(exc)

    thread = threading.Thread(target=page)
    thread.start()
    deadline = time.perf_counter() + 10
    while not rsps.calls and time.perf_counter() < deadline:
        time.sleep(0.005)
    stop.set()
    thread.join(10)
    assert not thread.is_alive() and len(rsps.calls) == 1
    assert len(outcome) == 1 and isinstance(outcome[0], Interrupted)


def test_retry_after_longer_than_the_maximum_ends_at_once_with_exit_5(rsps, no_sleep):
    rsps.get(URL, status=429, json={}, headers={"Retry-After": str(int(HttpClient.MAX_RETRY_AFTER) + 60)})
    with pytest.raises(RateLimitError) as info:
        client(max_retries=4).call(FakeApi(), "GET", PATH)
    assert info.value.exit_code == 5 and info.value.retry_after == HttpClient.MAX_RETRY_AFTER + 60
    assert re.search(r"wait until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", info.value.hint)
    assert len(rsps.calls) == 1 and no_sleep == []


def test_a_429_holds_the_limiter_back_for_later_requests(rsps, no_sleep):
    rsps.get(URL, status=429, json={}, headers={"Retry-After": "3"})
    rsps.get(URL, json={"ok": 1})
    now = [100.0]
    limiter = RateLimiter(5.0, clock=lambda: now[0], sleep=lambda s: None)
    client().call(FakeApi(), "GET", PATH, limiter=limiter)
    assert limiter._next >= 103.0  # a concurrent caller would now wait out the Retry-After too


def test_on_wait_is_told_why_balcli_is_waiting(rsps, no_sleep):
    waits = []
    _fail(rsps, "503", 1)
    client(on_wait=lambda s, why: waits.append(why)).call(FakeApi(), "GET", PATH)
    assert len(waits) == 1 and waits[0].startswith("retry 1/4 after Fake failed with HTTP 503")


# -- the rate limiter ---------------------------------------------------------------------------------------

def test_limiter_spaces_requests_at_just_under_the_rate():
    now = [50.0]
    slept = []

    def sleep(s):
        slept.append(s)
        now[0] += s

    limiter = RateLimiter(5.0, clock=lambda: now[0], sleep=sleep)
    step = 1 / (5 * RateLimiter.HEADROOM)
    assert 0.95 <= RateLimiter.HEADROOM < 1 and limiter.interval == pytest.approx(step)
    starts = []
    for _ in range(6):
        limiter.acquire()
        starts.append(now[0])
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert gaps == pytest.approx([step] * 5)
    assert slept[0] == pytest.approx(step) and len(slept) == 5  # the first request does not wait
    now[0] += 10  # idle time is not banked into a burst
    assert limiter.acquire() == 0
    assert limiter.acquire() == pytest.approx(step)


def test_limiter_reanchors_on_the_real_send():
    now = [0.0]
    limiter = RateLimiter(5.0, clock=lambda: now[0], sleep=lambda s: None)
    assert limiter.acquire() == 0
    now[0] += 0.15  # signing or a first connection delayed this request after its slot
    limiter.sent()
    assert limiter.acquire() == pytest.approx(limiter.interval)  # counted from the send, not from the slot
    limiter.sent()


def test_a_worker_late_for_its_slot_and_the_next_one_on_time_still_go_out_a_full_spacing_apart():
    """Under a busy CPU a worker may wake from its slot late, after the next worker's slot: whichever goes out
    first, the other waits the spacing from it (a strict rolling window would refuse the pair)."""
    now = [0.0]
    limiter = RateLimiter(5.0, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    assert limiter.acquire() == 0  # worker A's slot: 0 (then A is descheduled)
    assert limiter.acquire() == pytest.approx(limiter.interval)  # worker B's slot, on time
    assert limiter.wait_turn() == 0  # B goes first
    limiter.sent()
    b_sent = now[0]
    now[0] += 0.04  # A wakes 40 ms after B's send, ~250 ms late for its own slot
    assert limiter.wait_turn() == pytest.approx(limiter.interval - 0.04)
    assert now[0] - b_sent == pytest.approx(limiter.interval)
    now[0] += 1.0  # an acquire without a send (a page cancelled) holds nobody up
    limiter.acquire()
    assert limiter.acquire() == pytest.approx(limiter.interval) and limiter.wait_turn() == 0


def test_limiter_is_thread_safe_under_contention():
    clock_lock = threading.Lock()
    now = [0.0]

    def clock():
        with clock_lock:
            return now[0]

    limiter = RateLimiter(3.0, clock=clock, sleep=lambda s: time.sleep(0))
    starts: list[float] = []
    go = threading.Barrier(16)

    def worker():
        go.wait()
        for _ in range(10):
            wait = limiter.acquire()
            with clock_lock:
                starts.append(now[0] + wait)  # when this request would start

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    starts.sort()
    assert len(starts) == 160
    interval = limiter.interval
    assert starts == pytest.approx([i * interval for i in range(160)])  # no two share a slot, none skipped


def test_hold_pushes_later_requests_back_but_never_pulls_them_forward():
    now = [10.0]
    limiter = RateLimiter(2.0, clock=lambda: now[0], sleep=lambda s: None)
    assert limiter.acquire() == 0
    limiter.hold(5.0)
    assert limiter.acquire() == pytest.approx(5.0)
    limiter.hold(0.1)  # shorter than what is already booked: no change
    assert limiter.acquire() == pytest.approx(5.0 + limiter.interval)


# -- clock skew ---------------------------------------------------------------------------------------------

def _skew_server(rsps, server_ms: int, *, always_reject: bool = False):
    def balances(request):
        ts = int(query_of(request)["timestamp"])
        if always_reject or abs(ts - server_ms) > 1000:
            return 200, {}, json.dumps({"ret_code": 10002, "ret_msg": "request time outside window"})
        return 200, {}, json.dumps({"ret_code": 0, "ret_msg": "OK", "result": {"ts": ts}})

    rsps.add_callback(responses.GET, URL, callback=balances)
    rsps.get(TIME_URL, json={"time": server_ms})


@pytest.mark.parametrize("skew_ms,word", [(5000, "behind"), (-3250, "ahead of")])
def test_clock_skew_resyncs_once_re_signs_and_warns(skew_ms, word, rsps, no_sleep):
    server_ms = int(NOW * 1000) + skew_ms
    _skew_server(rsps, server_ms)
    out = io.StringIO()
    c = HttpClient(err=out, wall=lambda: NOW)
    api = FakeApi(check_zoomex)
    assert c.call(api, "GET", PATH) == {"ts": server_ms}
    assert [call.request.url.split("?")[0] for call in rsps.calls] == [URL, TIME_URL, URL]
    assert c.offsets == {"fake": skew_ms}
    first, second = (dict(p.query) for p in api.prepared)
    assert int(first["timestamp"]) == int(NOW * 1000) and int(second["timestamp"]) == server_ms
    assert second["sign"] != first["sign"]  # re-signed with the corrected timestamp
    assert query_of(rsps.calls[2].request)["sign"] == second["sign"]
    assert out.getvalue() == (f"balcli: warning: the local clock is {abs(skew_ms) / 1000:.3f} s {word} "
                              "Fake's server; corrected for this run (sync the system clock to avoid this)\n")
    assert no_sleep == []
    # later calls on the same client use the offset straight away
    c.call(api, "GET", PATH)
    assert len(rsps.calls) == 4


def test_a_second_clock_skew_error_is_raised_with_exit_7(rsps):
    _skew_server(rsps, int(NOW * 1000) + 5000, always_reject=True)
    c = client(wall=lambda: NOW)
    with pytest.raises(ClockSkewError) as info:
        c.call(FakeApi(check_zoomex), "GET", PATH)
    assert info.value.exit_code == 7 and info.value.api_code == 10002
    assert "sync the system clock" in info.value.hint
    urls = [call.request.url.split("?")[0] for call in rsps.calls]
    assert urls == [URL, TIME_URL, URL]  # exactly one server-time fetch, exactly one retry


def test_clock_skew_without_a_time_endpoint_or_with_a_failing_one_is_raised_at_once(rsps):
    rsps.get(URL, json={"ret_code": 10021, "ret_msg": "timestamp outside recvWindow"})
    with pytest.raises(ClockSkewError):
        client().call(FakeApi(check_zoomex, has_time=False), "GET", PATH)
    assert len(rsps.calls) == 1
    rsps.get(TIME_URL, status=404, body="not found")
    c = client()
    with pytest.raises(ClockSkewError) as info:
        c.call(FakeApi(check_zoomex), "GET", PATH)
    assert info.value.exit_code == 7 and c.offsets == {}
    assert [call.request.url.split("?")[0] for call in rsps.calls[1:]] == [URL, TIME_URL]


def test_the_resync_retry_does_not_use_up_a_retry(rsps, no_sleep):
    server_ms = int(NOW * 1000) + 4000
    _skew_server(rsps, server_ms)
    c = client(max_retries=0, wall=lambda: NOW)
    assert c.call(FakeApi(check_zoomex), "GET", PATH) == {"ts": server_ms}


# -- -v / -vv logging ---------------------------------------------------------------------------------------

LINE = re.compile(r"^balcli: GET /v1/balances (\d{3}|-) \d+ ms attempt (\d) wait (\d+) ms$")


def test_quiet_by_default(rsps, err):
    rsps.get(URL, json={"ok": 1})
    HttpClient(err=err).call(FakeApi(), "GET", PATH)
    assert err.getvalue() == ""


def test_v_prints_one_line_per_request_with_status_time_attempt_and_wait(rsps, err, no_sleep):
    rsps.get(URL, body=requests.ConnectionError("[Errno 111] Connection refused"))
    rsps.get(URL, status=503, json={})
    rsps.get(URL, json={"ok": 1})
    rsps.get(URL, json={"ok": 2})
    now = [0.0]
    limiter = RateLimiter(5.0, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    c = HttpClient(err=err, verbose=1)
    c.call(FakeApi(), "GET", PATH, limiter=limiter)
    c.call(FakeApi(), "GET", PATH, limiter=limiter)
    lines = err.getvalue().splitlines()
    assert len(lines) == 4 and all(LINE.match(line) for line in lines), lines
    fields = [LINE.match(line).groups() for line in lines]
    assert [f[0] for f in fields] == ["-", "503", "200", "200"]
    assert [f[1] for f in fields] == ["1", "2", "3", "1"]
    interval_ms = limiter.interval * 1000  # one slot per request at just under 5/s, each after the one before
    assert [int(f[2]) for f in fields] == [0] + [round(interval_ms)] * 3
    assert SECRET not in err.getvalue() and KEY not in err.getvalue()


def test_vv_adds_query_headers_note_and_body_with_every_secret_redacted(rsps, err):
    body = {"access_token": "eyJhbGciOi.tok.en", "token_type": "Bearer", "echo": f"{SECRET} and {KEY}",
            "nested": {"refresh_token": "r-123", "amount": "1.5"}}
    rsps.get(URL, json=body)
    HttpClient(err=err, verbose=2).call(FakeApi(), "GET", PATH, [("coin", "BTC")])
    log = err.getvalue()
    assert SECRET not in log and KEY not in log
    assert "eyJhbGciOi" not in log and "r-123" not in log
    lines = log.splitlines()
    assert LINE.match(lines[0])
    query = next(line for line in lines if line.startswith("balcli:   > query: "))
    assert re.fullmatch(r"balcli:   > query: coin=BTC&timestamp=\d+&api_key=\*\*\*&sign=\*\*\*"
                        r"&signature=\*\*\*", query)
    headers = next(line for line in lines if line.startswith("balcli:   > headers: "))
    for name in ("X-BAPI-API-KEY", "X-BAPI-SIGN", "X-MBX-APIKEY", "Authorization"):
        assert f"{name}: ***" in headers
    assert re.search(r"X-BAPI-TIMESTAMP: \d{13}", headers)  # not a secret: needed to debug clock skew
    assert "Accept: application/json" in headers
    note = next(line for line in lines if line.startswith("balcli:   > signed: "))
    assert note.endswith("&secret=***") and "api_key=***" in note
    got = next(line for line in lines if line.startswith("balcli:   < body: "))
    assert '"access_token": "***"' in got and '"refresh_token": "***"' in got
    assert '"token_type": "Bearer"' in got and '"amount": "1.5"' in got and '"echo": "*** and ***"' in got


def test_vv_never_shows_a_secret_even_in_errors_and_long_bodies(rsps, err, no_sleep):
    rsps.get(URL, status=500, body=("x" * 5000) + SECRET)
    rsps.get(URL, status=401, json={"error": {"code": "authentication_failed", "message": f"bad {SECRET}"}})
    c = HttpClient(err=err, verbose=2)
    with pytest.raises(AuthError):
        c.call(FakeApi(), "GET", PATH)
    log = err.getvalue()
    assert SECRET not in log and re.search(r"x… \(50\d\d chars\)", log) and len(rsps.calls) == 2


def test_vv_redacts_a_secret_that_straddles_the_body_log_limit(rsps, err):
    rsps.get(URL, body=("x" * (http.BODY_LOG_LIMIT - 10)) + SECRET + ("y" * 100))
    with pytest.raises(ResponseError):
        HttpClient(err=err, verbose=2).call(FakeApi(), "GET", PATH)
    assert SECRET[:10] not in err.getvalue()  # redacted before cutting, not half-cut then missed


def test_a_registered_secret_is_scrubbed_from_warnings_too(err):
    c = HttpClient(err=err)
    c.add_secrets(["hunter2-secret", "", "abc"])  # too short or empty: not registered (would blank the log)
    c.warn("the secret hunter2-secret leaked, abc stays")
    assert err.getvalue() == "balcli: warning: the secret *** leaked, abc stays\n"


# -- status and envelope -> typed errors (docs/apis/README.md#errors-and-exit-codes) ------------------------

class Labelled(Api):
    name = "t"
    label = "Exch"


LONG_TOKEN = "9f8e" + "0123456789abcdef" * 10 + "beef"  # longer than the 120 characters an error message shows


@pytest.mark.parametrize("body", [
    '{"access_token":"' + LONG_TOKEN,  # cut short: no closing quote
    '{"access_token": "' + LONG_TOKEN + '", "token_type": "Bearer"',
    "access_token=" + LONG_TOKEN + "&token_type=bearer&expires_in=3600",  # form-encoded
    "refresh_token=" + LONG_TOKEN + "&client_secret=" + LONG_TOKEN,
])
def test_a_token_in_an_unreadable_answer_is_redacted_before_the_message_is_cut(body):
    """Was: the 120-character cut came before redaction, and only a JSON token with its closing quote was found,
    so a truncated or form-encoded token endpoint answer showed the token in the error message."""
    from balcli.sources.cryptofuse import CryptofuseApi, TokenEndpoint

    for check, api in ((cryptofuse.check_cryptofuse_token, TokenEndpoint(BASE, "client-id", "client-secret-00")),
                       (check_cryptofuse, CryptofuseApi(BASE, "bearer-token-0000"))):
        with pytest.raises(ResponseError) as info:
            check(Answer(200, CaseInsensitiveDict(), body, api))
        shown = str(info.value) + (info.value.hint or "")
        assert "9f8e0123" not in shown and "***" in shown


def test_a_known_secret_cut_in_two_by_the_message_is_still_redacted():
    from balcli.sources.cryptofuse import TokenEndpoint

    secret = "client-secret-" + "x" * 40
    body = "<p>" + "a" * 80 + " bad client " + secret + "</p>"  # the secret straddles the 120th character
    with pytest.raises(ResponseError) as info:
        cryptofuse.check_cryptofuse_token(Answer(200, CaseInsensitiveDict(), body, TokenEndpoint(BASE, "id", secret)))
    assert "client-secret-x" not in str(info.value) and "bad client ***" in str(info.value)


def answer(status: int, body, headers=None) -> Answer:
    text = body if isinstance(body, str) else json.dumps(body)
    return Answer(status, CaseInsensitiveDict(headers or {}), text, Labelled())


def zx(code, msg="msg"):
    return {"ret_code": code, "ret_msg": msg, "result": None}


def cw(code, msg="msg"):
    return {"code": code, "msg": msg, "data": None, "success": False}


HTML_PAGE = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502</h1></center>"

# (check, status, body, headers, error class or None, exit code, what the message or hint must name)
MAPPING = [
    # Zoomex (docs/apis/zoomex.md, "Errors")
    (check_zoomex, 403, "", None, RateLimitError, 5, "banned"),
    (check_zoomex, 401, "", None, AuthError, 4, "invalid API key"),
    (check_zoomex, 429, "", None, RateLimitError, 5, "rate limit"),
    (check_zoomex, 500, zx(10016), None, NetworkError, 6, "HTTP 500"),
    (check_zoomex, 502, HTML_PAGE, None, NetworkError, 6, "HTML error page"),
    (check_zoomex, 200, zx(10001), None, UsageError, 2, "parameter"),
    (check_zoomex, 200, zx(10002), None, ClockSkewError, 7, "request time"),
    (check_zoomex, 200, zx(10021), None, ClockSkewError, 7, "request time"),
    (check_zoomex, 200, zx(10003), None, AuthError, 4, "invalid API key"),
    (check_zoomex, 200, zx(10004), None, AuthError, 4, "invalid signature"),
    (check_zoomex, 200, zx(10022), None, AuthError, 4, "invalid signature"),
    (check_zoomex, 200, zx(10005), None, AuthError, 4, "permission"),
    (check_zoomex, 200, zx(10006, "Too many visits!"), None, RateLimitError, 5, "rate limit"),
    (check_zoomex, 200, zx(10007), None, AuthError, 4, "authentication"),
    (check_zoomex, 200, zx(10009), None, RateLimitError, 5, "banned"),
    (check_zoomex, 200, zx(10010), None, AuthError, 4, "allow-list"),
    (check_zoomex, 200, zx(10016), None, NetworkError, 6, "unavailable"),
    (check_zoomex, 200, zx(10017), None, ResponseError, 7, "returned an error"),
    (check_zoomex, 200, zx(10018), None, RateLimitError, 5, "rate limit"),
    (check_zoomex, 200, {"retCode": 0, "result": {}}, None, ResponseError, 7, "without ret_code"),
    (check_zoomex, 200, {"ret_code": 0, "ret_msg": "OK"}, None, ResponseError, 7, "no 'result'"),
    # CoinW spot (docs/apis/coinw-spot.md, "Errors")
    (check_coinw_spot, 200, cw(29001), None, RateLimitError, 5, "rate limit"),
    (check_coinw_spot, 200, cw(-103), None, AuthError, 4, "API key"),
    (check_coinw_spot, 200, cw(1003), None, AuthError, 4, "API key"),
    (check_coinw_spot, 200, cw("6000"), None, AuthError, 4, "API key"),
    (check_coinw_spot, 200, cw(10006), None, AuthError, 4, "API key"),
    (check_coinw_spot, 200, cw(10007), None, AuthError, 4, "signature"),
    (check_coinw_spot, 200, cw(-3), None, UsageError, 2, "parameter"),
    (check_coinw_spot, 200, cw(10003), None, UsageError, 2, "parameter"),
    (check_coinw_spot, 200, cw(-200), None, NetworkError, 6, "system error"),
    (check_coinw_spot, 200, cw(10002), None, ResponseError, 7, "returned an error"),
    (check_coinw_spot, 200, {"code": "200", "data": {}, "success": False}, None, ResponseError, 7, "error"),
    (check_coinw_spot, 200, {"code": "200", "data": {}, "failed": True}, None, ResponseError, 7, "error"),
    (check_coinw_spot, 200, [1, 2], None, ResponseError, 7, "not a JSON object"),
    (check_coinw_spot, 401, "", None, AuthError, 4, "HTTP 401"),
    (check_coinw_spot, 403, {"code": 403}, None, AuthError, 4, "HTTP 403"),
    (check_coinw_spot, 429, "", None, RateLimitError, 5, "HTTP 429"),
    (check_coinw_spot, 503, cw(-200), None, NetworkError, 6, "HTTP 503"),
    # CoinW affiliate (docs/apis/coinw-affiliate.md, "Errors")
    (check_coinw_affiliate, 200, cw(29001), None, RateLimitError, 5, "rate limit"),
    (check_coinw_affiliate, 200, cw(6000), None, AuthError, 4, "invalid API key"),
    (check_coinw_affiliate, 200, cw(6001), None, AuthError, 4, "invalid signature"),
    (check_coinw_affiliate, 200, cw(6002), None, ClockSkewError, 7, "request time"),
    (check_coinw_affiliate, 200, cw(6003, "require more permission"), None, AuthError, 4, "Affiliate"),
    (check_coinw_affiliate, 200, cw(402, "param required"), None, UsageError, 2, "parameter"),
    (check_coinw_affiliate, 200, cw(1), None, UsageError, 2, "parameter"),
    (check_coinw_affiliate, 200, cw(500, "Internal server error"), None, ResponseError, 7, "an error"),
    (check_coinw_affiliate, 200, {"code": 0, "data": None}, None, ResponseError, 7, "no 'data' object"),
    (check_coinw_affiliate, 401, "", None, AuthError, 4, "HTTP 401"),
    (check_coinw_affiliate, 403, "", None, AuthError, 4, "HTTP 403"),
    (check_coinw_affiliate, 429, "", None, RateLimitError, 5, "HTTP 429"),
    (check_coinw_affiliate, 500, "", None, NetworkError, 6, "HTTP 500"),
    # Binance (docs/apis/binance.md, "Errors")
    (check_binance, 401, {"code": -1002, "msg": "unauthorized"}, None, AuthError, 4, "API key"),
    (check_binance, 400, {"code": -1003, "msg": "Too many requests"}, None, RateLimitError, 5, "rate limit"),
    (check_binance, 429, {"code": -1003, "msg": "Too many requests"}, {"Retry-After": "30"}, RateLimitError,
     5, "HTTP 429"),
    (check_binance, 418, {"code": -1003, "msg": "IP banned until 1"}, {"Retry-After": "120"}, RateLimitError,
     5, "banned"),
    (check_binance, 400, {"code": -1021, "msg": "Timestamp outside recvWindow"}, None, ClockSkewError, 7,
     "request time"),
    (check_binance, 400, {"code": -1022, "msg": "Signature not valid."}, None, AuthError, 4, "signature"),
    (check_binance, 400, {"code": -1102, "msg": "Mandatory parameter"}, None, UsageError, 2, "parameter"),
    (check_binance, 401, {"code": -2014, "msg": "API-key format invalid."}, None, AuthError, 4, "API key"),
    (check_binance, 401, {"code": -2015, "msg": "Invalid API-key, IP"}, None, AuthError, 4, "allow-list"),
    (check_binance, 400, {"code": -3026, "msg": "param 'type' wrong"}, None, UsageError, 2, "parameter"),
    (check_binance, 400, {"code": -9999, "msg": "new"}, None, ResponseError, 7, "HTTP 400"),
    (check_binance, 200, {"code": -1021, "msg": "late"}, None, ClockSkewError, 7, "request time"),
    (check_binance, 500, {"code": -1001, "msg": "Internal error"}, None, NetworkError, 6, "HTTP 500"),
    (check_binance, 504, HTML_PAGE, None, NetworkError, 6, "HTML error page"),
    # Cryptofuse (docs/apis/cryptofuse.md, "Errors")
    (check_cryptofuse, 401, {"error": {"code": "authentication_failed", "message": "Invalid token"}},
     None, cryptofuse.TokenRejected, 4, "token"),
    (check_cryptofuse, 403, {"error": {"code": "permission_denied", "message": "scope"}}, None, AuthError, 4,
     "scope"),
    (check_cryptofuse, 429, {"detail": "throttled"}, {"Retry-After": "12"}, RateLimitError, 5, "HTTP 429"),
    (check_cryptofuse, 400, {"error": {"code": "invalid_param", "message": "limit"}}, None, UsageError, 2,
     "parameter"),
    (check_cryptofuse, 404, {"error": {"code": "not_found", "message": "no"}}, None, ResponseError, 7, "404"),
    (check_cryptofuse, 301, "", {"Location": "https://x.test/user/balances/"}, ResponseError, 7,
     "redirected to https://x.test/user/balances/"),
    (check_cryptofuse, 500, {"error": {}}, None, NetworkError, 6, "HTTP 500"),
    (check_cryptofuse, 503, HTML_PAGE, None, NetworkError, 6, "HTML error page"),
]


@pytest.mark.parametrize("check,status,body,headers,cls,code,names", MAPPING,
                         ids=[f"{row[0].__name__[6:]}-{row[1]}-{json.dumps(row[2])[:40]}" for row in MAPPING])
def test_every_documented_status_and_code_maps_to_its_error_and_exit_code(check, status, body, headers, cls,
                                                                          code, names):
    with pytest.raises(cls) as info:
        check(answer(status, body, headers))
    e = info.value
    assert type(e) is cls
    assert e.exit_code == code
    assert names in f"{e}\n{e.hint}"
    assert str(e).startswith("Exch ")  # names the API
    if isinstance(body, dict) and ("ret_code" in body or ("code" in body and "data" in body)):
        envelope_code = body.get("ret_code", body.get("code"))
        if e.api_code is not None:
            assert str(e.api_code) == str(envelope_code)  # the API's own code is kept for the message


def test_retry_after_and_ban_details_are_kept_on_the_error():
    with pytest.raises(RateLimitError) as ban:
        check_binance(answer(418, {"code": -1003, "msg": "banned"}, {"Retry-After": "120"}))
    assert ban.value.banned and ban.value.retry_after == 120.0
    assert re.search(r"until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", str(ban.value))
    assert re.fullmatch(r"do not retry until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ; the ban grows if you do",
                        ban.value.hint)  # was "do not retry before until ..."
    with pytest.raises(RateLimitError) as unknown:
        check_binance(answer(418, {"code": -1003, "msg": "banned"}))
    assert unknown.value.hint == "do not retry before the ban lifts; the ban grows if you do"
    with pytest.raises(RateLimitError) as limit:
        check_cryptofuse(answer(429, {}, {"Retry-After": "12"}))
    assert not limit.value.banned and limit.value.retry_after == 12.0
    with pytest.raises(RateLimitError) as zban:
        check_zoomex(answer(403, "access too frequent"))
    assert zban.value.banned and "10 minutes" in zban.value.hint
    with pytest.raises(RateLimitError) as zlimit:
        check_zoomex(answer(200, zx(10006, "Too many visits!")))
    assert not zlimit.value.banned and "code 10006 'Too many visits!'" in str(zlimit.value)


@pytest.mark.parametrize("check,body,expected", [
    (check_zoomex, {"ret_code": 0, "ret_msg": "OK", "result": {"list": []}}, {"list": []}),
    (check_coinw_spot, {"code": "200", "data": {"BTC": "1"}, "success": True, "failed": False}, {"BTC": "1"}),
    (check_coinw_spot, {"code": 200, "data": {"BTC": "1"}}, {"BTC": "1"}),
    (check_coinw_spot, {"code": "0", "data": {"BTC": "1"}}, {"BTC": "1"}),
    (check_coinw_spot, "", {}),  # CoinW spot answers an account without assets with an empty body
    (check_coinw_affiliate, {"code": 0, "data": {"total": 0, "list": []}}, {"total": 0, "list": []}),
    (check_coinw_affiliate, {"code": "0", "data": {"total": 1}}, {"total": 1}),
    (check_binance, {"code": 200, "msg": "", "snapshotVos": []}, {"code": 200, "msg": "", "snapshotVos": []}),
    (check_binance, {"snapshotVos": []}, {"snapshotVos": []}),
    (check_cryptofuse, {"results": [], "next": None}, {"results": [], "next": None}),
])
def test_successful_answers_return_the_useful_part(check, body, expected):
    assert check(answer(200, body)) == expected


CHECKS = [check_zoomex, check_coinw_spot, check_coinw_affiliate, check_binance, check_cryptofuse]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("text", ['{"code": 0, "data": ', "Internal error", "{'single': 'quotes'}",
                                  '{"ret_code": 0, "result": {"x": NaN}, "code": 0, "data": {"x": NaN}}'])
def test_invalid_json_is_a_response_error_naming_it(check, text):
    with pytest.raises(ResponseError) as info:
        check(answer(200, text))
    assert type(info.value) is ResponseError and info.value.exit_code == 7
    assert "Exch answered HTTP 200 with invalid JSON" in str(info.value)


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_an_html_page_with_http_200_is_named_as_such(check):
    with pytest.raises(ResponseError) as info:
        check(answer(200, "<!DOCTYPE html><html><body>Captive portal</body></html>"))
    assert info.value.exit_code == 7 and "with an HTML page" in str(info.value)


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_and_html_error_pages_are_network_errors_for_every_api(check, status):
    for body in ("", HTML_PAGE, '{"code": -1, "msg": "oops"}'):
        with pytest.raises(NetworkError) as info:
            check(answer(status, body))
        assert info.value.exit_code == 6 and f"HTTP {status}" in str(info.value)


def test_amounts_in_json_bodies_are_exact_decimals_never_floats():
    body = ('{"ret_code": 0, "result": {"a": 0.1, "b": 98765432109876543210.123456789, "c": 1e-18, '
            '"d": 0.000000000000000001, "n": 42, "s": "1.50"}}')
    result = check_zoomex(answer(200, body))
    assert result == {"a": Decimal("0.1"), "b": Decimal("98765432109876543210.123456789"),
                      "c": Decimal("1E-18"), "d": Decimal("0.000000000000000001"), "n": 42, "s": "1.50"}
    assert not any(isinstance(v, float) for v in result.values())
    assert str(result["b"]) == "98765432109876543210.123456789"


def test_redact_query_hides_only_the_signing_parameters():
    assert redact_query("a=1&sign=x&signature=y&api_key=z&timestamp=5") == \
        "a=1&sign=***&signature=***&api_key=***&timestamp=5"
    assert redact_query("") == ""


def test_reprs_of_requests_and_answers_show_no_secret():
    from balcli.http import Answer, Prepared

    class Api:
        label = "Cryptofuse"

    prepared = Prepared("POST", "https://api.example/o/token/", [("api_key", "key-123456789")],
                        {"Authorization": "Basic c2VjcmV0LWNsaWVudDpzZWNyZXQ="}, b"grant_type=client_credentials")
    answer = Answer(200, {}, '{"access_token": "tok-abcdef123456"}', Api())
    for shown in (repr(prepared), str(prepared), repr(answer), str(answer)):
        for secret in ("key-123456789", "c2VjcmV0LWNsaWVudDpzZWNyZXQ=", "tok-abcdef123456", "grant_type"):
            assert secret not in shown
    assert repr(prepared) == "Prepared(POST https://api.example/o/token/, 1 headers (redacted))"
    assert repr(answer) == "Answer(Cryptofuse HTTP 200, 36 chars)"
