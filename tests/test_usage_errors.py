"""Every option of every command with invalid values (README "Exit codes": exit 2, naming the option, before any request).

All cases run against one sandbox whose request log must stay empty: a usage error that slipped past the
parser into the transport would show up there (and as an exit 6/7 instead of 2). Valid credentials for every
exchange are in the environment, so nothing but the bad option can stop the run.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from balcli.sandbox import Sandbox
from tests.conftest import run_cli, sandbox_environment

TODAY = datetime.now(timezone.utc).date()


def day(offset: int) -> str:
    return (TODAY + timedelta(days=offset)).isoformat()


# (command line, text the error must contain: the option it names)
COMMON = [
    (["-o", "xml"], "'-o'"),
    (["--format", "yaml"], "'--format'"),
    (["-o"], "'-o' requires an argument"),
    (["--json", "--csv"], "--csv"),
    (["--json", "-o", "tsv"], "--json"),
    (["--csv", "--format", "ndjson"], "--csv"),
    (["--fields", "nope"], "--fields"),
    (["--fields", ","], "--fields"),
    (["--timeout", "0"], "'--timeout'"),
    (["--timeout", "601"], "'--timeout'"),
    (["--timeout", "abc"], "'--timeout'"),
    (["--timeout", "nan"], "'--timeout'"),
    (["--timeout", "-inf"], "'--timeout'"),
    (["--max-retries", "-1"], "'--max-retries'"),
    (["--max-retries", "21"], "'--max-retries'"),
    (["--max-retries", "1.5"], "'--max-retries'"),
    (["--base-url", "ftp://example.com"], "--base-url"),
    (["--base-url", "example.com"], "--base-url"),
    (["--base-url", "http://"], "--base-url"),
    (["--base-url", "http://127.0.0.1:99999"], "--base-url"),  # requests' InvalidURL: was retried, exit 6
    (["--base-url", "https:// spaces"], "--base-url"),
    (["--base-url", "https://api.example.com/?x=1"], "--base-url"),
    (["--no-header=yes"], "--no-header"),
    (["--wide=yes"], "--wide"),
    (["--bogus"], "no such option: --bogus"),
    (["--fiels", "coin"], "did you mean --fields"),
]

SOURCE_COMMANDS = [["broker"], ["spot"], ["snapshot"], ["invitees"], ["oauth", "balances"], ["oauth", "history"],
                   ["doctor"]]

OWN = [
    # broker
    (["broker", "--page-size", "0"], "'--page-size'"),
    (["broker", "--page-size", "51"], "'--page-size'"),
    (["broker", "--page-size", "ten"], "'--page-size'"),
    (["broker", "--max-items", "0"], "'--max-items'"),
    (["broker", "--max-items", "-5"], "'--max-items'"),
    (["broker", "--uid", "abc"], "--uid"),
    (["broker", "--uid", ""], "--uid"),
    (["broker", "--coin", "US-DT"], "--coin"),
    (["broker", "--coin", ""], "--coin"),
    (["broker", "--total", "--fields", "user_id"], "--fields"),
    (["broker", "--testnet", "--base-url", "http://127.0.0.1:9"], "--testnet and --base-url"),
    (["broker", "--total=no"], "--total"),
    # spot
    (["spot", "--coin", "B TC"], "--coin"),
    (["spot", "--coin", "BTC", "--coin", "x/y"], "--coin"),
    (["spot", "--complete", "--fields", "balance"], "--fields"),
    (["spot", "--fields", "total"], "--fields"),
    (["spot", "--hide-zero=1"], "--hide-zero"),
    # snapshot
    (["snapshot", "--type", "options"], "'--type'"),
    (["snapshot", "--positions", "--type", "spot"], "--positions"),
    (["snapshot", "--positions", "--type", "margin"], "--type margin"),
    (["snapshot", "--limit", "6"], "'--limit'"),
    (["snapshot", "--limit", "31"], "'--limit'"),
    (["snapshot", "--limit", "seven"], "'--limit'"),
    (["snapshot", "--start", "yesterday"], "--start"),
    (["snapshot", "--start", "2025-02-30"], "--start"),
    (["snapshot", "--start", "2025-01-01T10:00:00+25:00"], "--start"),
    (["snapshot", "--end", "13/01/2025"], "--end"),
    (["snapshot", "--end", "7x"], "--end"),
    (["snapshot", "--start", "2d", "--end", "5d"], "--start"),
    (["snapshot", "--start", day(-3), "--end", day(-3) + "T00:00:00Z"], "--start"),
    (["snapshot", "--start", "31d"], "--start"),
    (["snapshot", "--start", "999999999d"], "--start '999999999d' is too far from today"),  # was OverflowError
    (["snapshot", "--end", "99999999999w"], "--end '99999999999w' is too far from today"),
    (["snapshot", "--start", "9999-12-30"], "--start"),
    (["snapshot", "--end", "0001-01-01T00:00+08:00"], "--end '0001-01-01T00:00+08:00' is too far from today"),
    (["snapshot", "--end", "40d"], "--end"),
    (["snapshot", "--start", day(-29), "--end", day(1)], "--start and --end span 30 days"),
    (["snapshot", "--type", "margin", "--fields", "wallet_balance"], "--fields"),
    (["snapshot", "--positions", "--fields", "asset"], "--fields"),
    # invitees
    (["invitees", "--uid", "12a"], "--uid"),
    (["invitees", "--quote", "eur"], "'--quote'"),
    (["invitees", "--page-size", "0"], "'--page-size'"),
    (["invitees", "--page-size", "101"], "'--page-size'"),
    (["invitees", "--max-items", "0"], "'--max-items'"),
    (["invitees", "--tz", "+25:00"], "--tz"),
    (["invitees", "--tz", "Asia/Shanghai"], "--tz"),
    (["invitees", "--tz", ""], "--tz"),
    (["invitees", "--start", "soon"], "--start"),
    (["invitees", "--start", "99999999999d"], "--start '99999999999d' is too far from today"),
    (["invitees", "--start", "1d", "--end", "9999-12-31T23:59:59-01:00"], "--end"),
    (["invitees", "--end", "2025-13-01"], "--end"),
    (["invitees", "--start", "1d", "--end", "3d"], "--start"),
    (["invitees", "--start", "2025-01-02", "--end", "2025-01-01"], "--start"),
    (["invitees", "--fields", "balance"], "--fields"),
    # oauth
    (["oauth", "history", "--page-size", "0"], "'--page-size'"),
    (["oauth", "history", "--page-size", "1001"], "'--page-size'"),
    (["oauth", "history", "--max-items", "0"], "'--max-items'"),
    (["oauth", "history", "--currency", "USDT ERC20"], "--currency"),
    (["oauth", "history", "--currency", ""], "--currency"),
    (["oauth", "history", "--type", "de posit"], "--type"),
    (["oauth", "history", "--fields", "scope"], "--fields"),
    (["oauth", "balances", "--fields", "amount"], "--fields"),
    (["oauth", "balances", "--max-items", "3"], "--max-items"),
    (["oauth", "balances", "--currency", "BTC"], "--currency"),
    (["oauth", "nope"], "'nope'"),
    # auth
    (["auth", "set", "kraken"], "EXCHANGE"),
    (["auth", "set", "zoomex", "--store", "vault"], "'--store'"),
    (["auth", "set", "zoomex", "--token"], "--token"),
    (["auth", "set", "binance", "--stdin=yes"], "--stdin"),
    (["auth", "remove", "kraken"], "EXCHANGE"),
    (["auth", "remove", "coinw", "--store", "cloud"], "'--store'"),
    (["auth", "status", "--fields", "secret"], "--fields"),
    (["auth", "status", "-o", "xml"], "'-o'"),
    (["auth", "status", "--json", "--csv"], "--csv"),
    (["auth", "status", "--check", "--timeout", "0"], "'--timeout'"),
    (["auth", "status", "--check", "--max-retries", "99"], "'--max-retries'"),
    (["auth", "status", "--check", "--base-url", "gopher://x"], "--base-url"),
    (["auth", "status", "--check=1"], "--check"),
    (["auth", "status", "kraken"], "EXCHANGE"),
    (["auth", "status", "--check", "zoomex", "nope"], "EXCHANGE"),
    # doctor
    (["doctor", "kraken"], "EXCHANGE"),
    (["doctor", "--check"], "no such option: --check"),
    # config
    (["config", "path", "extra"], "extra"),
    (["config", "show", "-o", "xml"], "'-o'"),
    (["config", "show", "--fields", "secret"], "--fields"),
    (["config", "show", "--json", "--csv"], "--csv"),
    (["config", "init", "--force=yes"], "--force"),
    (["config", "init", "--path", "x"], "--path"),
    # sandbox serve (usage errors before it would listen)
    (["sandbox", "serve", "--port", "70000"], "'--port'"),
    (["sandbox", "serve", "--port", "-1"], "'--port'"),
    (["sandbox", "serve", "--customers", "-1"], "'--customers'"),
    (["sandbox", "serve", "--invitees", "many"], "'--invitees'"),
    (["sandbox", "serve", "--history", "1000001"], "'--history'"),
    (["sandbox", "serve", "--latency-ms", "-1"], "'--latency-ms'"),
    (["sandbox", "serve", "--latency-ms", "nan"], "'--latency-ms'"),
    (["sandbox", "serve", "--error-rate", "1.5"], "'--error-rate'"),
    (["sandbox", "serve", "--error-rate", "nan"], "'--error-rate'"),
    (["sandbox", "serve", "--seed", "x"], "'--seed'"),
    # global options
    (["--nope", "spot"], "--nope"),
    (["-p"], "'-p' requires an argument"),
    (["--profile"], "'--profile' requires an argument"),
    (["--config"], "'--config' requires an argument"),
    (["--sandbox=2", "spot"], "--sandbox"),
    (["--verbose=2", "spot"], "--verbose"),
    (["--debug=yes", "spot"], "--debug"),
    (["frobnicate"], "'frobnicate'"),
    (["brokr"], "did you mean broker?"),
    (["spot", "--version"], "--version"),
    (["broker", "--json", "--profile"], "'--profile' requires an argument"),
]

CASES = [(cmd + args, word) for cmd in SOURCE_COMMANDS for args, word in COMMON] + OWN


@pytest.fixture(scope="module")
def shared_sandbox():
    with Sandbox() as sb:
        yield sb
        # the whole table sent nothing at all
        assert sb.requests == []


@pytest.mark.parametrize("args,word", CASES, ids=[" ".join(a) or "-" for a, _ in CASES])
def test_invalid_option_exits_2_naming_it_and_sends_nothing(shared_sandbox, monkeypatch, args, word):
    for k, v in sandbox_environment(shared_sandbox).items():
        monkeypatch.setenv(k, v)
    r = run_cli(*args)
    assert r.code == 2, (r.code, r.err)
    assert word.replace("'", "") in r.err.replace("'", "")
    assert r.out == ""
    assert "Traceback" not in r.err
    # README "Exit codes": the same two-line form as every other error, parser errors included (grep '^balcli: error')
    lines = r.err.splitlines()
    assert len(lines) == 2 and lines[0].startswith("balcli: error: ") and lines[1].startswith("hint: "), r.err
    if word.startswith("'"):  # the parser's own errors point at the command's help
        assert " --help`" in lines[1] and lines[1].count("`balcli") == 1, r.err
    assert shared_sandbox.requests == []


@pytest.mark.parametrize("args,stdin,word", [
    (["auth", "set", "zoomex", "--stdin"], "only-the-key\n", "--stdin"),
    (["auth", "set", "cryptofuse", "--stdin", "--token"], "", "--stdin"),
    (["auth", "set", "coinw", "--stdin"], "a key with spaces\nsecret\n", "API key"),
])
def test_bad_stdin_for_auth_set_exits_2_and_stores_nothing(shared_sandbox, monkeypatch, memory_keyring, args, stdin,
                                                          word):
    r = run_cli(*args, stdin=stdin)
    assert (r.code, r.out) == (2, "")
    assert word in r.err
    assert memory_keyring.items == {}
    assert shared_sandbox.requests == []


def test_the_same_command_line_with_valid_values_does_reach_the_sandbox(shared_sandbox, monkeypatch):
    """The control: the table's commands do send requests once the bad option is gone (so the empty log above
    means the usage check stopped them, not that they could never have reached the sandbox)."""
    for k, v in sandbox_environment(shared_sandbox).items():
        monkeypatch.setenv(k, v)
    r = run_cli("spot", "--json", "--timeout", "5", "--max-retries", "0")
    assert r.code == 0 and r.json()
    assert shared_sandbox.count(api="coinw_spot") == 1
    shared_sandbox.clear_log()


@pytest.mark.parametrize("args,valid", [
    (["broker", "-o", "xml"], "table, json, ndjson, csv, tsv;"),  # prometheus is refused there: not offered
    (["oauth", "history", "-o", "xml"], "table, json, ndjson, csv, tsv;"),
    (["summary", "-o", "xml"], "table, json, ndjson, csv, tsv, prometheus;"),
    (["check", "-o", "xml", "spot:USDT>1"], "table, json, ndjson, csv, tsv, prometheus;"),
])
def test_a_bad_format_lists_what_that_command_takes(args, valid):
    r = run_cli(*args)
    assert r.code == 2 and r.out == ""
    assert f"hint: --format/-o takes one of {valid} see `balcli {args[0]}" in r.err
