"""README "Exit codes" and "When things go wrong" under faults, for every source: the sandbox injects the fault, the real command line runs against it,
and each case asserts the exit code, what stdout holds and how many requests the sandbox received.

Sources: broker (Zoomex, cursor pages), spot (CoinW spot, one request), snapshot (Binance, one request at 5 a
minute), invitees (CoinW affiliate, page numbers fetched concurrently), oauth balances and oauth history
(Cryptofuse, offset pages fetched concurrently; a static bearer token, so every request is a data request).

The retries run on the fake clock of ``no_sleep``: every wait (backoff, Retry-After, the client's own request
spacing) is recorded instead of slept, and the sandbox sees the same clock move. The bound on the time to exit
6 is then the sum of those waits, computed from the retry policy below rather than measured on a wall clock.

The retry policy under default settings (``--max-retries 4``: five attempts), from ``balcli.http.HttpClient``:
the wait before retry k (k = 1..4) is drawn between half and all of min(8, 0.5 * 2**(k-1)) seconds (0.5, 1, 2, 4:
at most 7.5 s in all; rate-limit answers without Retry-After start at 1 s: 1, 2, 4, 8); a positive Retry-After
up to 60 s is honoured (plus up to 0.25 s of jitter), a longer one ends the run at once; CoinW's 29001 pauses
30 s. A retry also waits for the source's request spacing (``RateLimiter``: 1 / (0.96 * rate)), which only
matters for Binance's 5 calls a minute (12.5 s). So a request that keeps failing reaches exit 6 after at most
sum_k max(step_k, spacing) seconds of waiting: 7.5 s for every source but snapshot, 50 s for snapshot.
"""

from __future__ import annotations

import csv
import io
import json
import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import pytest

from balcli.http import HttpClient, RateLimiter
from balcli.sandbox import DEMO_STATIC_TOKEN
from balcli.sources import binance, coinw_affiliate, coinw_spot, cryptofuse, zoomex
from tests.conftest import balcli_process, run_cli

pytestmark = pytest.mark.integration

RETRIES = 4  # the default --max-retries
ATTEMPTS = RETRIES + 1


def spacing(rate: float) -> float:
    return 1.0 / (rate * RateLimiter.HEADROOM)


@dataclass(frozen=True)
class Source:
    args: tuple[str, ...]
    api: str  # the sandbox's name for the API
    requests: int  # requests of a clean run with the demo data
    spacing: float  # the client's own spacing of requests (seconds)
    signs_time: bool  # the API signs a timestamp (clock skew applies)
    missing: str  # a field to remove from its answers ...
    missing_word: str  # ... and how the error names it


SOURCES = {
    "broker": Source(("broker",), "zoomex", 6, spacing(zoomex.RATE_LIMIT), True,
                     "result.list.*.coins.*.total_balance", "no 'total_balance' field"),
    "spot": Source(("spot",), "coinw_spot", 1, spacing(coinw_spot.RATE_LIMIT), False,
                   "code", "without 'code'"),
    "spot --complete": Source(("spot", "--complete"), "coinw_spot", 1, spacing(coinw_spot.COMPLETE_RATE_LIMIT), False,
                              "data.BTC.onOrders", "data.BTC: the answer has no 'onOrders' field"),
    "snapshot": Source(("snapshot",), "binance", 1, spacing(binance.RATE_LIMIT), True,
                       "snapshotVos.*.data.balances.*.free", "no 'free' field"),
    "invitees": Source(("invitees",), "coinw_affiliate", 3, spacing(coinw_affiliate.RATE_LIMIT), True,
                       "data.list.*.uid", "no 'uid' field"),
    "oauth balances": Source(("oauth", "balances"), "cryptofuse", 1, spacing(cryptofuse.RATE_LIMIT), False,
                             "account", "no 'account' field"),
    "oauth history": Source(("oauth", "history"), "cryptofuse", 3, spacing(cryptofuse.RATE_LIMIT), False,
                            "history.*.amount", "no 'amount' field"),
}
ALL = list(SOURCES)
PAGED = ["broker", "invitees", "oauth history"]


def backoff_steps(base: float = HttpClient.BACKOFF_BASE) -> list[float]:
    return [min(HttpClient.BACKOFF_CAP, base * 2 ** k) for k in range(RETRIES)]


def wait_bounds(src: Source) -> tuple[float, float]:
    """The least and the most waiting before a request that fails every attempt ends the run."""
    steps = backoff_steps()
    least = sum(max(step / 2, src.spacing) for step in steps) - 0.5  # the spacing counts from each send
    most = sum(max(step, src.spacing) for step in steps)
    return least, most


@pytest.fixture
def sandbox():
    """The sandbox without its own rate limits: every refusal a test counts is one it injected. (Its limits
    count requests on arrival, and a loaded machine can delay one request by more than the client's 4%
    headroom; the client's spacing against the real limits is tested by the integration tests.)"""
    from balcli.sandbox import Sandbox

    with Sandbox(rate_limits=False) as sb:
        yield sb


@pytest.fixture
def env(sandbox, sandbox_env, monkeypatch, no_sleep):
    """The sandbox, its environment (Cryptofuse by static token), and the fake clock."""
    monkeypatch.setenv("BALCLI_CRYPTOFUSE_TOKEN", DEMO_STATIC_TOKEN)
    monkeypatch.delenv("BALCLI_CRYPTOFUSE_CLIENT_ID")
    monkeypatch.delenv("BALCLI_CRYPTOFUSE_CLIENT_SECRET")
    return sandbox


def clean_run(sb, no_sleep, src: Source, *extra: str):
    """The fault-free result to compare with (its rows are checked against sb.data by the integration tests);
    afterwards the log is cleared and the fake clock moved past every rate-limit window."""
    r = run_cli(*src.args, *extra)
    assert r.code == 0 and sb.count(api=src.api) == src.requests, r.err
    sb.clear_log()
    time.sleep(61)  # the fake clock: the next run starts with every window (Binance's minute too) fresh
    no_sleep.clear()
    return r


def parse(out: str, fmt: str) -> list[dict]:
    if fmt == "json":
        return json.loads(out)
    if fmt == "ndjson":
        return [json.loads(line) for line in out.splitlines()]
    return list(csv.DictReader(io.StringIO(out), delimiter="," if fmt == "csv" else "\t"))


# -- rate limiting ------------------------------------------------------------------------------------------------

def rate_limit_pause(src: Source) -> tuple[float, float]:
    """What one retry after the API's rate-limit answer waits (the sandbox's own answer for each API)."""
    if src.api.startswith("coinw"):  # 29001, no Retry-After: the 30 s CoinW pause
        return 30.0, 30.25
    if src.api == "zoomex":  # ret_code 10006, no Retry-After: backoff from 1 s
        return 0.5, 2.0
    return 1.0, max(1.25, src.spacing)  # Binance 429 / Cryptofuse 429 with Retry-After: 1


@pytest.mark.parametrize("name", ALL)
def test_a_burst_of_rate_limit_answers_is_retried_and_the_result_is_exact(env, no_sleep, name):
    src = SOURCES[name]
    clean = clean_run(env, no_sleep, src, "--json")
    env.inject("rate_limit", api=src.api, times=2)
    r = run_cli(*src.args, "--json")
    assert (r.code, r.err) == (0, "")
    assert r.out == clean.out  # complete and exact: byte for byte the fault-free result
    assert env.count(api=src.api) == src.requests + 2  # only the two refused requests were sent again
    assert env.count(api=src.api, rate_limited=True) == 2
    low, high = rate_limit_pause(src)
    pauses = sorted(no_sleep, reverse=True)[:2]
    assert all(low <= p <= high + 0.001 for p in pauses), pauses


@pytest.mark.parametrize("name,exit_word", [
    ("broker", "code 10006"), ("spot", "code 29001"), ("snapshot", "HTTP 429"), ("invitees", "code 29001"),
    ("oauth history", "HTTP 429"),
])
def test_a_rate_limit_that_persists_exits_5_after_the_retries(env, no_sleep, name, exit_word):
    src = SOURCES[name]
    env.inject("rate_limit", api=src.api)
    r = run_cli(*src.args, "--json")
    assert (r.code, r.out) == (5, "")
    assert exit_word in r.err and "hint:" in r.err
    assert env.count(api=src.api) == ATTEMPTS
    if src.api.startswith("coinw"):  # four 30 s pauses: CoinW turns hammering into bans
        assert sum(p for p in no_sleep if p >= 30) >= 4 * 30


# -- the server failing ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("status,html", [(503, False), (500, False), (502, True), (504, True)])
def test_persistent_server_failure_exits_6_within_the_bound(env, no_sleep, name, status, html):
    src = SOURCES[name]
    env.inject("http_error", api=src.api, status=status, html=html)
    r = run_cli(*src.args, "--json")
    assert (r.code, r.out) == (6, "")
    assert f"HTTP {status}" in r.err and (not html or "HTML error page" in r.err)
    assert f"gave up after {ATTEMPTS} attempts" in r.err and "Traceback" not in r.err
    assert env.count(api=src.api) == ATTEMPTS
    least, most = wait_bounds(src)
    assert least <= sum(no_sleep) <= most + 1e-6, (sum(no_sleep), least, most)


def test_the_bound_is_about_7_5_seconds_for_every_source_but_snapshot_and_50_for_snapshot():
    """The numbers the README states, from the policy itself."""
    bounds = {name: wait_bounds(src)[1] for name, src in SOURCES.items()}
    assert backoff_steps() == [0.5, 1.0, 2.0, 4.0]
    assert {name: round(b, 3) for name, b in bounds.items()} == {
        "broker": 7.5, "spot": 7.5, "spot --complete": 7.5, "snapshot": 50.0, "invitees": 7.5,
        "oauth balances": 7.625, "oauth history": 7.625}  # oauth: 100 a minute is one request per 0.625 s


def test_the_oauth_token_endpoint_failing_exits_6_the_same_way(sandbox, sandbox_env, no_sleep):
    sandbox.inject("http_error", api="cryptofuse", status=502, html=True)
    r = run_cli("oauth", "balances", "--json")
    assert (r.code, r.out) == (6, "")
    assert "HTTP 502 (HTML error page)" in r.err
    assert [q.path for q in sandbox.requests] == ["/o/token/"] * ATTEMPTS
    assert sum(no_sleep) <= wait_bounds(SOURCES["oauth balances"])[1]


def test_a_retry_after_on_a_5xx_is_honoured_and_a_long_one_ends_at_once(env, no_sleep, monkeypatch):
    """503 + Retry-After: 3 -> wait 3 s (not the backoff); Retry-After over 60 s -> exit 6 after one request."""
    from balcli.sandbox import server

    real = server._server_error
    retry_after = {"value": "3"}

    def with_retry_after(module, status, html):
        reply = real(module, status, html)
        reply.headers = [*reply.headers, ("Retry-After", retry_after["value"])]
        return reply

    monkeypatch.setattr(server, "_server_error", with_retry_after)
    env.inject("http_error", api="coinw_spot", status=503, times=1)
    r = run_cli("spot", "--json")
    assert r.code == 0 and env.count(api="coinw_spot") == 2
    assert any(3.0 <= p <= 3.25 for p in no_sleep)
    env.clear_log()
    retry_after["value"] = "600"
    env.inject("http_error", api="coinw_spot", status=503)
    r = run_cli("spot", "--json")
    assert (r.code, r.out) == (6, "") and env.count(api="coinw_spot") == 1


# -- the network failing -----------------------------------------------------------------------------------------

def settle(sb, api: str) -> int:
    """The requests ``api`` received. The sandbox logs a request when it answers, and a timed-out one is still
    being held: stopping the sandbox cuts the hold short, answers (and logs) it, and joins those threads."""
    sb.stop()
    return sb.count(api=api)


@pytest.mark.parametrize("name", ALL)
def test_read_timeouts_exit_6_quickly(env, no_sleep, name):
    src = SOURCES[name]
    env.inject("timeout", api=src.api, seconds=0.3)
    r = run_cli(*src.args, "--json", "--timeout", "0.1")
    assert (r.code, r.out) == (6, "")
    assert "did not answer within 0.1 s" in r.err and f"gave up after {ATTEMPTS} attempts" in r.err
    assert settle(env, src.api) == ATTEMPTS
    assert sum(no_sleep) <= wait_bounds(src)[1] + 1e-6


@pytest.mark.parametrize("name", ALL)
def test_refused_connections_exit_6_quickly(env, no_sleep, name):
    src = SOURCES[name]
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = run_cli("-v", *src.args, "--json", "--base-url", f"http://127.0.0.1:{port}")
    assert (r.code, r.out) == (6, "")
    assert "Connection refused" in r.err and f"gave up after {ATTEMPTS} attempts" in r.err
    assert len(re.findall(r" - \d+ ms attempt \d", r.err)) == ATTEMPTS
    assert env.requests == []
    assert sum(no_sleep) <= wait_bounds(src)[1] + 1e-6


@pytest.mark.parametrize("name", ALL)
def test_dropped_connections_exit_6_after_the_retries(env, no_sleep, name):
    src = SOURCES[name]
    env.inject("drop", api=src.api)
    r = run_cli(*src.args, "--json")
    assert (r.code, r.out) == (6, "")
    assert "cannot reach" in r.err and f"gave up after {ATTEMPTS} attempts" in r.err
    assert env.count(api=src.api, status=0) == ATTEMPTS


# -- unusable answers ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ALL)
def test_invalid_json_exits_7_naming_it_without_retrying(env, no_sleep, name):
    src = SOURCES[name]
    env.inject("invalid_json", api=src.api)
    r = run_cli(*src.args, "--json")
    assert (r.code, r.out) == (7, "")
    assert "answered HTTP 200 with invalid JSON" in r.err
    assert env.count(api=src.api) == 1


@pytest.mark.parametrize("name", ALL)
def test_a_missing_field_exits_7_naming_it(env, no_sleep, name):
    src = SOURCES[name]
    env.inject("missing_field", api=src.api, field=src.missing)
    r = run_cli(*src.args, "--json")
    assert (r.code, r.out) == (7, "")
    assert src.missing_word in r.err and "hint:" in r.err
    assert env.count(api=src.api) == 1


# Where pages are fetched concurrently, page 3 is requested together with page 2, before page 2 shows the fault:
# whether it has left when the run ends is a race, so both counts are right.
@pytest.mark.parametrize("name,fault,options,requests,word", [
    ("broker", "cursor_cycle", {}, {2}, "pagination cycle: cursor"),
    ("invitees", "repeat_page", {}, {2, 3}, "page 2 repeats page 1"),
    ("invitees", "unreachable_total", {"extra": 10}, {4}, "page 4 is empty but only 250 of 260 rows"),
    ("invitees", "short_total", {}, {1}, "page 1 is empty but only 0 of 250 rows"),
    ("oauth history", "repeat_page", {}, {2, 3}, "page 2 repeats page 1"),
    ("oauth history", "unreachable_total", {"extra": 10}, {4}, "page 4 is empty but only 230 of 240 rows"),
    ("oauth history", "short_total", {}, {1}, "page 1 is empty but only 0 of 230 rows"),
])
def test_broken_pagination_exits_7_and_never_hangs(env, no_sleep, name, fault, options, requests, word):
    src = SOURCES[name]
    env.inject(fault, api=src.api, **options)
    r = run_cli(*src.args, "--json")
    assert (r.code, r.out) == (7, "")
    assert word in r.err and "paging is inconsistent" in r.err
    assert env.count(api=src.api) in requests  # the requests needed to see it, and no further page


# A total below the rows the pages hold (the API's count is stale) must not end the run early: every page is read,
# to the short page 3, with a warning. Before, a total of 1 ended the run after page 1 (100 of 230 rows, exit 0).
@pytest.mark.parametrize("name,delta", [("invitees", -249), ("invitees", -5), ("oauth history", -229),
                                        ("oauth history", -5)])
def test_a_total_below_the_rows_is_never_a_silent_subset(env, no_sleep, name, delta):
    src = SOURCES[name]
    clean = clean_run(env, no_sleep, src, "--json")
    env.inject("total_changes", api=src.api, delta=delta)
    r = run_cli(*src.args, "--json")
    assert (r.code, r.out) == (0, clean.out)
    rows = len(json.loads(clean.out))
    assert re.fullmatch(rf"balcli: warning: .*: the API reported a total of {rows + delta} but its pages held "
                        rf"{rows} rows; every page was read\n", r.err), r.err
    assert env.count(api=src.api) == src.requests  # page 3 is short: no request beyond a clean run's


# Two identical entries in one page of history (no id: the whole row is the key) are two rows; before, the second
# was dropped as a repeat and every run ended with exit 7 ("page 3 is empty but only 230 of 231 rows").
@pytest.mark.parametrize("fmt", ["json", "ndjson", "csv"])
def test_identical_history_entries_within_a_page_are_all_rows(env, no_sleep, fmt):
    history = env.data.history
    history.insert(5, dict(history[5]))
    r = run_cli("oauth", "history", "-o", fmt)
    assert (r.code, r.err) == (0, "")
    got = parse(r.out, fmt)
    assert len(got) == len(history) == 231 and got[5] == got[6] != got[4]
    assert env.count(api="cryptofuse") == 3


# -- clock skew -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("skew_ms,word", [(120_000, "behind"), (-90_000, "ahead of")])
def test_clock_skew_is_recovered_with_a_warning_where_the_api_signs_a_timestamp(env, no_sleep, name, skew_ms, word):
    src = SOURCES[name]
    clean = clean_run(env, no_sleep, src, "--json")
    env.clock_offset_ms = skew_ms
    r = run_cli(*src.args, "--json")
    assert r.code == 0 and r.out == clean.out
    if src.signs_time:
        m = re.search(r"warning: the local clock is ([\d.]+) s (behind|ahead of) ", r.err)
        assert m and m.group(2) == word, r.err
        assert abs(float(m.group(1)) - abs(skew_ms) / 1000) < 0.5  # float-ok: seconds
        # the refused request, the server time, then the same request again
        assert env.count(api=src.api) == src.requests + 2
    else:  # no timestamp in the request: nothing to recover from, nothing to warn about
        assert r.err == ""
        assert env.count(api=src.api) == src.requests


# -- bans -------------------------------------------------------------------------------------------------------------

def banned_until(err: str) -> datetime:
    m = re.search(r"until (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)", err)
    assert m, err
    return datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


@pytest.mark.parametrize("name,retry_after,exit_code,word", [
    ("broker", None, 5, "banned this IP for exceeding its rate limit (HTTP 403)"),  # no end time given
    ("snapshot", 300, 5, "has banned this IP (HTTP 418) until"),
    ("oauth history", 3600, 5, "rate limit reached (HTTP 429)"),  # Retry-After beyond 60 s: not waited out
    ("oauth balances", 900, 5, "rate limit reached (HTTP 429)"),
    # CoinW's ban is an HTTP 403 page, as is its answer to a refused key or IP (docs/apis/coinw-spot.md#errors): exit 4,
    # and the hint says to wait a few minutes in case it is a ban.
    ("spot", None, 4, "HTTP 403"),
    ("invitees", None, 4, "HTTP 403"),
])
def test_a_ban_exits_at_once_with_its_end_time_when_known(env, no_sleep, name, retry_after, exit_code, word):
    src = SOURCES[name]
    options = {"retry_after": retry_after} if retry_after else {}
    env.inject("ban", api=src.api, **options)
    r = run_cli(*src.args, "--json")
    assert (r.code, r.out) == (exit_code, "")
    assert word in r.err
    assert env.count(api=src.api) == 1  # a ban is never retried
    assert no_sleep == []
    if retry_after:
        expected = datetime.fromtimestamp(time.time() + retry_after, timezone.utc)
        assert abs((banned_until(r.err) - expected).total_seconds()) <= 2
    elif exit_code == 5:
        assert "at least 10 minutes" in r.err
    else:
        assert "wait a few minutes" in r.err


# -- what stdout holds when a run fails midway ------------------------------------------------------------------

def fail_after_first_request(sb, api: str, fault: str, **options) -> None:
    """Inject ``fault`` as soon as the first request of ``api`` is answered: page 1 succeeds, the rest fail."""
    log = sb._log

    def logged(entry):
        log(entry)
        if entry.api == api and sb.count(api=api) == 1:
            sb.inject(fault, api=api, **options)

    sb._log = logged


def first_page_rows(sb, name: str) -> int:
    if name == "broker":
        return sum(len(coins) for _, coins in sb.data.broker[:zoomex.MAX_PAGE_SIZE])
    return 100  # invitees and history: 100 a page


@pytest.mark.parametrize("name", PAGED)
@pytest.mark.parametrize("fmt", ["ndjson", "csv", "tsv", "json", "table"])
def test_a_failure_after_the_first_page_leaves_whole_rows_or_nothing(env, no_sleep, name, fmt):
    src = SOURCES[name]
    clean = clean_run(env, no_sleep, src, "-o", fmt)
    fail_after_first_request(env, src.api, "invalid_json")
    r = run_cli(*src.args, "-o", fmt)
    assert r.code == 7 and "invalid JSON" in r.err
    # page 1, then page 2 (broker's cursors: one at a time) or pages 2 and 3 together (page 3 may be too late)
    assert env.count(api=src.api) in ({2} if name == "broker" else {2, 3})
    if fmt in ("json", "table"):
        assert r.out == ""  # all-or-nothing
        return
    assert r.out.endswith("\n") and clean.out.startswith(r.out)  # whole lines, the same as a clean run's
    header = 0 if fmt == "ndjson" else 1
    assert len(r.out.splitlines()) == header + first_page_rows(env, name)
    assert parse(r.out, fmt) == parse(clean.out, fmt)[: first_page_rows(env, name)]


def test_a_retried_failure_after_the_first_page_leaves_whole_rows(env, no_sleep):
    src = SOURCES["broker"]
    clean = clean_run(env, no_sleep, src, "--csv")
    fail_after_first_request(env, "zoomex", "http_error", status=503, html=True)
    r = run_cli("broker", "--csv")
    assert r.code == 6 and "HTTP 503 (HTML error page)" in r.err
    assert env.count(api="zoomex") == 1 + ATTEMPTS
    assert r.out.endswith("\n") and clean.out.startswith(r.out)
    assert len(r.out.splitlines()) == 1 + first_page_rows(env, "broker")


# A run that fails before its first rows leaves stdout empty in every format: before, csv/tsv wrote the header
# before the first request, and `balcli broker > f.tsv` under a ban left a file that read as an empty result.
@pytest.mark.parametrize("name", ["spot", "snapshot", "oauth balances", "broker", "invitees", "oauth history"])
@pytest.mark.parametrize("fmt", ["ndjson", "csv", "tsv", "json", "table"])
def test_a_failed_first_request_leaves_stdout_empty(env, no_sleep, name, fmt):
    src = SOURCES[name]
    env.inject("http_error", api=src.api, status=502, html=True)
    r = run_cli(*src.args, "-o", fmt)
    assert (r.code, r.out) == (6, "")
    assert env.count(api=src.api) == ATTEMPTS


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_a_ban_before_the_first_page_leaves_no_header(env, no_sleep, fmt):
    env.inject("ban", api="zoomex")
    r = run_cli("broker", "-o", fmt)
    assert (r.code, r.out) == (5, "") and "banned" in r.err


# -- Ctrl-C -----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args,fmt", [
    (("invitees", "--page-size", "10"), "ndjson"),  # concurrent page fetches in flight
    (("oauth", "history", "--page-size", "10"), "tsv"),
])
def test_ctrl_c_mid_pagination_exits_130_on_a_whole_line(sandbox, sandbox_env, args, fmt):
    api = "coinw_affiliate" if args[0] == "invitees" else "cryptofuse"
    sandbox.inject("latency", api=api, ms=200)
    with balcli_process(*args, "-o", fmt, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        deadline = time.monotonic() + 20
        while sandbox.count(api=api, status=200) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert "Traceback" not in err and "balcli: interrupted" in err
    assert out.endswith("\n")
    rows = [json.loads(line) for line in out.splitlines()] if fmt == "ndjson" else out.splitlines()[1:]
    assert 0 < len(rows) < (250 if api == "coinw_affiliate" else 230)
    # The sandbox logs a request when it answers it: stopping it lets the ones cut short by the exit land (it
    # answers what it is still working on, then joins those threads) instead of waiting a while and hoping.
    sandbox.stop()
    assert sandbox.count(api=api) < (25 if api == "coinw_affiliate" else 24) + 2  # not every page
