"""balcli invitees end to end through the real command line, with the CoinW affiliate API mocked by `responses`."""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import json
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal, localcontext
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses

from balcli.sources.coinw_affiliate import iso_from_wire, wire_time
from tests.conftest import COINW_ENV

BASE = "https://api.coinw.com"
PATH = "/api/v3/patener/openapi/v1/partner/invitation/user/assets"
URL = BASE + PATH
TIME_URL = BASE + "/v1/perpum/time"
KEY, SECRET = COINW_ENV["BALCLI_COINW_API_KEY"], COINW_ENV["BALCLI_COINW_API_SECRET"]
HUGE = "98765432109876543210.123456789"


def wire(uid, deposit, withdrawal, balance, update, first_amount, first_time):
    return {"uid": uid, "totalDeposit": deposit, "totalWithdrawal": withdrawal, "currentBalance": balance,
            "updateTime": update, "firstDepositAmount": first_amount, "firstDepositTime": first_time}


A = wire(12345678, "15000.00000000", "3000.00000000", "5800.00000000", "2026-05-21 10:25:00", "5000.00000000",
         "2026-03-15 09:12:33")
B = wire(12368362, "0.00000000", "0.00000000", "0.00000000", None, None, None)  # no deposits: nulls
C = wire(12409100, "0.00000000", "0.00000000", "0.00000000", "", "", "")  # no deposits: empty strings
D = wire(12414023, "8200.00000000", "1200.00000000", "<number 4300.5>", "2026-01-01 03:00:00", "8200.00000000",
         "2025-12-31 23:59:59")  # a bare JSON number; times that cross midnight in UTC
E = wire(12430436, HUGE, "0.000000000000000001", HUGE, "2026-05-21 07:59:59", HUGE, "2026-05-21 08:00:00")

ROWS = [
    {"uid": 12345678, "total_deposit": "15000.00000000", "total_withdrawal": "3000.00000000",
     "current_balance": "5800.00000000", "update_time": "2026-05-21T02:25:00Z",
     "first_deposit_amount": "5000.00000000", "first_deposit_time": "2026-03-15T01:12:33Z"},
    {"uid": 12368362, "total_deposit": "0.00000000", "total_withdrawal": "0.00000000",
     "current_balance": "0.00000000", "update_time": None, "first_deposit_amount": None, "first_deposit_time": None},
    {"uid": 12409100, "total_deposit": "0.00000000", "total_withdrawal": "0.00000000",
     "current_balance": "0.00000000", "update_time": None, "first_deposit_amount": None, "first_deposit_time": None},
    {"uid": 12414023, "total_deposit": "8200.00000000", "total_withdrawal": "1200.00000000",
     "current_balance": "4300.5", "update_time": "2025-12-31T19:00:00Z",
     "first_deposit_amount": "8200.00000000", "first_deposit_time": "2025-12-31T15:59:59Z"},
    {"uid": 12430436, "total_deposit": HUGE, "total_withdrawal": "0.000000000000000001",
     "current_balance": HUGE, "update_time": "2026-05-20T23:59:59Z",
     "first_deposit_amount": HUGE, "first_deposit_time": "2026-05-21T00:00:00Z"},
]
PAGES = [[A, B], [C, D], [E]]  # --page-size 2


def body(data, code="0", msg="success") -> str:
    """The JSON text of an answer; ``"<number X>"`` becomes the bare JSON number X."""
    text = json.dumps({"code": code, "msg": msg, "data": data})
    return re.sub(r'"<number ([0-9.eE+-]+)>"', r"\1", text)


def failure(code, msg="nope") -> str:
    return json.dumps({"code": code, "msg": msg, "data": None, "success": False})


def query(call) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(call.request.url).query, keep_blank_values=True)


def page_no(call) -> int:
    return int(dict(query(call))["pageNo"])


def asset_calls(rsps) -> list:
    return [c for c in rsps.calls if PATH in c.request.url]


def serve(rsps, pages=PAGES, totals=None):
    """Answer pageNo N with pages[N-1] (or an empty list) and the total (per page, or the row count)."""
    count = sum(len(p) for p in pages)

    def callback(request):
        n = int(dict(parse_qsl(urlsplit(request.url).query))["pageNo"])
        items = pages[n - 1] if n <= len(pages) else []
        total = totals[n - 1] if totals else count
        return 200, {}, body({"total": total, "list": items})

    rsps.add_callback(responses.GET, URL, callback=callback)


def signature(secret: str, timestamp: str, call) -> str:
    """Independent of balcli: docs/apis/coinw-affiliate.md#signing over the decoded query, in the order it was sent."""
    raw = "&".join(f"{k}={v}" for k, v in query(call))
    text = f"{timestamp}GET{PATH}{'?' + raw if raw else ''}"
    return base64.b64encode(hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()).decode()


@pytest.fixture
def coinw(monkeypatch, no_sleep):
    for k, v in COINW_ENV.items():
        monkeypatch.setenv(k, v)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


# -- rows in every format -------------------------------------------------------------------------------

def test_json_has_every_invitee_of_every_page_exactly(coinw, cli):
    serve(coinw)
    r = cli("invitees", "--page-size", "2", "--json")
    assert (r.code, r.err) == (0, "")
    assert r.json() == ROWS
    assert sorted(page_no(c) for c in coinw.calls) == [1, 2, 3]  # pages 2 and 3 may be fetched concurrently


def test_each_request_is_signed_over_the_query_exactly_as_sent(coinw, cli):
    serve(coinw)
    cli("invitees", "--page-size", "2", "--json")
    for call in sorted(coinw.calls, key=page_no):
        assert query(call) == [("quote", "usdt"), ("pageNo", str(page_no(call))), ("pageSize", "2")]
        headers = call.request.headers
        assert headers["api_key"] == KEY
        assert re.fullmatch(r"\d{13}", headers["timestamp"])
        assert headers["sign"] == signature(SECRET, headers["timestamp"], call)
        assert call.request.method == "GET" and call.request.body is None
        assert "sign=" not in call.request.url and "api_key=" not in call.request.url


def test_ndjson_csv_and_tsv_rows(coinw, cli):
    serve(coinw)
    r = cli("invitees", "--page-size", "2", "-o", "ndjson")
    assert (r.code, r.err) == (0, "")
    assert [json.loads(line) for line in r.out.splitlines()] == ROWS
    as_text = [{k: "" if v is None else str(v) for k, v in row.items()} for row in ROWS]
    r = cli("invitees", "--page-size", "2", "--csv")
    assert list(csv.DictReader(io.StringIO(r.out))) == as_text
    r = cli("invitees", "--page-size", "2", "-o", "tsv", "--fields", "uid,update_time,current_balance")
    assert r.out.splitlines() == ["uid\tupdate_time\tcurrent_balance"] + [
        f"{x['uid']}\t{x['update_time']}\t{x['current_balance']}" for x in as_text]


def test_table_footer_sums_exactly_in_the_quote_asset(coinw, cli):
    serve(coinw)
    r = cli("invitees", "--page-size", "2", "-o", "table")
    assert r.code == 0
    for row in ROWS:
        assert str(row["uid"]) in r.out and row["current_balance"] in r.out
    with localcontext() as ctx:
        ctx.prec = 200
        sums = [format(sum(Decimal(x[f]) for x in ROWS if x[f] is not None), "f")
                for f in ("total_deposit", "total_withdrawal", "current_balance")]
    assert sums == ["98765432109876566410.123456789", "4200.000000000000000001", "98765432109876553310.623456789"]
    footer = next(line for line in r.out.splitlines() if line.split()[:1] == ["total"])
    assert footer.split() == ["total", *sums]  # exact, never rounded; no sum of times
    assert "amounts in USDT" in r.out
    assert "E+" not in r.out and "E-" not in r.out


def test_empty_result_table_says_so_on_stderr(coinw, cli):
    serve(coinw, pages=[[]])
    r = cli("invitees", "-o", "table")
    assert (r.code, r.out) == (0, "")
    assert "no invitees" in r.err
    r = cli("invitees", "--json")
    assert (r.code, r.json(), r.err) == (0, [], "")


# -- options on the wire --------------------------------------------------------------------------------

def test_signature_vector_f1(coinw, cli, monkeypatch):
    """Vector F1 (docs/apis/coinw-affiliate.md#test-vectors): uid, quote, pageNo, pageSize in that order."""
    monkeypatch.setenv("BALCLI_COINW_API_KEY", "balcli-test-key-0001")
    monkeypatch.setenv("BALCLI_COINW_API_SECRET", "balcli-test-secret-0001")
    monkeypatch.setattr("time.time", lambda: 1_700_000_000.0)
    serve(coinw, pages=[[A]])
    r = cli("invitees", "--uid", "12345678", "--page-size", "20", "--json")
    assert r.code == 0 and r.json() == ROWS[:1]
    call = coinw.calls[0]
    assert call.request.url == URL + "?uid=12345678&quote=usdt&pageNo=1&pageSize=20"
    headers = call.request.headers
    assert (headers["api_key"], headers["timestamp"], headers["sign"]) == (
        "balcli-test-key-0001", "1700000000000", "9LVgPtw9h9VxhYlWcZAgxqBtV2V47qwKdLsqZ1GwBeE=")


@pytest.mark.parametrize("args,window", [
    # a date is a UTC day (README "Commands", WHEN): written in +08:00, its end inclusive to the second
    (["--start", "2025-01-01", "--end", "2025-01-31"], ("2025-01-01 08:00:00", "2025-02-01 07:59:59")),
    (["--start", "2025-01-01T00:00:00+08:00", "--end", "2025-01-31T23:59:59+08:00"],
     ("2025-01-01 00:00:00", "2025-01-31 23:59:59")),
    (["--start", "2025-01-01", "--end", "2025-01-31", "--tz", "Z"], ("2025-01-01 00:00:00", "2025-01-31 23:59:59")),
    (["--start", "2025-01-01 12:30:00.250Z", "--tz", "-05:00"], ("2025-01-01 07:30:01", None)),  # never widened
    (["--end", "2025-01-01T12:30:00.750Z", "--tz", "+0530"], (None, "2025-01-01 18:00:00")),
])
def test_the_window_is_written_in_the_tz_zone_signed_raw_and_encoded_on_the_wire(coinw, cli, args, window):
    serve(coinw, pages=[[A]])
    r = cli("invitees", *args, "--json")
    assert r.code == 0, r.err
    call = coinw.calls[0]
    expected = [(k, v) for k, v in zip(("startTime", "endTime"), window) if v is not None]
    assert query(call) == expected + [("quote", "usdt"), ("pageNo", "1"), ("pageSize", "100")]
    encoded = "&".join(f"{k}={v.replace(' ', '+').replace(':', '%3A')}" for k, v in expected)
    assert urlsplit(call.request.url).query == encoded + "&quote=usdt&pageNo=1&pageSize=100"
    assert call.request.headers["sign"] == signature(SECRET, call.request.headers["timestamp"], call)


def test_signature_vector_f3_window_is_signed_raw(coinw, cli, monkeypatch):
    """Vector F3's string (raw values), plus the quote balcli always sends."""
    monkeypatch.setenv("BALCLI_COINW_API_SECRET", "balcli-test-secret-0001")
    monkeypatch.setattr("time.time", lambda: 1_700_000_000.0)
    serve(coinw, pages=[[A]])
    r = cli("invitees", "--start", "2025-01-01T00:00:00+08:00", "--end", "2025-01-31T23:59:59+08:00", "--json")
    assert r.code == 0
    text = ("1700000000000GET" + PATH + "?startTime=2025-01-01 00:00:00&endTime=2025-01-31 23:59:59"
            "&quote=usdt&pageNo=1&pageSize=100")
    sign = base64.b64encode(hmac.new(b"balcli-test-secret-0001", text.encode(), hashlib.sha256).digest()).decode()
    assert coinw.calls[0].request.headers["sign"] == sign


def test_quote_uid_and_page_size_are_sent(coinw, cli):
    serve(coinw, pages=[[A]])
    r = cli("invitees", "--quote", "USDC", "--uid", " 12345678 ", "--page-size", "7", "-o", "table")
    assert r.code == 0 and "amounts in USDC" in r.out
    assert query(coinw.calls[0]) == [("uid", "12345678"), ("quote", "usdc"), ("pageNo", "1"), ("pageSize", "7")]


@pytest.mark.parametrize("setup,expected", [
    ({}, "2026-05-21T02:25:00Z"),  # built-in default +08:00
    ({"file": "Z"}, "2026-05-21T10:25:00Z"),
    ({"file": "Z", "env": "-05:00"}, "2026-05-21T15:25:00Z"),
    ({"file": "Z", "env": "-05:00", "flag": "+01:00"}, "2026-05-21T09:25:00Z"),
])
def test_tz_precedence_flag_env_file_default(coinw, cli, config_dir, monkeypatch, setup, expected):
    if "file" in setup:
        (config_dir / "config.yaml").write_text(f"profiles:\n  default:\n    coinw: {{timezone: '{setup['file']}'}}\n")
    if "env" in setup:
        monkeypatch.setenv("BALCLI_COINW_TIMEZONE", setup["env"])
    serve(coinw, pages=[[A]])
    r = cli("invitees", "--json", *(["--tz", setup["flag"]] if "flag" in setup else []))
    assert r.code == 0, r.err
    assert r.json()[0]["update_time"] == expected


def test_max_items_stops_early(coinw, cli):
    serve(coinw)
    r = cli("invitees", "--page-size", "2", "--max-items", "3", "--json")
    assert r.json() == ROWS[:3]
    assert sorted(page_no(c) for c in coinw.calls) == [1, 2]
    r = cli("invitees", "--max-items", "1", "--json")  # asks for no more than it shows
    assert r.json() == ROWS[:1]
    assert dict(query(coinw.calls[-1]))["pageSize"] == "1"


def test_rows_repeated_across_pages_are_dropped_and_a_changing_total_is_warned(coinw, cli):
    c2 = wire(12400000, "1", "0", "1", None, None, None)  # a new invitee appears while paging
    serve(coinw, pages=[[A, B], [B, c2], [C, D], [E]], totals=[5, 6, 6, 6])
    r = cli("invitees", "--page-size", "2", "--json")
    assert r.code == 0
    assert [x["uid"] for x in r.json()] == [12345678, 12368362, 12400000, 12409100, 12414023, 12430436]
    assert "warning" in r.err and "total changed" in r.err and "5 -> 6" in r.err
    assert len(coinw.calls) == 4


# -- usage errors: nothing is sent -------------------------------------------------------------------------

@pytest.mark.parametrize("args,word", [
    (["--page-size", "0"], "--page-size"), (["--page-size", "101"], "--page-size"),
    (["--max-items", "0"], "--max-items"), (["--uid", "abc"], "--uid"), (["--uid", "-5"], "--uid"),
    (["--start", "yesterday"], "--start"), (["--end", "2025-13-01"], "--end"),
    (["--start", "2025-02-01", "--end", "2025-01-01"], "--start"), (["--start", "1d", "--end", "2d"], "--start"),
    (["--start", "2025-01-01T10:00:00Z", "--end", "2025-01-01T10:00:00Z"], "not before"),
    (["--tz", "8"], "--tz"), (["--tz", "+25:00"], "--tz"), (["--quote", "eur"], "--quote"),
    (["--fields", "uid,coin"], "--fields"), (["--json", "--csv"], "conflicting"),
])
def test_usage_errors_exit_2_and_send_nothing(coinw, cli, args, word):
    serve(coinw)
    r = cli("invitees", *args)
    assert r.code == 2, r.err
    assert word in r.err and r.out == ""
    assert len(coinw.calls) == 0


def test_bad_timezone_setting_exits_3_and_sends_nothing(coinw, cli, monkeypatch):
    monkeypatch.setenv("BALCLI_COINW_TIMEZONE", "Asia/Shanghai")
    serve(coinw)
    r = cli("invitees", "--json")
    assert r.code == 3 and "BALCLI_COINW_TIMEZONE" in r.err
    assert len(coinw.calls) == 0


def test_missing_credentials_exit_3_naming_env_vars(cli):
    r = cli("invitees")
    assert r.code == 3
    assert "BALCLI_COINW_API_KEY" in r.err and "balcli auth set coinw" in r.err


# -- API errors -> exit codes ---------------------------------------------------------------------------------

@pytest.mark.parametrize("code,exit_code,word", [
    (6000, 4, "invalid API key"), ("6001", 4, "invalid signature"), (6003, 4, "Affiliate permission"),
    (1, 2, "parameter"), (402, 2, "parameter"), (500, 7, "error"), (77777, 7, "error"),
])
def test_envelope_codes_map_to_exit_codes(coinw, cli, code, exit_code, word):
    coinw.add(responses.GET, URL, body=failure(code, "nope"))
    r = cli("invitees", "--json")
    assert (r.code, r.out) == (exit_code, "")
    assert word in r.err and f"code {code}" in r.err and "'nope'" in r.err and "hint:" in r.err
    assert len(coinw.calls) == 1  # never retried


def test_http_403_exits_4_without_retrying(coinw, cli):
    coinw.add(responses.GET, URL, status=403, body="<html><body>403 Forbidden</body></html>")
    r = cli("invitees", "--json")
    assert r.code == 4 and "HTTP 403" in r.err
    assert len(coinw.calls) == 1


def test_rate_limit_is_retried_then_succeeds(coinw, cli, no_sleep):
    coinw.add(responses.GET, URL, body=failure(29001, "API access frequently"))
    serve(coinw)
    r = cli("invitees", "--page-size", "2", "--json")
    assert (r.code, r.json(), r.err) == (0, ROWS, "")
    assert len(coinw.calls) == 4
    assert any(s >= 0.5 for s in no_sleep)


def test_rate_limit_that_persists_exits_5(coinw, cli):
    coinw.add(responses.GET, URL, body=failure(29001, "API access frequently"))
    r = cli("invitees", "--json", "--max-retries", "2")
    assert r.code == 5 and "rate limit" in r.err and "code 29001" in r.err
    assert len(coinw.calls) == 3


@pytest.mark.parametrize("status,text", [
    (500, "<html><body>500 Internal Server Error</body></html>"),
    (503, json.dumps({"code": 500, "msg": "Internal server error"})),
    (200, "<!DOCTYPE html><html><body>maintenance</body></html>"),
])
def test_server_failure_exits_6_after_retries(coinw, cli, status, text):
    coinw.add(responses.GET, URL, status=status, body=text)
    r = cli("invitees", "--json")
    if status == 200:  # an HTML page with HTTP 200 is not retried: it is unusable (7)
        assert r.code == 7 and "HTML" in r.err and len(coinw.calls) == 1
        return
    assert (r.code, r.out) == (6, "")
    assert f"HTTP {status}" in r.err
    assert len(coinw.calls) == 5  # 1 + --max-retries 4


def test_a_failure_on_a_later_page_keeps_streamed_rows_and_exits_non_zero(coinw, cli):
    def callback(request):
        n = int(dict(parse_qsl(urlsplit(request.url).query))["pageNo"])
        if n == 1:
            return 200, {}, body({"total": 5, "list": [A, B]})
        return 200, {}, failure(6001, "invalid signature")

    coinw.add_callback(responses.GET, URL, callback=callback)
    r = cli("invitees", "--page-size", "2", "-o", "ndjson")
    assert r.code == 4
    assert [json.loads(line) for line in r.out.splitlines()] == ROWS[:2]
    r = cli("invitees", "--page-size", "2", "--json")
    assert (r.code, r.out) == (4, "")  # json is all-or-nothing


def test_clock_skew_resyncs_with_server_time_and_warns(coinw, cli):
    coinw.add(responses.GET, URL, body=failure(6002, "timestamp expired"))
    coinw.add(responses.GET, TIME_URL, json={"code": 0, "data": {"time": 1_000_000_000_000}, "msg": "success"})
    serve(coinw)
    r = cli("invitees", "--page-size", "2", "--json")
    assert r.code == 0 and r.json() == ROWS
    assert "warning: the local clock is" in r.err and "ahead of CoinW affiliate" in r.err
    stamps = [int(c.request.headers["timestamp"]) for c in asset_calls(coinw)]
    assert len(stamps) == 4 and all(abs(t - 1_000_000_000_000) < 60_000 for t in stamps[1:])
    assert all(c.request.headers["sign"] == signature(SECRET, c.request.headers["timestamp"], c)
               for c in asset_calls(coinw))


@pytest.mark.parametrize("time_answer,tries", [
    ({"json": {"code": 0, "data": {"time": 1_700_000_000_000}}}, 2),  # re-synced once, still refused
    ({"status": 404, "body": "<html>404</html>"}, 1),  # no usable server time: no point in retrying
    ({"json": {"code": 0, "data": {}}}, 1),
])
def test_clock_skew_that_persists_exits_7(coinw, cli, time_answer, tries):
    coinw.add(responses.GET, URL, body=failure(6002, "timestamp expired"))
    coinw.add(responses.GET, TIME_URL, **time_answer)
    r = cli("invitees", "--json")
    assert (r.code, r.out) == (7, "")
    assert "request time" in r.err and "code 6002" in r.err and "sync the system clock" in r.err
    assert len(asset_calls(coinw)) == tries


@pytest.mark.parametrize("text,word", [
    ("not json", "invalid JSON"),
    (body(None), "'data'"),
    (body({"list": [A]}), "'total'"),
    (body({"total": "1", "list": [A]}), "'total' is not a count"),
    (body({"total": 1}), "'list'"),
    (body({"total": 1, "list": [{k: v for k, v in A.items() if k != "currentBalance"}]}), "'currentBalance'"),
    (body({"total": 1, "list": [{k: v for k, v in A.items() if k != "uid"}]}), "'uid'"),
    (body({"total": 1, "list": [{**A, "uid": "12a"}]}), "'uid' is not an integer"),
    (body({"total": 1, "list": [{**A, "totalDeposit": "lots"}]}), "'totalDeposit' is not a decimal"),
    (body({"total": 1, "list": [{**A, "updateTime": "2026-05-21T10:25:00Z"}]}), "'updateTime' is not a yyyy"),
    (body({"total": 1, "list": [{**A, "firstDepositTime": 1716258300000}]}), "'firstDepositTime' is not"),
])
def test_unusable_answers_exit_7_naming_what_is_wrong(coinw, cli, text, word):
    coinw.add(responses.GET, URL, body=text)
    r = cli("invitees", "--json")
    assert (r.code, r.out) == (7, "")
    assert word in r.err


def test_a_repeated_page_exits_7_instead_of_looping(coinw, cli):
    serve(coinw, pages=[[A, B], [A, B], [A, B]])
    r = cli("invitees", "--page-size", "2", "-o", "csv")
    assert r.code == 7 and "repeats page" in r.err
    assert len(r.out.splitlines()) == 1 + 2  # the header and page 1 were streamed


def test_an_empty_page_before_the_total_exits_7(coinw, cli):
    serve(coinw, pages=[[A, B]], totals=[5, 5, 5])
    r = cli("invitees", "--page-size", "2", "--json")
    assert (r.code, r.out) == (7, "")
    assert "page 2 is empty but only 2 of 5 rows" in r.err


def test_vv_logs_the_signed_string_and_redacts_secrets(coinw, cli):
    serve(coinw, pages=[[A]])
    r = cli("-vv", "invitees", "--start", "2025-01-01", "--json")
    assert r.code == 0
    assert f"GET {PATH} 200" in r.err
    assert "signed: " in r.err and f"GET{PATH}?startTime=2025-01-01 08:00:00&quote=usdt" in r.err
    assert "api_key: ***" in r.err and "sign: ***" in r.err
    assert KEY not in r.err and SECRET not in r.err
    assert coinw.calls[0].request.headers["sign"] not in r.err


# -- the time helpers ---------------------------------------------------------------------------------------

def test_wire_time_never_widens_the_window_and_iso_is_utc():
    plus8 = timezone(timedelta(hours=8))
    at = datetime(2025, 1, 1, 0, 0, 0, 1000, tzinfo=timezone.utc)
    assert wire_time(at, plus8, end=False) == "2025-01-01 08:00:01"
    assert wire_time(at, plus8, end=True) == "2025-01-01 08:00:00"
    assert wire_time(at.replace(microsecond=0), plus8, end=False) == "2025-01-01 08:00:00"
    assert iso_from_wire("2026-01-01 07:59:59", plus8) == "2025-12-31T23:59:59Z"
