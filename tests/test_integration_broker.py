"""balcli broker over real HTTP against the sandbox: real signing, real pagination, real faults."""

from __future__ import annotations

import csv
import io
import json
import re
import signal
import subprocess
import threading
import time
from decimal import Decimal, localcontext

import pytest

from tests.conftest import balcli_process

pytestmark = pytest.mark.integration


def expected_rows(sb, coin=None):
    return [{"user_id": uid, "coin": c, "total_balance": bal}
            for uid, coins in sb.data.broker for c, bal in coins if coin is None or c == coin]


def test_every_customer_exactly_once_in_json(sandbox, sandbox_env, cli):
    r = cli("broker", "--json")
    assert (r.code, r.err) == (0, "")
    assert r.json() == expected_rows(sandbox)
    assert len(sandbox.data.broker) == 300
    pages = sandbox.count(api="zoomex", status=200)
    assert pages == 6  # 300 customers at 50 per page
    assert sandbox.count(rate_limited=True) == 0


@pytest.mark.parametrize("fmt", ["ndjson", "csv", "tsv"])
def test_streaming_formats_have_every_row(sandbox, sandbox_env, cli, fmt):
    r = cli("broker", "-o", fmt, "--page-size", "37", "--coin", "USDT")
    assert r.code == 0 and r.err == ""
    want = expected_rows(sandbox, "USDT")
    if fmt == "ndjson":
        got = [json.loads(line) for line in r.out.splitlines()]
    else:
        got = list(csv.DictReader(io.StringIO(r.out), delimiter="," if fmt == "csv" else "\t"))
    assert got == want
    assert sandbox.count(api="zoomex") == -(-300 // 37)


def test_total_matches_exact_decimal_sums(sandbox, sandbox_env, cli):
    r = cli("broker", "--total", "--json")
    sums: dict[str, Decimal] = {}
    users: dict[str, int] = {}
    with localcontext() as ctx:
        ctx.prec = 500
        for _, coins in sandbox.data.broker:
            for c, bal in coins:
                sums[c] = sums.get(c, Decimal(0)) + Decimal(bal)
                users[c] = users.get(c, 0) + 1
    assert r.json() == [{"coin": c, "users": users[c], "total_balance": format(sums[c], "f")} for c in sorted(sums)]


def test_table_has_a_totals_footer_for_one_coin(sandbox, sandbox_env, cli):
    r = cli("broker", "-o", "table", "--coin", "BTC")
    assert r.code == 0
    with localcontext() as ctx:
        ctx.prec = 500
        total = sum((Decimal(b) for _, coins in sandbox.data.broker for c, b in coins if c == "BTC"), Decimal(0))
    assert format(total, "f") in r.out.splitlines()[-1]


def test_one_connection_for_the_whole_run(sandbox, sandbox_env, cli):
    assert cli("broker", "--json").code == 0
    assert sandbox.connections == 1


@pytest.mark.parametrize("env_change,exit_code,word", [
    ({"BALCLI_ZOOMEX_API_SECRET": "wrong-secret-0000"}, 4, "invalid signature"),
    ({"BALCLI_ZOOMEX_API_KEY": "unknown-key-00000"}, 4, "invalid API key"),
])
def test_wrong_credentials_exit_4(sandbox, sandbox_env, cli, monkeypatch, env_change, exit_code, word):
    for k, v in env_change.items():
        monkeypatch.setenv(k, v)
    r = cli("broker", "--json")
    assert r.code == exit_code and word in r.err and r.out == ""
    assert sandbox.count(api="zoomex") == 1


def test_stale_clock_is_recovered_with_a_warning(sandbox, sandbox_env, cli):
    sandbox.clock_offset_ms = 120_000  # the server is two minutes ahead of us
    r = cli("broker", "--json", "--max-items", "10")
    first_ten = {uid for uid, _ in sandbox.data.broker[:10]}
    assert r.code == 0 and r.json() == [row for row in expected_rows(sandbox) if row["user_id"] in first_ten]
    assert re.search(r"local clock is 1(19\.9|20\.0)\d* s behind Zoomex's server", r.err)


def test_rate_limit_burst_is_retried_and_the_result_is_complete(sandbox, sandbox_env, cli, no_sleep):
    sandbox.inject("rate_limit", api="zoomex", times=2)
    r = cli("broker", "--json")
    assert r.code == 0 and r.json() == expected_rows(sandbox)
    assert sandbox.count(api="zoomex") == 6 + 2


def test_ban_exits_5_without_retrying(sandbox, sandbox_env, cli):
    sandbox.inject("ban", api="zoomex")
    r = cli("broker", "--json")
    assert r.code == 5 and "banned" in r.err and r.out == ""
    assert sandbox.count(api="zoomex") == 1


def test_html_5xx_exits_6_after_the_retries(sandbox, sandbox_env, cli, no_sleep):
    sandbox.inject("http_error", api="zoomex", status=502, html=True)
    r = cli("broker", "--json")
    assert r.code == 6 and "HTTP 502 (HTML error page)" in r.err
    assert sandbox.count(api="zoomex") == 5


def test_cursor_cycle_exits_7(sandbox, sandbox_env, cli):
    sandbox.inject("cursor_cycle", api="zoomex")
    r = cli("broker", "--json")
    assert r.code == 7 and "cycle" in r.err and r.out == ""


def test_usage_error_sends_nothing(sandbox, sandbox_env, cli):
    assert cli("broker", "--page-size", "500").code == 2
    assert sandbox.requests == []


def test_closed_stdout_ends_quietly(sandbox, sandbox_env):
    proc = subprocess.run(f"'{__import__('sys').executable}' -m balcli broker -o ndjson | head -1",
                          shell=True, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["user_id"] == sandbox.data.broker[0][0]
    assert proc.stderr == ""


def test_ctrl_c_mid_pagination_exits_130_on_a_whole_line(sandbox, sandbox_env):
    sandbox.inject("latency", api="zoomex", ms=300)
    with balcli_process("broker", "-o", "csv", "--page-size", "10", stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, text=True) as proc:
        deadline = time.monotonic() + 20
        while sandbox.count(api="zoomex") < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert "Traceback" not in err and "interrupted" in err
    assert out.endswith("\n")
    lines = out.splitlines()
    assert lines[0] == "user_id,coin,total_balance" and len(lines) > 1


def test_closed_stdout_does_not_wait_for_pages_in_flight(sandbox, sandbox_env, monkeypatch):
    """`| head` with concurrent page fetches: the run ends at once, not after the pages in flight have waited
    out CoinW's 30 s rate-limit pause, and none of them is asked for again.

    Staged so that the order of events is fixed, not a matter of timing: pages 3 to 5 (in flight with page 2) are
    refused with CoinW's rate-limit code, and once the first of them was, the reader goes away; page 2 is answered
    after that, and the write of its rows is where balcli finds the pipe closed, with the exchange in its pause (a
    429 pauses every worker: pages 4 and 5 may not even have been sent)."""
    from balcli.sandbox import coinw_affiliate, server

    reader_gone = threading.Event()

    def staged(sb, req):
        page = int(req.param("pageNo") or 1)
        if page == 2:
            reader_gone.wait(20)
        elif page >= 3:
            return coinw_affiliate.limited(sb, req)
        return coinw_affiliate.user_assets(sb, req)

    monkeypatch.setitem(server.ROUTES, coinw_affiliate.PATH, ("coinw_affiliate", staged))
    with balcli_process("invitees", "-o", "csv", "--page-size", "20", "--timeout", "60", stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, text=True) as proc:
        lines = [proc.stdout.readline(), proc.stdout.readline()]  # what `head -2` reads before it exits
        deadline = time.monotonic() + 20
        while sandbox.count(api="coinw_affiliate", rate_limited=True) < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.stdout.close()
        reader_gone.set()
        started = time.monotonic()
        code = proc.wait(timeout=25)
        elapsed = time.monotonic() - started
        err = proc.stderr.read()
    assert lines[0].startswith("uid,") and len(lines[1].split(",")) == len(lines[0].split(","))
    assert (code, err) == (0, "")
    assert elapsed < 20, f"took {elapsed:.1f} s"  # a pause waited out would take 30 s
    pages = [int(dict(q.query)["pageNo"]) for q in sandbox.requests if q.api == "coinw_affiliate"]
    assert len(pages) == len(set(pages)) and {1, 2, 3} <= set(pages) <= {1, 2, 3, 4, 5}  # none retried, none more


def test_closed_stdout_is_exit_0_for_balcli_itself(sandbox, sandbox_env):
    """Not just the pipeline's status (head's): balcli's own, as `set -o pipefail` would see it."""
    import sys

    proc = subprocess.run(["bash", "-c", f"'{sys.executable}' -m balcli broker -o csv | head -1; "
                           'echo "status=${PIPESTATUS[0]}" >&2'], capture_output=True, text=True, timeout=60)
    assert proc.stdout == "user_id,coin,total_balance\n"
    assert proc.stderr == "status=0\n"
