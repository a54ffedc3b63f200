"""balcli spot end to end through the real command line, with the CoinW spot API mocked by `responses`."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses

from tests.conftest import COINW_ENV

BASE = "https://api.coinw.com"
URL = BASE + "/api/v1/private"
KEY, SECRET = COINW_ENV["BALCLI_COINW_API_KEY"], COINW_ENV["BALCLI_COINW_API_SECRET"]
DUST = "0.000000000000000001"
HUGE = "98765432109876543210.123456789"

# As CoinW sends them: not sorted, variable precision, zeros in several spellings, a bare JSON number.
BALANCES = {"USDT": "257.518301140000000", "BTC": "0.0012", "CWT": "400.000", "DOGE": "0", "XRP": "0.00000000",
            "DUST": DUST, "ETH": "<number 0.0330>", "WHALE": HUGE}
BALANCE_ROWS = [
    {"coin": "BTC", "balance": "0.0012"},
    {"coin": "CWT", "balance": "400.000"},
    {"coin": "DOGE", "balance": "0"},
    {"coin": "DUST", "balance": DUST},
    {"coin": "ETH", "balance": "0.0330"},
    {"coin": "USDT", "balance": "257.518301140000000"},
    {"coin": "WHALE", "balance": HUGE},
    {"coin": "XRP", "balance": "0.00000000"},
]
COMPLETE = {"USDT": {"available": "257.518301140000000", "onOrders": "1000.25"},
            "BTC": {"available": "0.0012", "onOrders": "0.0003"},
            "DOGE": {"available": "0", "onOrders": "0.000"},
            "XRP": {"available": "0.00000000", "onOrders": "15.00000000"},
            "WHALE": {"available": HUGE, "onOrders": DUST}}
COMPLETE_ROWS = [
    {"coin": "BTC", "available": "0.0012", "on_orders": "0.0003", "total": "0.0015"},
    {"coin": "DOGE", "available": "0", "on_orders": "0.000", "total": "0.000"},
    {"coin": "USDT", "available": "257.518301140000000", "on_orders": "1000.25", "total": "1257.768301140000000"},
    {"coin": "WHALE", "available": HUGE, "on_orders": DUST, "total": "98765432109876543210.123456789000000001"},
    {"coin": "XRP", "available": "0.00000000", "on_orders": "15.00000000", "total": "15.00000000"},
]


def success(data):
    return {"code": "200", "data": data, "msg": "SUCCESS", "success": True, "failed": False}


def failure(code, msg="nope"):
    return {"code": code, "msg": msg, "data": None, "success": False, "failed": True}


def body(data) -> str:
    """The JSON text of a success body; ``"<number X>"`` becomes the bare JSON number X (legacy docs)."""
    return re.sub(r'"<number ([0-9.eE+-]+)>"', r"\1", json.dumps(success(data)))


def query(call) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(call.request.url).query, keep_blank_values=True)


@pytest.fixture
def coinw(monkeypatch, no_sleep):
    for k, v in COINW_ENV.items():
        monkeypatch.setenv(k, v)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def serve(rsps, data=BALANCES, complete=COMPLETE):
    def callback(request):
        command = dict(parse_qsl(urlsplit(request.url).query))["command"]
        if command == "returnBalances":
            return 200, {}, body(data)
        return 200, {}, body(complete)

    rsps.add_callback(responses.POST, URL, callback=callback)


# -- rows --------------------------------------------------------------------------------------------

def test_json_rows_sorted_by_coin_exactly_as_sent(coinw, cli):
    serve(coinw)
    r = cli("spot", "--json")
    assert (r.code, r.err) == (0, "")
    assert r.json() == BALANCE_ROWS
    assert len(coinw.calls) == 1


def test_the_request_is_signed_in_the_url_with_command_unsigned(coinw, cli):
    serve(coinw)
    cli("spot", "--json")
    call = coinw.calls[0]
    expected = hashlib.md5(f"api_key={KEY}&secret_key={SECRET}".encode()).hexdigest().upper()
    assert call.request.method == "POST"
    assert query(call) == [("command", "returnBalances"), ("api_key", KEY), ("sign", expected)]
    assert call.request.body in (None, b"", "")
    assert call.request.headers["Content-Type"] == "application/json"
    assert "api_key" not in call.request.headers and "sign" not in call.request.headers


def test_ndjson_csv_and_tsv_rows(coinw, cli):
    serve(coinw)
    r = cli("spot", "-o", "ndjson")
    assert r.code == 0 and [json.loads(line) for line in r.out.splitlines()] == BALANCE_ROWS
    r = cli("spot", "--csv")
    assert r.code == 0 and list(csv.DictReader(io.StringIO(r.out))) == BALANCE_ROWS
    r = cli("spot", "-o", "tsv")
    assert r.out.splitlines() == ["coin\tbalance"] + [f"{x['coin']}\t{x['balance']}" for x in BALANCE_ROWS]
    r = cli("spot", "--no-header", "--fields", "balance,coin")  # tsv in a pipe
    assert r.out.splitlines() == [f"{x['balance']}\t{x['coin']}" for x in BALANCE_ROWS]


def test_table_has_every_coin_and_no_total_across_coins(coinw, cli):
    serve(coinw)
    r = cli("spot", "-o", "table")
    assert r.code == 0
    lines = r.out.splitlines()
    for row in BALANCE_ROWS:
        assert any(row["coin"] in line and line.rstrip().endswith(row["balance"]) for line in lines)
    assert "total" not in r.out.lower()
    assert "E-" not in r.out and "e-" not in r.out


def test_complete_rows_total_is_the_exact_sum(coinw, cli):
    serve(coinw)
    r = cli("spot", "--complete", "--json")
    assert (r.code, r.err) == (0, "")
    assert r.json() == COMPLETE_ROWS
    assert dict(query(coinw.calls[0]))["command"] == "returnCompleteBalances"
    r = cli("spot", "--complete", "--csv")
    assert list(csv.DictReader(io.StringIO(r.out))) == COMPLETE_ROWS
    r = cli("spot", "--complete", "-o", "table")
    assert "98765432109876543210.123456789000000001" in r.out


def test_coin_filter_is_repeatable_and_case_insensitive(coinw, cli):
    serve(coinw)
    r = cli("spot", "--coin", "usdt", "--coin", "Btc", "--coin", "NOPE", "--json")
    assert r.json() == [{"coin": "BTC", "balance": "0.0012"},
                        {"coin": "USDT", "balance": "257.518301140000000"}]
    r = cli("spot", "--complete", "--coin", "xrp", "--json")
    assert r.json() == [COMPLETE_ROWS[4]]


def test_hide_zero_drops_exact_zeros_only(coinw, cli):
    serve(coinw)
    r = cli("spot", "--hide-zero", "--json")
    assert [x["coin"] for x in r.json()] == ["BTC", "CWT", "DUST", "ETH", "USDT", "WHALE"]  # dust stays
    r = cli("spot", "--complete", "--hide-zero", "--json")
    assert [x["coin"] for x in r.json()] == ["BTC", "USDT", "WHALE", "XRP"]  # XRP: 0 available, 15 on orders


@pytest.mark.parametrize("text", [
    json.dumps(success({})), json.dumps(success(None)), json.dumps(success("")), json.dumps(success([])),
    json.dumps({"code": "200", "msg": "SUCCESS", "success": True, "failed": False}), "",
])
def test_every_no_assets_shape_is_zero_rows_and_exit_0(coinw, cli, text):
    coinw.add(responses.POST, URL, body=text)
    r = cli("spot", "--json")
    assert (r.code, r.json(), r.err) == (0, [], "")
    r = cli("spot", "--complete", "-o", "table")
    assert (r.code, r.out) == (0, "")
    assert "no balances" in r.err


# -- usage errors: nothing is sent --------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["--coin", "US DT"], ["--coin", ""], ["--fields", "coin,available"], ["--complete", "--fields", "balance"],
    ["--json", "--csv"], ["-o", "xml"], ["--timeout", "0"], ["--base-url", "ftp://x"],
])
def test_usage_errors_exit_2_and_send_nothing(coinw, cli, args):
    serve(coinw)
    r = cli("spot", *args)
    assert r.code == 2, r.err
    assert r.out == ""
    assert len(coinw.calls) == 0


def test_missing_credentials_exit_3_naming_env_vars(cli):
    r = cli("spot")
    assert r.code == 3
    assert "BALCLI_COINW_API_KEY" in r.err and "balcli auth set coinw" in r.err


# -- API errors -> exit codes ---------------------------------------------------------------------------

@pytest.mark.parametrize("code,exit_code,word", [
    (6000, 4, "authentication failed"),  # bad key (CoinW.Net)
    (-103, 4, "authentication failed"),  # user API error: key / IP / permission
    (1003, 4, "authentication failed"),  # authentication error (bad signature in the sandbox)
    (-3, 2, "parameter"),
    (31337, 7, "error"),
])
def test_envelope_codes_map_to_exit_codes(coinw, cli, code, exit_code, word):
    coinw.add(responses.POST, URL, json=failure(code, "nope"))
    r = cli("spot", "--json")
    assert (r.code, r.out) == (exit_code, "")
    assert word in r.err and f"code {code}" in r.err and "'nope'" in r.err and "hint:" in r.err
    assert len(coinw.calls) == 1  # never retried


@pytest.mark.parametrize("status,text", [
    (401, json.dumps({"code": 401, "msg": "unauthorized"})),
    (403, "<html><head><title>403 Forbidden</title></head><body>nginx</body></html>"),  # refused or banned
])
def test_http_unauthorized_or_banned_exits_4_without_retrying(coinw, cli, status, text):
    coinw.add(responses.POST, URL, status=status, body=text)
    r = cli("spot", "--json")
    assert r.code == 4 and f"HTTP {status}" in r.err and "allow-list" in r.err
    assert len(coinw.calls) == 1  # a ban grows when hammered


def test_success_false_is_not_a_success(coinw, cli):
    coinw.add(responses.POST, URL, json={"code": "200", "data": None, "msg": "oops", "success": False})
    r = cli("spot", "--json")
    assert r.code == 7 and r.out == ""


def test_rate_limit_is_retried_then_succeeds(coinw, cli, no_sleep):
    coinw.add(responses.POST, URL, json=failure(29001, "API access frequently"))
    serve(coinw)
    r = cli("spot", "--json")
    assert (r.code, r.json(), r.err) == (0, BALANCE_ROWS, "")
    assert len(coinw.calls) == 2
    assert [s for s in no_sleep if s >= 1] and all(30 <= s <= 30.25 for s in no_sleep if s >= 1)  # docs/apis/README.md


def test_rate_limit_that_persists_exits_5(coinw, cli):
    coinw.add(responses.POST, URL, json=failure(29001, "API access frequently"))
    r = cli("spot", "--json", "--max-retries", "2")
    assert r.code == 5 and "rate limit" in r.err and "code 29001" in r.err
    assert len(coinw.calls) == 3


@pytest.mark.parametrize("status,text", [
    (502, "<html><body>502 Bad Gateway</body></html>"),
    (500, json.dumps(failure(-200, "system error"))),
    (200, json.dumps(failure(-200, "system error"))),
])
def test_server_failure_exits_6_after_retries(coinw, cli, status, text):
    coinw.add(responses.POST, URL, status=status, body=text)
    r = cli("spot", "--json")
    assert (r.code, r.out) == (6, "")
    assert len(coinw.calls) == 5  # 1 + --max-retries 4


@pytest.mark.parametrize("text,word", [
    ("not json", "invalid JSON"),
    ("<html><body>maintenance</body></html>", "HTML"),
    (json.dumps([1, 2]), "not a JSON object"),
    (json.dumps(success(["BTC"])), "not an object of coins"),
    (json.dumps(success({"BTC": "x"})), "not a decimal amount"),
    (json.dumps(success({"BTC": None})), "'BTC'"),
])
def test_unusable_answers_exit_7_naming_what_is_wrong(coinw, cli, text, word):
    coinw.add(responses.POST, URL, body=text)
    r = cli("spot", "--json")
    assert (r.code, r.out) == (7, "")
    assert word in r.err


@pytest.mark.parametrize("entry,word", [
    ({"available": "1"}, "'onOrders'"), ("1.5", "not an object"),
    ({"available": "1", "onOrders": "<number 1.5e-3>"}, ""),
])
def test_unusable_complete_entries_exit_7(coinw, cli, entry, word):
    text = body({"BTC": entry})  # a bare exponent number stays exact
    coinw.add(responses.POST, URL, body=text)
    r = cli("spot", "--complete", "--json")
    if word:
        assert (r.code, r.out) == (7, "") and word in r.err
    else:
        assert r.json() == [{"coin": "BTC", "available": "1", "on_orders": "0.0015", "total": "1.0015"}]


def test_vv_logs_the_signed_string_without_secrets(coinw, cli):
    serve(coinw)
    r = cli("-vv", "spot", "--json")
    assert r.code == 0
    assert "POST /api/v1/private 200" in r.err
    assert "signed: api_key=***&secret_key=***" in r.err
    sign = dict(query(coinw.calls[0]))["sign"]
    assert KEY not in r.err and SECRET not in r.err and sign not in r.err
