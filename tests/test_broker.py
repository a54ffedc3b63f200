"""balcli broker end to end through the real command line, with the Zoomex API mocked by `responses`."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal, localcontext
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses

from tests.conftest import ZOOMEX_ENV

BASE = "https://openapi.zoomex.com"
URL = BASE + "/private/v1/broker/asset-balance"
DUST = "0.000000000000000001"
HUGE = "98765432109876543210.123456789"

PAGES = [
    ({"list": [{"user_id": "1001", "coins": [{"coin": "USDT", "total_balance": "1000.2500"},
                                            {"coin": "BTC", "total_balance": DUST}]},
               {"user_id": "1002", "coins": [{"coin": "USDT", "total_balance": HUGE}]}],
      "next_cursor": "c2Vl/MTAx+Nw=="}),
    ({"list": [{"user_id": "1003", "coins": []},
               {"user_id": "1004", "coins": [{"coin": "USDT", "total_balance": "0"}]}],
      "next_cursor": "eyJwIjoyfQ=="}),
    ({"list": [{"user_id": "1005", "coins": [{"coin": "BTC", "total_balance": "1.50000000"}]}],
      "next_cursor": ""}),
]
ROWS = [
    {"user_id": "1001", "coin": "USDT", "total_balance": "1000.2500"},
    {"user_id": "1001", "coin": "BTC", "total_balance": DUST},
    {"user_id": "1002", "coin": "USDT", "total_balance": HUGE},
    {"user_id": "1004", "coin": "USDT", "total_balance": "0"},
    {"user_id": "1005", "coin": "BTC", "total_balance": "1.50000000"},
]


def envelope(result, code=0, msg="OK"):
    return {"ret_code": code, "ret_msg": msg, "ext_code": "", "result": result, "ext_info": None,
            "time_now": 1718353045150}


def cursor_of(request) -> str | None:
    return dict(parse_qsl(urlsplit(request.url).query)).get("cursor")


def serve_pages(rsps, pages=PAGES):
    by_cursor = {None: pages[0]}
    for i in range(1, len(pages)):
        by_cursor[pages[i - 1]["next_cursor"]] = pages[i]

    def callback(request):
        return 200, {}, json.dumps(envelope(by_cursor[cursor_of(request)]))

    rsps.add_callback(responses.GET, URL, callback=callback)


@pytest.fixture
def zoomex(monkeypatch, no_sleep):
    for k, v in ZOOMEX_ENV.items():
        monkeypatch.setenv(k, v)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def test_json_has_every_customer_of_every_page_exactly(zoomex, cli):
    serve_pages(zoomex)
    r = cli("broker", "--json")
    assert (r.code, r.err) == (0, "")
    assert r.json() == ROWS
    cursors = [cursor_of(c.request) for c in zoomex.calls]
    assert cursors == [None, "c2Vl/MTAx+Nw==", "eyJwIjoyfQ=="]
    assert "cursor=c2Vl%2FMTAx%2BNw%3D%3D" in zoomex.calls[1].request.url  # raw value signed, encoded on the wire


def test_ndjson_rows(zoomex, cli):
    serve_pages(zoomex)
    r = cli("broker", "-o", "ndjson")
    assert r.code == 0
    assert [json.loads(line) for line in r.out.splitlines()] == ROWS


def test_csv_and_tsv_rows_keep_trailing_zeros(zoomex, cli):
    serve_pages(zoomex)
    r = cli("broker", "--csv")
    assert r.code == 0
    assert list(csv.DictReader(io.StringIO(r.out))) == ROWS
    r = cli("broker", "-o", "tsv", "--no-header", "--fields", "total_balance,user_id")
    assert r.out.splitlines() == [f"{row['total_balance']}\t{row['user_id']}" for row in ROWS]


def test_default_format_in_a_pipe_is_tsv(zoomex, cli):
    serve_pages(zoomex)
    r = cli("broker")
    assert r.out.splitlines()[0] == "user_id\tcoin\ttotal_balance"
    assert len(r.out.splitlines()) == 1 + len(ROWS)


def test_table_shows_every_row_and_no_exponent(zoomex, cli):
    serve_pages(zoomex)
    r = cli("broker", "-o", "table")
    assert r.code == 0
    for row in ROWS:
        assert row["total_balance"] in r.out
    assert "E-" not in r.out and "e-" not in r.out


def test_total_sums_exactly_per_coin(zoomex, cli):
    serve_pages(zoomex)
    r = cli("broker", "--total", "--json")
    with localcontext() as ctx:
        ctx.prec = 200
        usdt = Decimal("1000.2500") + Decimal(HUGE) + Decimal("0")
        btc = Decimal(DUST) + Decimal("1.50000000")
    assert r.json() == [
        {"coin": "BTC", "users": 2, "total_balance": format(btc, "f")},
        {"coin": "USDT", "users": 3, "total_balance": format(usdt, "f")},
    ]
    assert r.json()[0]["total_balance"] == "1.500000000000000001"
    assert r.json()[1]["total_balance"] == "98765432109876544210.373456789"


def test_options_are_sent_and_signed(zoomex, cli):
    serve_pages(zoomex, [{"list": [], "next_cursor": ""}])
    r = cli("broker", "--uid", "1001", "--coin", "usdt", "--page-size", "7", "--json")
    assert (r.code, r.out) == (0, "[]\n") or (r.code, json.loads(r.out)) == (0, [])
    query = dict(parse_qsl(urlsplit(zoomex.calls[0].request.url).query))
    assert query["uid"] == "1001" and query["coin"] == "USDT" and query["limit"] == "7"
    assert query["api_key"] == ZOOMEX_ENV["BALCLI_ZOOMEX_API_KEY"] and len(query["sign"]) == 64
    assert zoomex.calls[0].request.headers["X-BAPI-SIGN"] == query["sign"]
    assert zoomex.calls[0].request.headers["User-Agent"].startswith("balcli/")


def test_max_items_counts_customers(zoomex, cli):
    serve_pages(zoomex)
    r = cli("broker", "--max-items", "3", "--json")
    assert {row["user_id"] for row in r.json()} == {"1001", "1002", "1003"} - {"1003"}
    assert len(zoomex.calls) == 2


def test_empty_result_table_says_so_on_stderr(zoomex, cli):
    serve_pages(zoomex, [{"list": [], "next_cursor": ""}])
    r = cli("broker", "-o", "table")
    assert (r.code, r.out) == (0, "")
    assert "no balances" in r.err


@pytest.mark.parametrize("args", [
    ["--page-size", "0"], ["--page-size", "51"], ["--max-items", "0"], ["--uid", "abc"],
    ["--fields", "user_id,nope"], ["--json", "--csv"], ["-o", "xml"], ["--timeout", "0"],
    ["--max-retries", "-1"], ["--testnet", "--base-url", "https://x.example"], ["--base-url", "ftp://x"],
    ["--coin", "US DT"],
])
def test_usage_errors_exit_2_and_send_nothing(zoomex, cli, args):
    serve_pages(zoomex)
    r = cli("broker", *args)
    assert r.code == 2, r.err
    assert r.out == ""
    assert len(zoomex.calls) == 0


def test_missing_credentials_exit_3_naming_env_vars(cli, monkeypatch):
    r = cli("broker")
    assert r.code == 3
    assert "BALCLI_ZOOMEX_API_KEY + BALCLI_ZOOMEX_API_SECRET" in r.err
    assert "balcli auth set zoomex" in r.err


@pytest.mark.parametrize("code,exit_code,word", [
    (10003, 4, "invalid API key"), (10004, 4, "invalid signature"), (10005, 4, "permission"),
    (10010, 4, "allow-list"), (10001, 2, "parameter"), (99999, 7, "error"), (10009, 5, "banned"),
])
def test_envelope_codes_map_to_exit_codes(zoomex, cli, code, exit_code, word):
    zoomex.add(responses.GET, URL, json=envelope(None, code, "nope"))
    r = cli("broker", "--json")
    assert r.code == exit_code
    assert r.out == ""
    assert word in r.err and f"code {code}" in r.err and "hint:" in r.err
    assert len(zoomex.calls) == 1  # never retried


def test_http_403_is_a_ban_not_bad_credentials(zoomex, cli):
    zoomex.add(responses.GET, URL, status=403, body="access too frequent")
    r = cli("broker", "--json")
    assert r.code == 5 and "banned" in r.err and "10 minutes" in r.err
    assert len(zoomex.calls) == 1


def test_rate_limit_code_is_retried_then_succeeds(zoomex, cli, no_sleep):
    zoomex.add(responses.GET, URL, json=envelope(None, 10006, "Too many visits!"))
    serve_pages(zoomex, [{"list": PAGES[0]["list"], "next_cursor": ""}])
    r = cli("broker", "--json")
    assert r.code == 0 and len(r.json()) == 3
    assert len(zoomex.calls) == 2


def test_rate_limit_that_persists_exits_5(zoomex, cli):
    zoomex.add(responses.GET, URL, json=envelope(None, 10006, "Too many visits!"))
    r = cli("broker", "--json", "--max-retries", "2")
    assert r.code == 5 and len(zoomex.calls) == 3


def test_server_failure_exits_6_after_retries(zoomex, cli, no_sleep):
    zoomex.add(responses.GET, URL, status=502, body="<html><body>502 Bad Gateway</body></html>")
    r = cli("broker", "--json")
    assert r.code == 6 and r.out == ""
    assert "HTTP 502" in r.err
    assert len(zoomex.calls) == 5  # 1 + --max-retries 4
    backoffs = [s for s in no_sleep if s > 0.21]  # the limiter's own spacing is 1/(5 * 0.96) s
    assert len(backoffs) == 4
    assert [lo <= s <= hi for s, (lo, hi) in zip(backoffs, [(0.25, 0.5), (0.5, 1), (1, 2), (2, 4)])] == [True] * 4


def test_connection_refused_exits_6(cli, monkeypatch, no_sleep):
    for k, v in ZOOMEX_ENV.items():
        monkeypatch.setenv(k, v)
    r = cli("broker", "--base-url", "http://127.0.0.1:9", "--max-retries", "1")
    assert r.code == 6 and "cannot reach Zoomex" in r.err


@pytest.mark.parametrize("body,word", [
    ("not json", "invalid JSON"),
    (json.dumps({"ret_code": 0, "ret_msg": "OK"}), "result"),
    (json.dumps(envelope({"next_cursor": ""})), "'list'"),
    (json.dumps(envelope({"list": [{"coins": []}], "next_cursor": ""})), "'user_id'"),
    (json.dumps(envelope({"list": [{"user_id": "1", "coins": [{"coin": "USDT", "total_balance": "x"}]}],
                          "next_cursor": ""})), "not a decimal amount"),
])
def test_unusable_answers_exit_7_naming_what_is_wrong(zoomex, cli, body, word):
    zoomex.add(responses.GET, URL, body=body)
    r = cli("broker", "--json")
    assert r.code == 7 and r.out == ""
    assert word in r.err


def test_cursor_cycle_exits_7_instead_of_hanging(zoomex, cli):
    cycle = [{"list": [{"user_id": "1", "coins": []}], "next_cursor": "A"},
             {"list": [{"user_id": "2", "coins": []}], "next_cursor": "B"},
             {"list": [{"user_id": "3", "coins": []}], "next_cursor": "A"}]
    serve_pages(zoomex, cycle[:2] + [cycle[2]])
    r = cli("broker", "--json")
    assert r.code == 7 and "cycle" in r.err
    assert len(zoomex.calls) == 3


def test_streaming_format_keeps_rows_before_a_failure(zoomex, cli):
    zoomex.add(responses.GET, URL, json=envelope(PAGES[0]))
    zoomex.add(responses.GET, URL, body="<html>oops</html>", status=200)
    r = cli("broker", "-o", "ndjson")
    assert r.code == 7
    assert [json.loads(line) for line in r.out.splitlines()] == ROWS[:3]
    assert r.out.endswith("\n")


def test_clock_skew_resyncs_once_and_warns(zoomex, cli):
    zoomex.add(responses.GET, URL, json=envelope(None, 10002, "invalid request, please check your server timestamp"))
    zoomex.add(responses.GET, BASE + "/cloud/trade/v3/market/time",
               json={"retCode": 0, "retMsg": "OK", "result": {"timeSecond": "1", "timeNano": "1"}, "retExtInfo": {},
                     "time": 1_000_000_000_000})
    serve_pages(zoomex, [{"list": PAGES[2]["list"], "next_cursor": ""}])
    r = cli("broker", "--json")
    assert r.code == 0 and r.json() == ROWS[4:]
    assert "warning: the local clock is" in r.err and "ahead of Zoomex" in r.err
    ts = [int(dict(parse_qsl(urlsplit(c.request.url).query))["timestamp"]) for c in zoomex.calls
          if "asset-balance" in c.request.url]
    assert abs(ts[1] - 1_000_000_000_000) < 60_000  # the retry used the server's clock


def test_clock_skew_that_persists_exits_7(zoomex, cli):
    zoomex.add(responses.GET, URL, json=envelope(None, 10002, "timestamp"))
    zoomex.add(responses.GET, BASE + "/cloud/trade/v3/market/time", json={"retCode": 0, "time": 1_700_000_000_000})
    r = cli("broker", "--json")
    assert r.code == 7 and "request time" in r.err
    assert sum("asset-balance" in c.request.url for c in zoomex.calls) == 2


def test_ctrl_c_during_pagination_exits_130_without_traceback(zoomex, cli):
    def interrupt(request):
        raise KeyboardInterrupt

    zoomex.add(responses.GET, URL, json=envelope(PAGES[0]))
    zoomex.add_callback(responses.GET, URL, callback=interrupt)
    r = cli("broker", "-o", "csv")
    assert r.code == 130
    assert "Traceback" not in r.err
    assert r.out.splitlines() == ["user_id,coin,total_balance"] + [
        f"{x['user_id']},{x['coin']},{x['total_balance']}" for x in ROWS[:3]]


def test_vv_logs_requests_without_secrets(zoomex, cli):
    serve_pages(zoomex)
    r = cli("-vv", "broker", "--json")
    assert r.code == 0
    assert r.err.count("GET /private/v1/broker/asset-balance 200") == 3
    assert "attempt 1 wait 0 ms" in r.err
    assert "signed: api_key=***&limit=50&recv_window=5000&timestamp=" in r.err  # the string-to-sign, redacted
    for secret in ZOOMEX_ENV.values():
        assert secret not in r.err
    sign = dict(parse_qsl(urlsplit(zoomex.calls[0].request.url).query))["sign"]
    assert sign not in r.err


def test_unexpected_error_is_one_line_without_debug_and_a_traceback_with_it(zoomex, cli, monkeypatch):
    monkeypatch.setattr("balcli.sources.zoomex.customer_rows", lambda c: 1 / 0)
    serve_pages(zoomex)
    r = cli("broker", "--json")
    assert r.code == 1 and "Traceback" not in r.err and "internal error" in r.err
    r = cli("--debug", "broker", "--json")
    assert r.code == 1 and "Traceback" in r.err and "ZeroDivisionError" in r.err
