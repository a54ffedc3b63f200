"""balcli snapshot end to end through the real command line, with Binance mocked by `responses`."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
from datetime import datetime, timezone
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses

from tests.conftest import BINANCE_ENV

BASE = "https://api.binance.com"
URL = BASE + "/sapi/v1/accountSnapshot"
TIME_URL = BASE + "/api/v3/time"
DAY = 86_400_000
DUST = "0.000000000000000001"
HUGE = "98765432109876543210.123456789"
# Binance's documented key pair and the test timestamp (docs/apis/binance.md, "Test vectors")
DOC_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
DOC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
TS = 1_700_000_000_000
D1, D2, D3 = 1576195199000, 1576281599000, 1576367999000  # 2019-12-12/13/14 23:59:59 UTC

SPOT_VOS = [  # sent out of order: rows come oldest day first
    {"type": "spot", "updateTime": D2, "data": {"totalAssetOfBtc": "0.09942700", "balances": [
        {"asset": "BTC", "free": "0.09905021", "locked": "0.00000000"},
        {"asset": "USDT", "free": HUGE, "locked": DUST}]}},
    {"type": "spot", "updateTime": D1, "data": {"totalAssetOfBtc": "0.1", "balances": [
        {"asset": "BTC", "free": "0.1", "locked": "0"}]}},
    {"type": "spot", "updateTime": D3, "data": {"totalAssetOfBtc": "0.00000000", "balances": []}},
]
SPOT_ROWS = [
    {"date": "2019-12-12", "update_time": "2019-12-12T23:59:59Z", "asset": "BTC", "free": "0.1", "locked": "0",
     "total_asset_of_btc": "0.1"},
    {"date": "2019-12-13", "update_time": "2019-12-13T23:59:59Z", "asset": "BTC", "free": "0.09905021",
     "locked": "0.00000000", "total_asset_of_btc": "0.09942700"},
    {"date": "2019-12-13", "update_time": "2019-12-13T23:59:59Z", "asset": "USDT", "free": HUGE, "locked": DUST,
     "total_asset_of_btc": "0.09942700"},
]
MARGIN_VOS = [
    {"type": "margin", "updateTime": D2, "data": {
        "marginLevel": "2748.02909813", "totalAssetOfBtc": "0.00274803", "totalLiabilityOfBtc": "0.00000100",
        "totalNetAssetOfBtc": "0.00274750", "userAssets": [
            {"asset": "XRP", "borrowed": "0.00000000", "free": "1.00000000", "interest": "0.00000000",
             "locked": "0.00000000", "netAsset": "1.00000000"},
            {"asset": "BTC", "borrowed": "0.00000100", "free": "0.00274803", "interest": "0.00000001",
             "locked": "0", "netAsset": "0.00274702"}]}},
]
MARGIN_ROWS = [
    {"date": "2019-12-13", "update_time": "2019-12-13T23:59:59Z", "asset": "XRP", "free": "1.00000000",
     "locked": "0.00000000", "borrowed": "0.00000000", "interest": "0.00000000", "net_asset": "1.00000000",
     "margin_level": "2748.02909813", "total_net_asset_of_btc": "0.00274750"},
    {"date": "2019-12-13", "update_time": "2019-12-13T23:59:59Z", "asset": "BTC", "free": "0.00274803",
     "locked": "0", "borrowed": "0.00000100", "interest": "0.00000001", "net_asset": "0.00274702",
     "margin_level": "2748.02909813", "total_net_asset_of_btc": "0.00274750"},
]
FUTURES_VOS = [
    {"type": "futures", "updateTime": D3, "data": {
        "assets": [{"asset": "USDT", "marginBalance": "118.99782335", "walletBalance": "120.23811389"}],
        "position": []}},
    {"type": "futures", "updateTime": D2, "data": {
        "assets": [{"asset": "USDT", "marginBalance": "118.99782335", "walletBalance": "120.23811389"},
                   {"asset": "BNB", "marginBalance": "0", "walletBalance": DUST}],
        "position": [{"entryPrice": "7130.41000000", "markPrice": "7257.66239673", "positionAmt": "0.01000000",
                      "symbol": "BTCUSDT", "unRealizedProfit": "1.24029054"},
                     {"entryPrice": "150.1", "markPrice": "149.9", "positionAmt": "-2.000",
                      "symbol": "ETHUSDT", "unRealizedProfit": "0.4"}]}},
]
FUTURES_ROWS = [
    {"date": "2019-12-13", "update_time": "2019-12-13T23:59:59Z", "asset": "USDT",
     "wallet_balance": "120.23811389", "margin_balance": "118.99782335"},
    {"date": "2019-12-13", "update_time": "2019-12-13T23:59:59Z", "asset": "BNB", "wallet_balance": DUST,
     "margin_balance": "0"},
    {"date": "2019-12-14", "update_time": "2019-12-14T23:59:59Z", "asset": "USDT",
     "wallet_balance": "120.23811389", "margin_balance": "118.99782335"},
]
POSITION_ROWS = [
    {"date": "2019-12-13", "update_time": "2019-12-13T23:59:59Z", "symbol": "BTCUSDT", "position_amt": "0.01000000",
     "entry_price": "7130.41000000", "mark_price": "7257.66239673", "unrealized_profit": "1.24029054"},
    {"date": "2019-12-13", "update_time": "2019-12-13T23:59:59Z", "symbol": "ETHUSDT", "position_amt": "-2.000",
     "entry_price": "150.1", "mark_price": "149.9", "unrealized_profit": "0.4"},
]


def ok(vos, weight=2400):
    return {"json": {"code": 200, "msg": "", "snapshotVos": vos}, "headers": {"X-SAPI-USED-IP-WEIGHT-1M": str(weight)}}


def query(call) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(call.request.url).query))


def snapshot_calls(rsps):
    return [c for c in rsps.calls if "/sapi/" in c.request.url]


@pytest.fixture
def binance(monkeypatch, no_sleep):
    for k, v in BINANCE_ENV.items():
        monkeypatch.setenv(k, v)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def frozen_now(monkeypatch):
    """Pin "now" (window checks and the request timestamp) to the vectors' timestamp, 2023-11-14T22:13:20Z."""
    pinned = datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)

    class Pinned(datetime):
        @classmethod
        def now(cls, tz=None):
            return pinned

    monkeypatch.setattr("balcli.commands.snapshot.datetime", Pinned)
    monkeypatch.setattr("time.time", lambda: TS / 1000)
    return pinned


# -- rows in every format ------------------------------------------------------------------------------------

def test_spot_json_rows_oldest_day_first_amounts_verbatim(binance, cli):
    binance.add(responses.GET, URL, **ok(SPOT_VOS))
    r = cli("snapshot", "--json")
    assert (r.code, r.err) == (0, "")
    assert r.json() == SPOT_ROWS
    assert len(binance.calls) == 1
    q = query(binance.calls[0])
    assert q["type"] == "SPOT" and "limit" not in q and "startTime" not in q and "endTime" not in q


def test_spot_ndjson_csv_tsv_rows(binance, cli):
    binance.add(responses.GET, URL, **ok(SPOT_VOS))
    r = cli("snapshot", "-o", "ndjson")
    assert (r.code, r.err) == (0, "")
    assert [json.loads(line) for line in r.out.splitlines()] == SPOT_ROWS
    r = cli("snapshot", "--csv")
    assert list(csv.DictReader(io.StringIO(r.out))) == SPOT_ROWS
    r = cli("snapshot", "-o", "tsv")
    lines = r.out.splitlines()
    assert lines[0] == "date\tupdate_time\tasset\tfree\tlocked\ttotal_asset_of_btc"
    assert lines[1:] == ["\t".join(row.values()) for row in SPOT_ROWS]
    r = cli("snapshot", "-o", "tsv", "--no-header", "--fields", "asset,free")
    assert r.out.splitlines() == [f"{row['asset']}\t{row['free']}" for row in SPOT_ROWS]


def test_spot_table_shows_every_row_without_exponent(binance, cli):
    binance.add(responses.GET, URL, **ok(SPOT_VOS))
    r = cli("snapshot", "-o", "table")
    assert r.code == 0
    assert HUGE in r.out and DUST in r.out and "2019-12-12" in r.out and "2019-12-13T23:59:59Z" in r.out
    assert "E-" not in r.out and "e-" not in r.out


@pytest.mark.parametrize("args,vos,rows", [
    (["--type", "margin"], MARGIN_VOS, MARGIN_ROWS),
    (["--type", "FUTURES"], FUTURES_VOS, FUTURES_ROWS),
    (["--type", "futures", "--positions"], FUTURES_VOS, POSITION_ROWS),
    (["--positions"], FUTURES_VOS, POSITION_ROWS),  # --positions implies futures
])
def test_each_type_in_every_format(binance, cli, args, vos, rows):
    binance.add(responses.GET, URL, **ok(vos))
    r = cli("snapshot", *args, "--json")
    assert (r.code, r.err) == (0, "")
    assert r.json() == rows
    kind = "MARGIN" if "margin" in args else "FUTURES"
    assert query(binance.calls[0])["type"] == kind
    r = cli("snapshot", *args, "-o", "ndjson")
    assert [json.loads(line) for line in r.out.splitlines()] == rows
    r = cli("snapshot", *args, "--csv")
    assert list(csv.DictReader(io.StringIO(r.out))) == rows
    r = cli("snapshot", *args, "-o", "tsv")
    assert r.out.splitlines() == ["\t".join(rows[0])] + ["\t".join(row.values()) for row in rows]
    r = cli("snapshot", *args, "-o", "table")
    assert r.code == 0 and all(v in r.out for row in rows for v in row.values())


def test_no_snapshots_is_zero_rows_and_exit_0(binance, cli):
    binance.add(responses.GET, URL, **ok([]))
    r = cli("snapshot", "--json")
    assert (r.code, r.json(), r.err) == (0, [], "")
    r = cli("snapshot", "-o", "table")
    assert (r.code, r.out) == (0, "") and "no snapshots" in r.err


# -- the exact request ---------------------------------------------------------------------------------------

def test_request_is_vector_b1_byte_for_byte(binance, cli, monkeypatch):
    monkeypatch.setenv("BALCLI_BINANCE_API_KEY", DOC_KEY)
    monkeypatch.setenv("BALCLI_BINANCE_API_SECRET", DOC_SECRET)
    monkeypatch.setattr("time.time", lambda: TS / 1000)
    binance.add(responses.GET, URL, **ok([]))
    r = cli("snapshot", "--limit", "7", "--json")
    assert r.code == 0
    assert binance.calls[0].request.url == (
        URL + "?type=SPOT&limit=7&recvWindow=5000&timestamp=1700000000000"
        "&signature=b836267297282179d008eb7b94db149a6619fc0db6eff72f3dd9089de06c3b63")
    assert binance.calls[0].request.headers["X-MBX-APIKEY"] == DOC_KEY
    assert binance.calls[0].request.method == "GET" and not binance.calls[0].request.body


def test_window_request_is_vector_b2(binance, cli, monkeypatch, frozen_now, config_dir):
    (config_dir / "config.yaml").write_text("profiles:\n  default:\n    binance: {recv_window: 10000}\n")
    monkeypatch.setenv("BALCLI_BINANCE_API_KEY", DOC_KEY)
    monkeypatch.setenv("BALCLI_BINANCE_API_SECRET", DOC_SECRET)
    binance.add(responses.GET, URL, **ok([]))
    r = cli("snapshot", "--type", "futures", "--start", "2023-10-31", "--end", "2023-11-13", "--limit", "30",
            "--json")
    assert r.code == 0, r.err
    assert binance.calls[0].request.url == (
        URL + "?type=FUTURES&startTime=1698710400000&endTime=1699919999999&limit=30&recvWindow=10000"
        "&timestamp=1700000000000&signature=05f9ef6ed67f7338424710b7f34289761d06cbafa53e58566bca6506a8be7554")


def test_signature_covers_exactly_the_query_sent_and_is_last(binance, cli):
    binance.add(responses.GET, URL, **ok([]))
    r = cli("snapshot", "--type", "margin", "--start", "3d", "--json")
    assert r.code == 0
    raw = urlsplit(binance.calls[0].request.url).query
    payload, _, signature = raw.rpartition("&signature=")
    assert [p.split("=")[0] for p in payload.split("&")] == ["type", "startTime", "recvWindow", "timestamp"]
    secret = BINANCE_ENV["BALCLI_BINANCE_API_SECRET"]
    assert signature == hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    assert binance.calls[0].request.headers["X-MBX-APIKEY"] == BINANCE_ENV["BALCLI_BINANCE_API_KEY"]


def test_a_window_longer_than_7_days_sends_its_day_count_as_limit(binance, cli, frozen_now):
    binance.add(responses.GET, URL, **ok([]))
    r = cli("snapshot", "--start", "2023-10-31", "--end", "2023-11-13", "--json")
    assert (r.code, r.err) == (0, "")
    q = query(binance.calls[-1])
    assert (q["startTime"], q["endTime"], q["limit"]) == ("1698710400000", "1699919999999", "14")
    r = cli("snapshot", "--start", "20d", "--json")  # to now: the 20 day ends before 2023-11-14T22:13:20Z
    assert query(binance.calls[-1])["limit"] == "20" and "endTime" not in query(binance.calls[-1])
    r = cli("snapshot", "--start", "5d", "--json")  # Binance's default of 7 covers it: nothing added
    assert "limit" not in query(binance.calls[-1])
    r = cli("snapshot", "--start", "20d", "--limit", "9", "--json")  # an explicit --limit is sent as given
    assert query(binance.calls[-1])["limit"] == "9"
    r = cli("snapshot", "--end", "2023-11-10", "--json")
    q = query(binance.calls[-1])
    assert q["endTime"] == "1699660799999" and "startTime" not in q and "limit" not in q


def test_start_30d_is_accepted_and_sent_inside_the_last_month(binance, cli, frozen_now):
    binance.add(responses.GET, URL, **ok([]))
    r = cli("snapshot", "--start", "30d", "--json")
    assert r.code == 0, r.err
    q = query(binance.calls[0])
    assert int(q["startTime"]) == TS - 30 * DAY + 60_000 and q["limit"] == "30"


def test_limit_above_7_without_a_window_warns(binance, cli):
    binance.add(responses.GET, URL, **ok([]))
    r = cli("snapshot", "--limit", "14", "--json")
    assert r.code == 0 and query(binance.calls[0])["limit"] == "14"
    assert "warning: --limit 14 without --start" in r.err and "--start 14d" in r.err


@pytest.mark.parametrize("args,word", [
    (["--type", "spot", "--positions"], "--positions"),
    (["--type", "margin", "--positions"], "--positions"),
    (["--type", "coin"], "--type"),
    (["--limit", "6"], "--limit"),
    (["--limit", "31"], "--limit"),
    (["--start", "2023-11-10", "--end", "2023-11-09"], "is not before --end"),
    (["--start", "2023-11-10", "--end", "2023-11-10T00:00:00Z"], "is not before --end"),
    (["--start", "2023-10-20", "--end", "2023-11-19"], "30 days or more"),  # 31 calendar days
    (["--start", "2023-10-20", "--end", "2023-11-19T00:00:00Z"], "shorter than 30 days"),  # exactly 30 days
    (["--start", "31d"], "more than 30 days ago"),
    (["--start", "2023-10-15T22:13:19Z"], "more than 30 days ago"),
    (["--end", "40d"], "--end"),
    (["--start", "2099-01-01"], "is in the future"),
    (["--start", "yesterday"], "--start"),
    (["--end", "2023-13-01"], "--end"),
    (["--fields", "date,nope"], "nope"),
    (["--positions", "--fields", "asset"], "asset"),  # positions rows have no asset
    (["--json", "--csv"], "conflicting"),
])
def test_usage_errors_exit_2_and_send_nothing(binance, cli, frozen_now, args, word):
    binance.add(responses.GET, URL, **ok([]))
    r = cli("snapshot", *args)
    assert r.code == 2, r.err
    assert r.out == "" and word in r.err
    assert len(binance.calls) == 0


def test_a_30_calendar_day_window_is_accepted_with_limit_30(binance, cli, frozen_now):
    binance.add(responses.GET, URL, **ok([]))
    r = cli("snapshot", "--start", "2023-10-16", "--end", "2023-11-14", "--json")  # 30 calendar days, 1 ms short
    assert r.code == 0, r.err
    q = query(binance.calls[0])
    assert int(q["endTime"]) - int(q["startTime"]) == 30 * DAY - 1 and q["limit"] == "30"


def test_missing_credentials_exit_3(cli):
    r = cli("snapshot")
    assert r.code == 3 and "BALCLI_BINANCE_API_KEY + BALCLI_BINANCE_API_SECRET" in r.err


# -- errors --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("status,code,msg,exit_code,word", [
    (401, -2015, "Invalid API-key, IP, or permissions for action.", 4, "invalid API key, IP or permissions"),
    (401, -2014, "API-key format invalid.", 4, "invalid API key"),
    (401, -1002, "You are not authorized to execute this request.", 4, "rejected the credentials"),
    (400, -1022, "Signature for this request is not valid.", 4, "invalid signature"),
    (403, -1, "WAF", 4, "firewall"),
    (400, -1102, "Mandatory parameter 'type' was not sent", 2, "rejected a parameter"),
    (400, -1130, "Data sent for parameter 'startTime' is not valid.", 2, "rejected a parameter"),
    (400, -3026, "request param 'type' wrong", 2, "rejected a parameter"),
    (400, -9999, "something new", 7, "returned an error"),
    (200, -1003, "Too many requests", 5, "rate limit"),
])
def test_error_codes_map_to_exit_codes_with_code_and_message(binance, cli, status, code, msg, exit_code, word):
    binance.add(responses.GET, URL, status=status, json={"code": code, "msg": msg})
    r = cli("snapshot", "--json", "--max-retries", "0")
    assert r.code == exit_code, r.err
    assert r.out == "" and word in r.err and f"code {code}" in r.err and msg in r.err and "hint:" in r.err
    assert len(binance.calls) == 1


def test_429_is_retried_after_retry_after_then_succeeds(binance, cli, no_sleep):
    binance.add(responses.GET, URL, status=429, json={"code": -1003, "msg": "Too many requests"},
                headers={"Retry-After": "7", "X-SAPI-USED-IP-WEIGHT-1M": "12000"})
    binance.add(responses.GET, URL, **ok(SPOT_VOS))
    r = cli("snapshot", "--json")
    assert (r.code, r.err) == (0, "")
    assert r.json() == SPOT_ROWS
    assert len(binance.calls) == 2
    assert any(7 <= s <= 7.25 for s in no_sleep)


def test_429_that_persists_exits_5(binance, cli):
    binance.add(responses.GET, URL, status=429, json={"code": -1003, "msg": "Too many requests"},
                headers={"Retry-After": "1"})
    r = cli("snapshot", "--json", "--max-retries", "2")
    assert r.code == 5 and r.out == "" and "rate limit" in r.err
    assert len(binance.calls) == 3


def test_429_with_a_long_retry_after_stops_and_says_until_when(binance, cli):
    binance.add(responses.GET, URL, status=429, json={"code": -1003, "msg": "Too many requests"},
                headers={"Retry-After": "600"})
    r = cli("snapshot", "--json")
    assert r.code == 5 and "until 20" in r.err
    assert len(binance.calls) == 1


def test_418_ban_exits_5_with_its_end_time_after_one_request(binance, cli, monkeypatch):
    monkeypatch.setattr("time.time", lambda: TS / 1000)
    binance.add(responses.GET, URL, status=418, headers={"Retry-After": "120"},
                json={"code": -1003, "msg": "Way too many requests; IP(1.2.3.4) banned until 1700000120000."})
    r = cli("snapshot", "--json")
    assert r.code == 5 and r.out == ""
    assert "banned" in r.err and "until 2023-11-14T22:15:20Z" in r.err and "code -1003" in r.err
    assert len(binance.calls) == 1


def test_418_without_retry_after_takes_the_end_time_from_the_message(binance, cli, monkeypatch):
    monkeypatch.setattr("time.time", lambda: TS / 1000)
    binance.add(responses.GET, URL, status=418,
                json={"code": -1003, "msg": "Way too many requests; IP(1.2.3.4) banned until 1700003600000."})
    r = cli("snapshot", "--json")
    assert r.code == 5 and "until 2023-11-14T23:13:20Z" in r.err
    assert len(binance.calls) == 1


def test_clock_skew_resyncs_with_server_time_once_and_warns(binance, cli):
    binance.add(responses.GET, URL, status=400,
                json={"code": -1021, "msg": "Timestamp for this request was 1000ms ahead of the server's time."})
    binance.add(responses.GET, TIME_URL, json={"serverTime": 1_000_000_000_000})
    binance.add(responses.GET, URL, **ok(SPOT_VOS))
    r = cli("snapshot", "--json")
    assert r.code == 0 and r.json() == SPOT_ROWS
    assert "warning: the local clock is" in r.err and "ahead of Binance" in r.err
    stamps = [int(query(c)["timestamp"]) for c in snapshot_calls(binance)]
    assert len(stamps) == 2 and abs(stamps[1] - 1_000_000_000_000) < 60_000
    assert sum("/api/v3/time" in c.request.url for c in binance.calls) == 1


def test_clock_skew_that_persists_exits_7(binance, cli):
    binance.add(responses.GET, URL, status=400, json={"code": -1021, "msg": "outside of the recvWindow."})
    binance.add(responses.GET, TIME_URL, json={"serverTime": 1_700_000_000_000})
    r = cli("snapshot", "--json")
    assert r.code == 7 and "request time" in r.err and "code -1021" in r.err
    assert len(snapshot_calls(binance)) == 2


def test_a_spent_weight_budget_waits_for_the_next_minute_instead_of_a_429(binance, cli, no_sleep):
    """The first answer says 12000 of 12000 is used: the retry after the re-sync waits for the next minute."""
    binance.add(responses.GET, URL, status=400, json={"code": -1021, "msg": "outside of the recvWindow."},
                headers={"X-SAPI-USED-IP-WEIGHT-1M": "12000"})
    binance.add(responses.GET, TIME_URL, json={"serverTime": 1_000_000_000_000})
    binance.add(responses.GET, URL, **ok(SPOT_VOS))
    r = cli("snapshot", "--json", "--max-retries", "0")
    assert r.code == 0 and r.json() == SPOT_ROWS
    assert any(0.5 <= s <= 60.5 for s in no_sleep)


def test_weight_budget_arithmetic():
    from balcli.http import Answer
    from balcli.sources.binance import BinanceApi

    now = [6000.0]  # 100 minutes after the epoch: the start of a minute
    api = BinanceApi("https://x", "k", "s", 5000, clock=lambda: now[0])

    def seen(used):
        api.observe(Answer(200, {"X-SAPI-USED-IP-WEIGHT-1M": str(used)}, "{}", api))

    assert api.wait_before() == 0.0
    seen(9600)
    assert api.wait_before() == 0.0  # 9600 + 2400 fits
    seen(12000)
    now[0] = 6020.0
    assert api.wait_before() == pytest.approx(40.5)
    now[0] = 6060.0  # a new minute: the budget is fresh
    assert api.wait_before() == 0.0
    api.observe(Answer(200, {}, "{}", api))  # no header: nothing learned
    assert api.wait_before() == 0.0


def test_server_failure_exits_6_after_retries(binance, cli):
    binance.add(responses.GET, URL, status=502, body="<html><body>502 Bad Gateway</body></html>")
    r = cli("snapshot", "--json")
    assert r.code == 6 and r.out == "" and "HTTP 502" in r.err
    assert len(binance.calls) == 5


def test_html_page_with_200_is_unusable_exit_7(binance, cli):
    binance.add(responses.GET, URL, status=200, body="<html><body>maintenance</body></html>")
    r = cli("snapshot", "--json")
    assert r.code == 7 and "HTML" in r.err


@pytest.mark.parametrize("body,word", [
    ('{"code":200,"msg":"","snapshotVos":[', "invalid JSON"),
    (json.dumps({"code": 200, "msg": ""}), "'snapshotVos'"),
    (json.dumps({"code": 200, "snapshotVos": [{"type": "spot", "data": {}}]}), "'updateTime'"),
    (json.dumps({"code": 200, "snapshotVos": [{"type": "spot", "updateTime": D1}]}), "'data'"),
    (json.dumps({"code": 200, "snapshotVos": [{"type": "spot", "updateTime": D1,
                                               "data": {"totalAssetOfBtc": "1"}}]}), "'balances'"),
    (json.dumps({"code": 200, "snapshotVos": [{"type": "spot", "updateTime": D1, "data": {
        "totalAssetOfBtc": "1", "balances": [{"asset": "BTC", "locked": "0"}]}}]}), "'free'"),
    (json.dumps({"code": 200, "snapshotVos": [{"type": "spot", "updateTime": D1, "data": {
        "totalAssetOfBtc": "1", "balances": [{"asset": "BTC", "free": "lots", "locked": "0"}]}}]}),
     "not a decimal amount"),
    (json.dumps({"code": 200, "snapshotVos": [{"type": "margin", "updateTime": D1, "data": {}}]}), "got 'margin'"),
])
def test_unusable_answers_exit_7_naming_what_is_wrong(binance, cli, body, word):
    binance.add(responses.GET, URL, body=body, content_type="application/json")
    r = cli("snapshot", "--json")
    assert r.code == 7 and r.out == ""
    assert word in r.err


def test_vv_logs_the_signed_string_without_secrets(binance, cli):
    binance.add(responses.GET, URL, **ok(SPOT_VOS))
    r = cli("-vv", "snapshot", "--json")
    assert r.code == 0
    assert "GET /sapi/v1/accountSnapshot 200" in r.err and "signed: type=SPOT&recvWindow=5000&timestamp=" in r.err
    signature = query(binance.calls[0])["signature"]
    for secret in (*BINANCE_ENV.values(), signature):
        assert secret not in r.err
