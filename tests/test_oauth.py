"""balcli oauth balances|history end to end through the real command line, with Cryptofuse mocked by `responses`."""

from __future__ import annotations

import base64
import csv
import io
import json
import stat
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses

from tests.conftest import CRYPTOFUSE_ENV

BASE = "https://api.cryptofuse.io"
TOKEN_URL = BASE + "/o/token/"
BALANCES_URL = BASE + "/user/balances/"
HISTORY_URL = BASE + "/user/balances/history/"
HUGE = "98765432109876543210.123456789"
STATIC = "static-bearer-token-0123456789"

BALANCES = {"account": {"USDTERC20": "5000.000000", "ETH": "5.123456", "USDCERC20": "2500.000000", "BTC": HUGE},
            "sub_accounts": {"USDTERC20": "1500.000000", "USDCERC20": "800.000000"},
            "statistics": {"total_deposits": 1234, "total_withdrawals": 456}}
BALANCE_ROWS = [
    {"scope": "account", "currency": "BTC", "balance": HUGE},
    {"scope": "account", "currency": "ETH", "balance": "5.123456"},
    {"scope": "account", "currency": "USDCERC20", "balance": "2500.000000"},
    {"scope": "account", "currency": "USDTERC20", "balance": "5000.000000"},
    {"scope": "sub_accounts", "currency": "USDCERC20", "balance": "800.000000"},
    {"scope": "sub_accounts", "currency": "USDTERC20", "balance": "1500.000000"},
]
HISTORY = [  # newest first, as the API sends it
    {"timestamp": "2025-01-15T09:30:00Z", "currency": "USDTERC20", "type": "deposit", "amount": "500.000000",
     "balance_after": "5500.000000"},
    {"timestamp": "2025-01-14T15:20:00+00:00", "currency": "USDTERC20", "type": "withdrawal", "amount": "200.000000",
     "balance_after": "5000.000000"},
    {"timestamp": "2025-01-14T12:00:00.250+02:00", "currency": "ETH", "type": "deposit", "amount": "0.000000000000000001",
     "balance_after": "5.123456"},
    {"timestamp": "2025-01-13T08:00:00Z", "currency": "USDCERC20", "type": "fee", "amount": "1.5",
     "balance_after": "2500.000000"},
    {"timestamp": "2025-01-12T08:00:00Z", "currency": "USDTERC20", "type": "deposit", "amount": HUGE,
     "balance_after": "5200.000000"},
]
HISTORY_ROWS = [
    {**HISTORY[0]},
    {**HISTORY[1], "timestamp": "2025-01-14T15:20:00Z"},
    {**HISTORY[2], "timestamp": "2025-01-14T10:00:00.250Z"},
    {**HISTORY[3]},
    {**HISTORY[4]},
]


def params(call) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(call.request.url).query))


def calls_to(rsps, url):
    return [c for c in rsps.calls if c.request.url.split("?")[0] == url]


class Tokens:
    """The token endpoint: hands out tok-1, tok-2, ... and remembers what was asked."""

    def __init__(self, rsps, expires_in=3600):
        self.issued = 0
        self.expires_in = expires_in
        rsps.add_callback(responses.POST, TOKEN_URL, callback=self)

    def __call__(self, request):
        self.issued += 1
        body = {"access_token": f"tok-{self.issued}", "token_type": "Bearer", "expires_in": self.expires_in,
                "scope": "read write", "issued_at": "2025-01-15T09:30:00Z"}
        return 200, {"Cache-Control": "no-store"}, json.dumps(body)


def serve_history(rsps, entries=HISTORY, cap=None, totals=None):
    """Offset pages over ``entries``; ``cap`` limits ``limit`` as a server would; ``totals`` overrides the total
    per page (by offset, not by arrival: pages after the first are fetched concurrently, in any order).
    Returns the (limit, offset) pairs asked for, in the order they arrived."""
    seen = []

    def callback(request):
        q = params(type("C", (), {"request": request}))
        limit, offset = int(q.get("limit", 10)), int(q.get("offset", 0))
        if cap:
            limit = min(limit, cap)
        rows = [e for e in entries if (not q.get("currency") or e["currency"] == q["currency"])
                and (not q.get("type") or e["type"] == q["type"])]
        page = offset // limit if limit else 0
        total = totals[page] if totals and page < len(totals) else len(rows)
        seen.append((limit, offset))
        return 200, {}, json.dumps({"history": rows[offset:offset + limit], "total": total, "limit": limit,
                                    "offset": offset})

    rsps.add_callback(responses.GET, HISTORY_URL, callback=callback)
    return seen


@pytest.fixture
def mock():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def cf(monkeypatch, no_sleep, mock):
    for k, v in CRYPTOFUSE_ENV.items():
        monkeypatch.setenv(k, v)
    return mock


@pytest.fixture
def static(monkeypatch, no_sleep, mock):
    monkeypatch.setenv("BALCLI_CRYPTOFUSE_TOKEN", STATIC)
    return mock


# -- balances ------------------------------------------------------------------------------------------------

def test_balances_rows_in_every_format(cf, cli):
    Tokens(cf)
    cf.add(responses.GET, BALANCES_URL, json=BALANCES)
    r = cli("oauth", "balances", "--json")
    assert (r.code, r.err) == (0, "")
    assert r.json() == BALANCE_ROWS
    r = cli("oauth", "balances", "-o", "ndjson")
    assert [json.loads(line) for line in r.out.splitlines()] == BALANCE_ROWS
    r = cli("oauth", "balances", "--csv")
    assert list(csv.DictReader(io.StringIO(r.out))) == BALANCE_ROWS
    r = cli("oauth", "balances", "-o", "tsv", "--no-header", "--fields", "currency,balance,scope")
    assert r.out.splitlines() == [f"{x['currency']}\t{x['balance']}\t{x['scope']}" for x in BALANCE_ROWS]
    assert "statistics" not in r.out


def test_balances_table_shows_the_statistics_under_it(cf, cli):
    Tokens(cf)
    cf.add(responses.GET, BALANCES_URL, json=BALANCES)
    r = cli("oauth", "balances", "-o", "table")
    assert r.code == 0
    assert all(x["balance"] in r.out for x in BALANCE_ROWS) and "sub_accounts" in r.out
    assert r.out.rstrip().splitlines()[-1] == "statistics: total_deposits 1234, total_withdrawals 456"


def test_balances_with_null_sub_accounts_and_no_statistics(cf, cli):
    Tokens(cf)
    cf.add(responses.GET, BALANCES_URL, json={"account": {"ETH": "1.0"}, "sub_accounts": None})
    r = cli("oauth", "balances", "--json")
    assert (r.code, r.json()) == (0, [{"scope": "account", "currency": "ETH", "balance": "1.0"}])


def test_token_request_and_bearer_are_exactly_as_documented(cf, cli):
    Tokens(cf)
    cf.add(responses.GET, BALANCES_URL, json=BALANCES)
    r = cli("oauth", "balances", "--json")
    assert r.code == 0
    token_call, api_call = cf.calls[0], cf.calls[1]
    assert token_call.request.method == "POST" and token_call.request.url == TOKEN_URL
    basic = base64.b64encode(b"cf-client-0123456789:cf-secret-abcdef").decode()
    assert token_call.request.headers["Authorization"] == f"Basic {basic}"
    assert token_call.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert token_call.request.body in ("grant_type=client_credentials&scope=read+write",
                                       b"grant_type=client_credentials&scope=read+write")
    assert api_call.request.method == "GET" and api_call.request.url == BALANCES_URL  # trailing slash kept
    assert api_call.request.headers["Authorization"] == "Bearer tok-1"


def test_token_is_fetched_once_and_reused_from_a_0600_cache(cf, cli, isolated):
    tokens = Tokens(cf)
    cf.add(responses.GET, BALANCES_URL, json=BALANCES)
    assert cli("oauth", "balances", "--json").code == 0
    assert cli("oauth", "balances", "--json").code == 0
    assert tokens.issued == 1
    assert [c.request.headers["Authorization"] for c in calls_to(cf, BALANCES_URL)] == ["Bearer tok-1"] * 2
    cache = isolated / "cache" / "cryptofuse-token-default.json"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.parent.stat().st_mode) == 0o700
    assert CRYPTOFUSE_ENV["BALCLI_CRYPTOFUSE_CLIENT_SECRET"] not in cache.read_text()


def test_cached_token_is_per_base_url(cf, cli):
    tokens = Tokens(cf)
    cf.add(responses.GET, BALANCES_URL, json=BALANCES)
    cf.add(responses.POST, "https://proxy.example/o/token/", json={"access_token": "other", "expires_in": 3600})
    cf.add(responses.GET, "https://proxy.example/user/balances/", json=BALANCES)
    assert cli("oauth", "balances", "--json").code == 0
    r = cli("oauth", "balances", "--json", "--base-url", "https://proxy.example")
    assert r.code == 0 and tokens.issued == 1
    assert cf.calls[-1].request.headers["Authorization"] == "Bearer other"  # tok-1 never leaves its host


def test_a_token_about_to_expire_is_not_reused(cf, cli):
    tokens = Tokens(cf, expires_in=30)  # cached until a minute before expiry: never reused
    cf.add(responses.GET, BALANCES_URL, json=BALANCES)
    assert cli("oauth", "balances", "--json").code == 0
    assert cli("oauth", "balances", "--json").code == 0
    assert tokens.issued == 2


def test_401_fetches_a_new_token_once_then_succeeds(cf, cli, isolated):
    tokens = Tokens(cf)
    cf.add(responses.GET, BALANCES_URL, json=BALANCES)
    assert cli("oauth", "balances", "--json").code == 0  # tok-1 cached
    cf.replace(responses.GET, BALANCES_URL, status=401, json={"error": {
        "code": "authentication_failed", "message": "Authentication token has expired", "details": {}}})
    cf.add(responses.GET, BALANCES_URL, json=BALANCES)
    r = cli("oauth", "balances", "--json")
    assert (r.code, r.err) == (0, "")
    assert r.json() == BALANCE_ROWS
    assert tokens.issued == 2
    assert [c.request.headers["Authorization"] for c in calls_to(cf, BALANCES_URL)] == [
        "Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]
    assert "tok-2" in (isolated / "cache" / "cryptofuse-token-default.json").read_text()


def test_a_fresh_token_rejected_too_exits_4_and_forgets_the_cache(cf, cli, isolated):
    tokens = Tokens(cf)
    cf.add(responses.GET, BALANCES_URL, status=401, json={"error": {
        "code": "authentication_failed", "message": "Invalid or missing authentication token", "details": {}}})
    r = cli("oauth", "balances", "--json")
    assert r.code == 4 and r.out == ""
    assert "authentication_failed" in r.err and "hint:" in r.err
    assert tokens.issued == 2 and len(calls_to(cf, BALANCES_URL)) == 2
    assert not (isolated / "cache" / "cryptofuse-token-default.json").exists()


def test_static_token_is_sent_and_never_exchanged(static, cli, isolated):
    static.add(responses.GET, BALANCES_URL, json=BALANCES)
    r = cli("oauth", "balances", "--json")
    assert (r.code, r.json()) == (0, BALANCE_ROWS)
    assert [c.request.headers["Authorization"] for c in static.calls] == [f"Bearer {STATIC}"]
    assert not (isolated / "cache").exists()


def test_static_token_401_fails_at_once_with_exit_4(static, cli):
    static.add(responses.GET, BALANCES_URL, status=401, json={"error": {
        "code": "authentication_failed", "message": "Invalid or missing authentication token", "details": {}}})
    r = cli("oauth", "balances", "--json")
    assert r.code == 4 and r.out == ""
    assert "rejected the token" in r.err and "BALCLI_CRYPTOFUSE_TOKEN" in r.err and STATIC not in r.err
    assert len(static.calls) == 1


@pytest.mark.parametrize("status,body,word", [
    (401, {"error": "invalid_client"}, "BALCLI_CRYPTOFUSE_CLIENT_ID"),
    (400, {"error": "invalid_scope"}, "read and write scopes"),
    (400, {"error": "unsupported_grant_type"}, "client-credentials grant"),
])
def test_token_endpoint_refusals_exit_4_with_a_hint(cf, cli, status, body, word):
    cf.add(responses.POST, TOKEN_URL, status=status, json=body)
    r = cli("oauth", "balances", "--json")
    assert r.code == 4 and r.out == ""
    assert body["error"] in r.err and word in r.err
    assert len(cf.calls) == 1


def test_403_missing_scope_exits_4(cf, cli):
    Tokens(cf)
    cf.add(responses.GET, BALANCES_URL, status=403, json={"error": {
        "code": "permission_denied", "message": "You do not have permission to perform this action.",
        "details": {"required_scopes": ["read", "write"]}}})
    r = cli("oauth", "balances", "--json")
    assert r.code == 4 and "scope" in r.err and "permission_denied" in r.err
    assert len(calls_to(cf, BALANCES_URL)) == 1


def test_429_is_retried_after_retry_after_then_succeeds(cf, cli, no_sleep):
    Tokens(cf)
    cf.add(responses.GET, BALANCES_URL, status=429, headers={"Retry-After": "3"},
           json={"error": {"code": "rate_limit_exceeded", "message": "Request was throttled.", "details": {}}})
    cf.add(responses.GET, BALANCES_URL, json=BALANCES)
    r = cli("oauth", "balances", "--json")
    assert (r.code, r.err) == (0, "") and r.json() == BALANCE_ROWS
    assert len(calls_to(cf, BALANCES_URL)) == 2
    assert any(3 <= s <= 3.25 for s in no_sleep)


def test_429_that_persists_exits_5(cf, cli):
    Tokens(cf)
    cf.add(responses.GET, BALANCES_URL, status=429, headers={"Retry-After": "1"},
           json={"error": {"code": "rate_limit_exceeded", "message": "Request was throttled.", "details": {}}})
    r = cli("oauth", "balances", "--json", "--max-retries", "1")
    assert r.code == 5 and "rate limit" in r.err
    assert len(calls_to(cf, BALANCES_URL)) == 2


def test_server_failure_exits_6_after_retries(cf, cli):
    Tokens(cf)
    cf.add(responses.GET, BALANCES_URL, status=503, body="<html><body>503</body></html>")
    r = cli("oauth", "balances", "--json")
    assert r.code == 6 and r.out == "" and "HTTP 503" in r.err
    assert len(calls_to(cf, BALANCES_URL)) == 5


def test_redirect_is_not_followed(cf, cli):
    Tokens(cf)
    cf.add(responses.GET, BALANCES_URL, status=301, headers={"Location": "https://evil.example/user/balances/"})
    r = cli("oauth", "balances", "--json")
    assert r.code == 7 and "redirected" in r.err and "trailing slash" in r.err
    assert len(calls_to(cf, BALANCES_URL)) == 1


@pytest.mark.parametrize("body,word", [
    ("{not json", "invalid JSON"),
    (json.dumps({"sub_accounts": {}}), "'account'"),
    (json.dumps({"account": {}}), "'sub_accounts'"),
    (json.dumps({"account": ["ETH"], "sub_accounts": {}}), "not an object"),
    (json.dumps({"account": {"ETH": "five"}, "sub_accounts": {}}), "not a decimal amount"),
])
def test_unusable_balances_exit_7(cf, cli, body, word):
    Tokens(cf)
    cf.add(responses.GET, BALANCES_URL, body=body, content_type="application/json")
    r = cli("oauth", "balances", "--json")
    assert r.code == 7 and r.out == "" and word in r.err


def test_token_answer_without_a_token_exits_7(cf, cli):
    cf.add(responses.POST, TOKEN_URL, json={"token_type": "Bearer"})
    r = cli("oauth", "balances", "--json")
    assert r.code == 7 and "access_token" in r.err


def test_vv_never_shows_a_token_or_secret(cf, cli):
    Tokens(cf)
    cf.add(responses.GET, BALANCES_URL, json=BALANCES)
    r = cli("-vv", "oauth", "balances", "--json")
    assert r.code == 0
    assert "POST /o/token/ 200" in r.err and "GET /user/balances/ 200" in r.err
    for secret in (*CRYPTOFUSE_ENV.values(), "tok-1"):
        assert secret not in r.err


# -- history -------------------------------------------------------------------------------------------------

def test_history_every_page_in_every_format(cf, cli):
    Tokens(cf)
    seen = serve_history(cf)
    r = cli("oauth", "history", "--page-size", "2", "--json")
    assert (r.code, r.err) == (0, "")
    assert r.json() == HISTORY_ROWS
    assert sorted(seen) == [(2, 0), (2, 2), (2, 4)]  # pages 2 and 3 are in flight together
    r = cli("oauth", "history", "--page-size", "2", "-o", "ndjson")
    assert [json.loads(line) for line in r.out.splitlines()] == HISTORY_ROWS
    r = cli("oauth", "history", "--page-size", "2", "--csv")
    assert list(csv.DictReader(io.StringIO(r.out))) == HISTORY_ROWS
    r = cli("oauth", "history", "--page-size", "2", "-o", "tsv")
    assert r.out.splitlines() == ["timestamp\tcurrency\ttype\tamount\tbalance_after"] + [
        "\t".join(x.values()) for x in HISTORY_ROWS]
    r = cli("oauth", "history", "--page-size", "2", "-o", "table")
    assert r.code == 0 and all(x["amount"] in r.out for x in HISTORY_ROWS)


def test_history_follows_a_server_cap_on_limit(cf, cli):
    Tokens(cf)
    seen = serve_history(cf, cap=2)
    r = cli("oauth", "history", "--json")
    assert r.code == 0 and r.json() == HISTORY_ROWS
    assert sorted(seen) == [(2, 0), (2, 2), (2, 4)]  # pages 2 and 3 are in flight together
    assert [params(c)["limit"] for c in calls_to(cf, HISTORY_URL)] == ["100", "2", "2"]


def test_history_filters_and_max_items_are_sent(cf, cli):
    Tokens(cf)
    serve_history(cf)
    r = cli("oauth", "history", "--currency", "usdterc20", "--type", "Deposit", "--json")
    assert r.code == 0 and r.json() == [HISTORY_ROWS[0], HISTORY_ROWS[4]]
    q = params(calls_to(cf, HISTORY_URL)[0])
    assert q == {"currency": "USDTERC20", "type": "deposit", "limit": "100", "offset": "0"}
    r = cli("oauth", "history", "--max-items", "3", "--json")
    assert r.json() == HISTORY_ROWS[:3]
    assert params(calls_to(cf, HISTORY_URL)[-1]) == {"limit": "3", "offset": "0"}
    assert len(calls_to(cf, HISTORY_URL)) == 2


def test_history_drops_a_row_repeated_across_pages_and_warns_of_a_changing_total(cf, cli):
    Tokens(cf)
    entries = HISTORY[:2] + [HISTORY[1]] + HISTORY[2:]  # page 2 starts with page 1's last row again
    serve_history(cf, entries, totals=[5, 6, 5])
    r = cli("oauth", "history", "--page-size", "2", "--json")
    assert r.code == 0 and r.json() == HISTORY_ROWS
    assert "warning: Cryptofuse balance history: the total changed during the run (5 -> 6)" in r.err
    assert "(6 -> 5)" in r.err and len(calls_to(cf, HISTORY_URL)) == 3


def test_history_empty_page_while_rows_are_missing_exits_7(cf, cli):
    Tokens(cf)
    serve_history(cf, HISTORY, totals=[9, 9, 9, 9, 9])
    r = cli("oauth", "history", "--page-size", "2", "-o", "ndjson")
    assert r.code == 7 and "empty" in r.err and "5 of 9" in r.err
    assert [json.loads(line) for line in r.out.splitlines()] == HISTORY_ROWS  # streamed rows stay


def test_history_empty_is_zero_rows(cf, cli):
    Tokens(cf)
    serve_history(cf, [])
    r = cli("oauth", "history", "--json")
    assert (r.code, r.json(), r.err) == (0, [], "")
    r = cli("oauth", "history", "-o", "table")
    assert (r.code, r.out) == (0, "") and "no balance history" in r.err


def test_history_401_midway_refreshes_once(cf, cli):
    tokens = Tokens(cf)
    serve_history(cf)
    assert cli("oauth", "history", "--page-size", "2", "--json").code == 0
    cf.replace(responses.GET, HISTORY_URL, status=401, json={"error": {"code": "authentication_failed",
                                                                      "message": "expired", "details": {}}})
    serve_history(cf)
    r = cli("oauth", "history", "--page-size", "2", "--json")
    assert r.code == 0 and r.json() == HISTORY_ROWS
    assert tokens.issued == 2


@pytest.mark.parametrize("entry,word", [
    ({**HISTORY[0], "timestamp": "yesterday"}, "not an ISO 8601 time"),
    ({k: v for k, v in HISTORY[0].items() if k != "balance_after"}, "'balance_after'"),
    ({**HISTORY[0], "amount": None}, "'amount'"),
])
def test_unusable_history_rows_exit_7(cf, cli, entry, word):
    Tokens(cf)
    cf.add(responses.GET, HISTORY_URL, json={"history": [entry], "total": 1, "limit": 100, "offset": 0})
    r = cli("oauth", "history", "--json")
    assert r.code == 7 and word in r.err


def test_history_without_total_exits_7(cf, cli):
    Tokens(cf)
    cf.add(responses.GET, HISTORY_URL, json={"history": HISTORY})
    r = cli("oauth", "history", "--json")
    assert r.code == 7 and "'total'" in r.err


@pytest.mark.parametrize("args", [
    ["history", "--page-size", "0"], ["history", "--page-size", "1001"], ["history", "--max-items", "0"],
    ["history", "--currency", "US DT"], ["history", "--type", "de posit"], ["history", "--fields", "nope"],
    ["balances", "--fields", "scope,amount"], ["balances", "--json", "--csv"], ["balances", "--base-url", "ftp://x"],
])
def test_usage_errors_exit_2_and_send_nothing(cf, cli, args):
    Tokens(cf)
    serve_history(cf)
    r = cli("oauth", *args)
    assert r.code == 2, r.err
    assert r.out == "" and len(cf.calls) == 0


def test_missing_credentials_exit_3_naming_both_ways(cli):
    r = cli("oauth", "balances")
    assert r.code == 3
    assert "BALCLI_CRYPTOFUSE_CLIENT_ID + BALCLI_CRYPTOFUSE_CLIENT_SECRET or BALCLI_CRYPTOFUSE_TOKEN" in r.err
