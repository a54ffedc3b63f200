"""balcli spot and balcli invitees over real HTTP against the sandbox: real signing (verified by the sandbox's
own code), real pagination, real faults. Expected rows are computed from ``sb.data``, not from balcli."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal, localcontext

import pytest

from balcli.sandbox import LIMITED_CREDENTIALS

pytestmark = pytest.mark.integration

CST = timezone(timedelta(hours=8))
DAY_MS = 86_400_000


def utc(text):
    """A sandbox time (``yyyy-MM-dd HH:mm:ss`` in UTC+08:00) as the ISO UTC text balcli shows; blanks -> None."""
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CST).astimezone(timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def invitee_rows(sb, quote="usdt", start_ms=None, end_ms=None, invitees=None):
    rows = []
    for inv in invitees if invitees is not None else sb.data.invitees:
        w = sb.data.invitee_row(inv, quote, start_ms, end_ms)
        rows.append({"uid": w["uid"], "total_deposit": w["totalDeposit"] or None,
                     "total_withdrawal": w["totalWithdrawal"] or None, "current_balance": w["currentBalance"] or None,
                     "update_time": utc(w["updateTime"]), "first_deposit_amount": w["firstDepositAmount"] or None,
                     "first_deposit_time": utc(w["firstDepositTime"])})
    return rows


def as_text(rows):
    return [{k: "" if v is None else str(v) for k, v in row.items()} for row in rows]


def spot_rows(sb):
    return [{"coin": c, "balance": b} for c, b in sorted(sb.data.spot.items())]


def complete_rows(sb):
    with localcontext() as ctx:
        ctx.prec = 200
        return [{"coin": c, "available": v["available"], "on_orders": v["onOrders"],
                 "total": format(Decimal(v["available"]) + Decimal(v["onOrders"]), "f")}
                for c, v in sorted(sb.data.spot_complete.items())]


# -- invitees -----------------------------------------------------------------------------------------------

def test_every_invitee_exactly_once_in_json(sandbox, sandbox_env, cli):
    r = cli("invitees", "--json")
    assert (r.code, r.err) == (0, "")
    assert len(sandbox.data.invitees) == 250
    assert r.json() == invitee_rows(sandbox)
    assert sorted(int(dict(q.query)["pageNo"]) for q in sandbox.requests) == [1, 2, 3]
    assert sandbox.count(api="coinw_affiliate", status=200) == 3
    assert sandbox.count(rate_limited=True) == 0
    assert any(row["update_time"] is None for row in r.json())  # invitees without deposits are there too


@pytest.mark.parametrize("fmt,size", [("ndjson", 37), ("csv", 60), ("tsv", 100)])
def test_streaming_formats_have_every_invitee(sandbox, sandbox_env, cli, fmt, size):
    r = cli("invitees", "-o", fmt, "--page-size", str(size))
    assert (r.code, r.err) == (0, "")
    want = invitee_rows(sandbox)
    if fmt == "ndjson":
        assert [json.loads(line) for line in r.out.splitlines()] == want
    else:
        got = list(csv.DictReader(io.StringIO(r.out), delimiter="," if fmt == "csv" else "\t"))
        assert got == as_text(want)
    assert sandbox.count(api="coinw_affiliate") == -(-250 // size)  # 37: 7 pages, 4 in flight at a time
    assert sandbox.count(rate_limited=True) == 0


def test_table_footer_sums_match_the_data(sandbox, sandbox_env, cli):
    r = cli("invitees", "-o", "table", "--quote", "usdc")
    assert r.code == 0
    want = invitee_rows(sandbox, "usdc")
    with localcontext() as ctx:
        ctx.prec = 200
        sums = [format(sum(Decimal(x[f]) for x in want), "f")
                for f in ("total_deposit", "total_withdrawal", "current_balance")]
    footer = next(line for line in r.out.splitlines() if line.split()[:1] == ["total"])
    assert footer.split() == ["total", *sums]
    assert "amounts in USDC" in r.out
    assert sandbox.count(rate_limited=True) == 0


def test_a_window_and_a_quote_change_deposits_and_withdrawals_exactly(sandbox, sandbox_env, cli):
    anchor = sandbox.data.anchor_ms
    start_ms, end_ms = anchor - 200 * DAY_MS, anchor - 100 * DAY_MS  # whole seconds: nothing is rounded
    start = datetime.fromtimestamp(start_ms // 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = datetime.fromtimestamp(end_ms // 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    r = cli("invitees", "--start", start, "--end", end, "--quote", "usdc", "--json")
    assert (r.code, r.err) == (0, "")
    assert r.json() == invitee_rows(sandbox, "usdc", start_ms, end_ms)
    assert r.json() != invitee_rows(sandbox, "usdc")  # the window really changed the totals
    sent = dict(sandbox.requests[0].query)
    assert sent["startTime"] == datetime.fromtimestamp(start_ms // 1000, CST).strftime("%Y-%m-%d %H:%M:%S")
    assert sent["quote"] == "usdc"


def test_one_uid(sandbox, sandbox_env, cli):
    inv = sandbox.data.invitees[17]
    r = cli("invitees", "--uid", str(inv.uid), "--json")
    assert r.json() == invitee_rows(sandbox, invitees=[inv])
    assert sandbox.count(api="coinw_affiliate") == 1


def test_max_items(sandbox, sandbox_env, cli):
    r = cli("invitees", "--max-items", "120", "-o", "ndjson")
    assert [json.loads(line) for line in r.out.splitlines()] == invitee_rows(sandbox)[:120]
    assert sandbox.count(api="coinw_affiliate") == 2


def test_stale_clock_is_recovered_with_a_warning(sandbox, sandbox_env, cli):
    sandbox.clock_offset_ms = 120_000  # the server is two minutes ahead of us: 6002 "timestamp expired"
    r = cli("invitees", "--json", "--max-items", "5")
    assert r.code == 0 and r.json() == invitee_rows(sandbox)[:5]
    assert re.search(r"local clock is 1(19\.9|20\.0)\d* s behind CoinW affiliate's server", r.err)
    assert [q.path for q in sandbox.requests].count("/v1/perpum/time") == 1


@pytest.mark.parametrize("env_change,word", [
    ({"BALCLI_COINW_API_SECRET": "wrong-secret-0000"}, "invalid signature"),
    ({"BALCLI_COINW_API_KEY": "unknown-key-00000"}, "invalid API key"),
    ({"BALCLI_COINW_API_KEY": LIMITED_CREDENTIALS["api_key"],
      "BALCLI_COINW_API_SECRET": LIMITED_CREDENTIALS["api_secret"]}, "Affiliate permission"),
])
def test_rejected_credentials_exit_4(sandbox, sandbox_env, cli, monkeypatch, env_change, word):
    for k, v in env_change.items():
        monkeypatch.setenv(k, v)
    r = cli("invitees", "--json")
    assert (r.code, r.out) == (4, "")
    assert word in r.err and "hint:" in r.err
    assert sandbox.count(api="coinw_affiliate") == 1


def test_rate_limit_answers_are_retried_and_the_result_is_complete(sandbox, sandbox_env, cli, no_sleep):
    sandbox.inject("rate_limit", api="coinw_affiliate", times=2)
    r = cli("invitees", "--json")
    assert r.code == 0 and r.json() == invitee_rows(sandbox)
    assert sandbox.count(api="coinw_affiliate") == 3 + 2


@pytest.mark.parametrize("fault,options,exit_code,word", [
    ("invalid_json", {}, 7, "invalid JSON"),
    ("repeat_page", {}, 7, "repeats page"),
    ("short_total", {}, 7, "is empty but only"),
    ("unreachable_total", {"extra": 5}, 7, "is empty but only 250 of 255"),
    ("missing_field", {"field": "data.list.*.currentBalance"}, 7, "'currentBalance'"),
    ("http_error", {"status": 502, "html": True}, 6, "HTTP 502"),
])
def test_faults_exit_with_their_code(sandbox, sandbox_env, cli, no_sleep, fault, options, exit_code, word):
    sandbox.inject(fault, api="coinw_affiliate", **options)
    r = cli("invitees", "--json")
    assert (r.code, r.out) == (exit_code, "")
    assert word in r.err


def test_a_changing_total_is_warned_about(sandbox, sandbox_env, cli):
    sandbox.inject("total_changes", api="coinw_affiliate", times=1, delta=-3)
    r = cli("invitees", "--json")
    assert r.code == 0 and r.json() == invitee_rows(sandbox)
    assert "warning" in r.err and "247 -> 250" in r.err


def test_closed_stdout_ends_quietly(sandbox, sandbox_env):
    proc = subprocess.run(f"'{sys.executable}' -m balcli invitees -o csv | head -2",
                          check=False, shell=True, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.splitlines()[1].split(",")[0] == str(sandbox.data.invitees[0].uid)


# -- spot ---------------------------------------------------------------------------------------------------

def test_spot_rows_match_the_data_in_json_and_csv(sandbox, sandbox_env, cli):
    r = cli("spot", "--json")
    assert (r.code, r.err) == (0, "")
    assert r.json() == spot_rows(sandbox)
    r = cli("spot", "--csv")
    assert list(csv.DictReader(io.StringIO(r.out))) == spot_rows(sandbox)
    assert sandbox.count(api="coinw_spot", status=200) == 2
    assert sandbox.count(rate_limited=True) == 0


def test_spot_complete_totals_are_exact(sandbox, sandbox_env, cli):
    r = cli("spot", "--complete", "-o", "ndjson")
    assert (r.code, r.err) == (0, "")
    assert [json.loads(line) for line in r.out.splitlines()] == complete_rows(sandbox)
    r = cli("spot", "--complete", "--hide-zero", "--coin", "usdt", "--coin", "XRP", "--coin", "doge", "--json")
    assert r.json() == [row for row in complete_rows(sandbox) if row["coin"] in ("USDT", "XRP")]
    assert [q.query[0] for q in sandbox.requests] == [("command", "returnCompleteBalances")] * 2
    assert sandbox.count(rate_limited=True) == 0


def test_spot_hide_zero_keeps_dust(sandbox, sandbox_env, cli):
    r = cli("spot", "--hide-zero", "-o", "tsv", "--no-header")
    want = [row for row in spot_rows(sandbox) if Decimal(row["balance"]) != 0]
    assert r.out.splitlines() == [f"{x['coin']}\t{x['balance']}" for x in want]
    assert "DUST\t0.000000000000000001" in r.out and "DOGE" not in r.out and "XRP" not in r.out


@pytest.mark.parametrize("shape", ["{}", "null", "missing", '""', "empty_body"])
def test_spot_without_assets_is_zero_rows(sandbox, sandbox_env, cli, shape):
    sandbox.inject("empty_spot", api="coinw_spot", shape=shape)
    r = cli("spot", "--json")
    assert (r.code, r.json(), r.err) == (0, [], "")
    r = cli("spot", "--complete", "-o", "table")
    assert (r.code, r.out) == (0, "") and "no balances" in r.err


@pytest.mark.parametrize("env_change", [{"BALCLI_COINW_API_SECRET": "wrong-secret-0000"},
                                        {"BALCLI_COINW_API_KEY": "unknown-key-00000"}])
def test_spot_rejected_credentials_exit_4(sandbox, sandbox_env, cli, monkeypatch, env_change):
    for k, v in env_change.items():
        monkeypatch.setenv(k, v)
    r = cli("spot", "--json")
    assert (r.code, r.out) == (4, "") and "authentication failed" in r.err
    assert sandbox.count(api="coinw_spot") == 1


def test_spot_ban_page_exits_4_at_once(sandbox, sandbox_env, cli):
    sandbox.inject("ban", api="coinw_spot")
    r = cli("spot", "--json")
    assert r.code == 4 and "HTTP 403" in r.err and "wait a few minutes" in r.err
    assert sandbox.count(api="coinw_spot") == 1


def test_spot_rate_limit_that_persists_exits_5(sandbox, sandbox_env, cli, no_sleep):
    sandbox.inject("rate_limit", api="coinw_spot")
    r = cli("spot", "--json", "--max-retries", "2")
    assert r.code == 5 and "code 29001" in r.err
    assert sandbox.count(api="coinw_spot") == 3


def test_builtin_sandbox_flag_runs_both_commands():
    from balcli.sandbox import Sandbox

    data = Sandbox().data
    proc = subprocess.run([sys.executable, "-m", "balcli", "--sandbox", "spot", "--json"], check=False,
                          capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert json.loads(proc.stdout) == [{"coin": c, "balance": b} for c, b in sorted(data.spot.items())]
    proc = subprocess.run([sys.executable, "-m", "balcli", "--sandbox", "invitees", "--max-items", "3", "--json"],
                          check=False, capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert [row["uid"] for row in json.loads(proc.stdout)] == [inv.uid for inv in data.invitees[:3]]
