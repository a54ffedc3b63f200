"""balcli snapshot and balcli oauth over real HTTP against the sandbox: real signing, tokens, pages and limits."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

pytestmark = pytest.mark.integration

DAY = 86_400_000


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # float-ok: a time


def expected_snapshot_rows(sb, kind: str, positions: bool, lo: int, hi: int) -> list[dict]:
    """Computed from the sandbox's demo data, independently of balcli's row code."""
    rows = []
    for vo in sb.data.snapshot_vos(kind, sb.now_ms()):
        if not lo <= vo["updateTime"] <= hi:
            continue
        t = vo["updateTime"]
        day = {"date": iso(t)[:10], "update_time": iso(t)}
        d = vo["data"]
        if positions:
            rows += [{**day, "symbol": p["symbol"], "position_amt": p["positionAmt"], "entry_price": p["entryPrice"],
                      "mark_price": p["markPrice"], "unrealized_profit": p["unRealizedProfit"]} for p in d["position"]]
        elif kind == "spot":
            rows += [{**day, "asset": b["asset"], "free": b["free"], "locked": b["locked"],
                      "total_asset_of_btc": d["totalAssetOfBtc"]} for b in d["balances"]]
        elif kind == "margin":
            rows += [{**day, "asset": a["asset"], "free": a["free"], "locked": a["locked"], "borrowed": a["borrowed"],
                      "interest": a["interest"], "net_asset": a["netAsset"], "margin_level": d["marginLevel"],
                      "total_net_asset_of_btc": d["totalNetAssetOfBtc"]} for a in d["userAssets"]]
        else:
            rows += [{**day, "asset": a["asset"], "wallet_balance": a["walletBalance"],
                      "margin_balance": a["marginBalance"]} for a in d["assets"]]
    return rows


def parse(out: str, fmt: str) -> list[dict]:
    if fmt == "json":
        return json.loads(out)
    if fmt == "ndjson":
        return [json.loads(line) for line in out.splitlines()]
    return list(csv.DictReader(io.StringIO(out), delimiter="," if fmt == "csv" else "\t"))


def window(days_back_start: int, days_back_end: int) -> tuple[str, str, int, int]:
    today = datetime.now(timezone.utc).date()
    start, end = today - timedelta(days=days_back_start), today - timedelta(days=days_back_end)
    lo = int(datetime(start.year, start.month, start.day, tzinfo=timezone.utc).timestamp()) * 1000
    hi = int(datetime(end.year, end.month, end.day, tzinfo=timezone.utc).timestamp()) * 1000 + DAY - 1
    return start.isoformat(), end.isoformat(), lo, hi


# -- snapshot ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args,kind,positions,fmt", [
    (["--type", "spot"], "spot", False, "json"),
    (["--type", "margin"], "margin", False, "csv"),
    (["--type", "futures"], "futures", False, "ndjson"),
    (["--type", "futures", "--positions"], "futures", True, "tsv"),
])
def test_snapshot_rows_of_a_20_day_window_match_the_data(sandbox, sandbox_env, cli, args, kind, positions, fmt):
    start, end, lo, hi = window(21, 2)  # 20 days: more than Binance's default limit of 7
    r = cli("snapshot", *args, "--start", start, "--end", end, "-o", fmt)
    assert (r.code, r.err) == (0, "")
    want = expected_snapshot_rows(sandbox, kind, positions, lo, hi)
    assert len({row["date"] for row in want}) == 20
    assert parse(r.out, fmt) == want
    sent = [q for q in sandbox.requests if q.api == "binance"]
    assert len(sent) == 1 and dict(sent[0].query)["limit"] == "20" and dict(sent[0].query)["type"] == kind.upper()
    assert sandbox.count(rate_limited=True) == 0


def test_snapshot_default_is_the_last_7_days_of_spot(sandbox, sandbox_env, cli):
    r = cli("snapshot", "--json")
    assert (r.code, r.err) == (0, "")
    now = sandbox.now_ms()
    assert r.json() == expected_snapshot_rows(sandbox, "spot", False, now - 7 * DAY, now)
    assert len({row["date"] for row in r.json()}) == 7


def test_snapshot_start_30d_gets_the_whole_month(sandbox, sandbox_env, cli):
    r = cli("snapshot", "--type", "margin", "--start", "30d", "--json")
    assert (r.code, r.err) == (0, ""), r.err
    dates = [row["date"] for row in r.json()]
    assert len(set(dates)) in (29, 30) and dates == sorted(dates)  # 30 unless run in the last minute of a day
    assert sandbox.count(status=400) == 0


def test_snapshot_within_budget_never_sees_a_429_and_waits_for_the_next_minute(sandbox, sandbox_env, cli, no_sleep):
    """Four calls spend 9600 of 12000; a clock-skew retry then needs two more calls' worth: balcli waits."""
    for _ in range(4):
        assert cli("snapshot", "--json").code == 0
    sandbox.clock_offset_ms = -5000  # the server is 5 s behind: our timestamp is "ahead" (-1021)
    r = cli("snapshot", "--json")
    assert r.code == 0, r.err
    assert "warning: the local clock is" in r.err
    assert sandbox.count(api="binance", rate_limited=True) == 0
    assert sandbox.count(api="binance", status=418) == 0


def test_snapshot_ban_exits_5_after_one_request(sandbox, sandbox_env, cli):
    sandbox.inject("ban", api="binance", retry_after=300)
    r = cli("snapshot", "--json")
    assert r.code == 5 and r.out == "" and "banned" in r.err and "until 20" in r.err
    assert sandbox.count(api="binance") == 1


def test_snapshot_server_errors_are_retried_then_succeed(sandbox, sandbox_env, cli, no_sleep):
    sandbox.inject("http_error", api="binance", times=2, status=502, html=True)
    r = cli("snapshot", "--type", "futures", "--json")
    assert (r.code, r.err) == (0, "")
    assert sandbox.count(api="binance", status=502) == 2 and sandbox.count(api="binance", status=200) == 1


def test_snapshot_limited_key_exits_4(sandbox, sandbox_env, cli, monkeypatch):
    from balcli.sandbox import LIMITED_CREDENTIALS

    monkeypatch.setenv("BALCLI_BINANCE_API_KEY", LIMITED_CREDENTIALS["api_key"])
    monkeypatch.setenv("BALCLI_BINANCE_API_SECRET", LIMITED_CREDENTIALS["api_secret"])
    r = cli("snapshot", "--json")
    assert r.code == 4 and "code -2015" in r.err


def test_snapshot_wrong_secret_exits_4_as_bad_signature(sandbox, sandbox_env, cli, monkeypatch):
    monkeypatch.setenv("BALCLI_BINANCE_API_SECRET", "not-the-secret")
    r = cli("snapshot", "--json")
    assert r.code == 4 and "invalid signature" in r.err and "code -1022" in r.err


# -- oauth ---------------------------------------------------------------------------------------------------

@pytest.fixture
def fast_oauth(config_dir):
    """Raise the client-side Cryptofuse limit for tests that run the command several times."""
    (config_dir / "config.yaml").write_text("profiles:\n  default:\n    cryptofuse: {rate_limit: 50}\n")


def expected_balances(sb) -> list[dict]:
    return ([{"scope": "account", "currency": c, "balance": b} for c, b in sorted(sb.data.oauth_account.items())]
            + [{"scope": "sub_accounts", "currency": c, "balance": b}
               for c, b in sorted(sb.data.oauth_sub_accounts.items())])


@pytest.mark.parametrize("fmt", ["json", "ndjson", "csv", "tsv"])
def test_oauth_balances_match_the_data(sandbox, sandbox_env, cli, fmt):
    r = cli("oauth", "balances", "-o", fmt)
    assert (r.code, r.err) == (0, "")
    assert parse(r.out, fmt) == expected_balances(sandbox)


def test_oauth_balances_table_has_the_statistics(sandbox, sandbox_env, cli):
    r = cli("oauth", "balances", "-o", "table")
    stats = sandbox.data.oauth_statistics
    assert r.code == 0
    assert f"statistics: total_deposits {stats['total_deposits']}, total_withdrawals {stats['total_withdrawals']}" \
        in r.out


@pytest.mark.parametrize("fmt", ["json", "ndjson", "csv"])
def test_oauth_history_is_complete_in_every_format(sandbox, sandbox_env, cli, fast_oauth, fmt):
    r = cli("oauth", "history", "-o", fmt)
    assert (r.code, r.err) == (0, "")
    assert len(sandbox.data.history) == 230
    assert parse(r.out, fmt) == sandbox.data.history
    assert sandbox.count(api="cryptofuse", status=200) == 1 + 3  # the token, then 230 rows at 100 a page


def test_oauth_history_default_settings_are_never_rate_limited(sandbox, sandbox_env, cli):
    r = cli("oauth", "history", "--page-size", "80", "--json")
    assert (r.code, r.err) == (0, "")
    assert r.json() == sandbox.data.history
    assert sandbox.count(rate_limited=True) == 0
    assert sorted(int(dict(q.query)["offset"]) for q in sandbox.requests if q.path.endswith("/history/")) == [
        0, 80, 160]


def test_oauth_history_follows_the_server_cap_and_filters(sandbox, sandbox_env, cli, fast_oauth):
    r = cli("oauth", "history", "--page-size", "500", "--json")  # the sandbox clamps limit to 100
    assert r.code == 0 and r.json() == sandbox.data.history
    want = [h for h in sandbox.data.history if h["currency"] == "USDTERC20" and h["type"] == "deposit"]
    r = cli("oauth", "history", "--currency", "USDTERC20", "--type", "deposit", "--page-size", "7", "--json")
    assert r.code == 0 and r.json() == want and len(want) > 7
    r = cli("oauth", "history", "--max-items", "25", "--page-size", "10", "-o", "ndjson")
    assert parse(r.out, "ndjson") == sandbox.data.history[:25]


def test_oauth_token_is_cached_across_runs_and_refreshed_once_when_expired(sandbox, sandbox_env, cli, fast_oauth,
                                                                          isolated):
    def tokens():
        return sum(1 for q in sandbox.requests if q.path == "/o/token/")

    assert cli("oauth", "balances", "--json").code == 0
    assert cli("oauth", "balances", "--json").code == 0
    assert tokens() == 1
    assert (isolated / "cache" / "cryptofuse-token-default.json").stat().st_mode & 0o077 == 0
    sandbox.expire_tokens()
    r = cli("oauth", "history", "--json")
    assert (r.code, r.err) == (0, "") and r.json() == sandbox.data.history
    assert tokens() == 2
    assert sandbox.count(api="cryptofuse", status=401) == 1


def test_oauth_static_token(sandbox, sandbox_env, cli, monkeypatch):
    from balcli.sandbox import DEMO_STATIC_TOKEN

    monkeypatch.delenv("BALCLI_CRYPTOFUSE_CLIENT_ID")
    monkeypatch.delenv("BALCLI_CRYPTOFUSE_CLIENT_SECRET")
    monkeypatch.setenv("BALCLI_CRYPTOFUSE_TOKEN", DEMO_STATIC_TOKEN)
    r = cli("oauth", "balances", "--json")
    assert (r.code, r.json()) == (0, expected_balances(sandbox))
    monkeypatch.setenv("BALCLI_CRYPTOFUSE_TOKEN", "not-a-token-at-all")
    r = cli("oauth", "balances", "--json")
    assert r.code == 4 and sandbox.count(api="cryptofuse", status=401) == 1
    assert not any(q.path == "/o/token/" for q in sandbox.requests)


def test_oauth_read_only_client_is_refused_a_token_exit_4(sandbox, sandbox_env, cli, monkeypatch):
    from balcli.sandbox import LIMITED_CLIENT

    monkeypatch.setenv("BALCLI_CRYPTOFUSE_CLIENT_ID", LIMITED_CLIENT["client_id"])
    monkeypatch.setenv("BALCLI_CRYPTOFUSE_CLIENT_SECRET", LIMITED_CLIENT["client_secret"])
    r = cli("oauth", "balances", "--json")
    assert r.code == 4 and "invalid_scope" in r.err and "read and write scopes" in r.err


def test_oauth_wrong_client_secret_exit_4(sandbox, sandbox_env, cli, monkeypatch):
    monkeypatch.setenv("BALCLI_CRYPTOFUSE_CLIENT_SECRET", "wrong")
    r = cli("oauth", "balances", "--json")
    assert r.code == 4 and "invalid_client" in r.err and "BALCLI_CRYPTOFUSE_CLIENT_SECRET" in r.err
    assert sandbox.count(api="cryptofuse") == 1


def test_oauth_rate_limit_is_retried_and_a_repeated_page_is_an_error(sandbox, sandbox_env, cli, fast_oauth, no_sleep):
    sandbox.inject("rate_limit", api="cryptofuse", times=1, retry_after=2)
    r = cli("oauth", "balances", "--json")
    assert (r.code, r.err) == (0, "") and r.json() == expected_balances(sandbox)
    sandbox.inject("repeat_page", api="cryptofuse", times=1)
    r = cli("oauth", "history", "--page-size", "100", "--json")
    assert r.code == 7 and r.out == "" and "repeats page" in r.err


def test_oauth_changing_total_is_warned_about(sandbox, sandbox_env, cli, fast_oauth):
    sandbox.inject("total_changes", api="cryptofuse", times=1, delta=-1)
    r = cli("oauth", "history", "--page-size", "100", "--json")
    assert r.code == 0 and r.json() == sandbox.data.history
    assert "total changed during the run (229 -> 230)" in r.err


# -- as a shell sees it ------------------------------------------------------------------------------------------

def test_sandbox_flag_subprocess_json_is_clean():
    for args in (["snapshot", "--type", "futures", "--positions"], ["oauth", "history", "--max-items", "5"]):
        p = subprocess.run([sys.executable, "-m", "balcli", "--sandbox", *args, "--json"], capture_output=True,
                           text=True, timeout=60, check=False)
        assert (p.returncode, p.stderr) == (0, ""), p.stderr
        rows = json.loads(p.stdout)
        assert rows and all(set(r) >= {"date", "symbol"} or set(r) >= {"timestamp", "amount"} for r in rows)
