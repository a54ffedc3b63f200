"""The sandbox's CoinW spot, Binance, CoinW affiliate and Cryptofuse APIs, over real HTTP on 127.0.0.1.

Requests are signed with small helpers written here from docs/apis/, independent of balcli's code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from urllib.parse import quote, urlencode

import pytest
import requests

from balcli.sandbox import DEMO_CREDENTIALS, DEMO_STATIC_TOKEN, LIMITED_CLIENT, LIMITED_CREDENTIALS, Sandbox
from tests.conftest import ManualClock

DAY = 86_400_000
CW = DEMO_CREDENTIALS["coinw"]
BN = DEMO_CREDENTIALS["binance"]
CF = DEMO_CREDENTIALS["cryptofuse"]
APATH = "/api/v3/patener/openapi/v1/partner/invitation/user/assets"
CST = timezone(timedelta(hours=8))


@pytest.fixture
def sb():
    with Sandbox(invitees=130, history=57) as box:
        yield box


@pytest.fixture
def session():
    with requests.Session() as s:
        yield s


# ------------------------------------------------------------------------------------------- helpers
def spot_post(sb, command="returnBalances", *, key=CW["api_key"], secret=CW["api_secret"], session=requests,
              lower=False, sign_command=False):
    params = {"api_key": key}
    if sign_command:
        params["command"] = command
    text = "".join(f"{k}={v}&" for k, v in sorted(params.items())) + f"secret_key={secret}"
    sign = hashlib.md5(text.encode()).hexdigest()
    sign = sign if lower else sign.upper()
    url = f"{sb.base_url}/api/v1/private?command={command}&api_key={quote(key)}&sign={sign}"
    return session.post(url, headers={"Content-Type": "application/json"})


def binance_get(sb, params, *, key=BN["api_key"], secret=BN["api_secret"], ts=None, session=requests, tamper=False,
                path="/sapi/v1/accountSnapshot"):
    query = urlencode({**params, "timestamp": sb.now_ms() if ts is None else ts})
    sig = hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    if tamper:
        sig = ("0" if sig[0] != "0" else "1") + sig[1:]
    return session.get(f"{sb.base_url}{path}?{query}&signature={sig}", headers={"X-MBX-APIKEY": key})


def affiliate_get(sb, pairs, *, key=CW["api_key"], secret=CW["api_secret"], ts=None, session=requests,
                  tamper=False):
    ts = str(sb.now_ms() if ts is None else ts)
    raw = "&".join(f"{k}={v}" for k, v in pairs)
    text = ts + "GET" + APATH + (f"?{raw}" if raw else "")
    sign = base64.b64encode(hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()).decode()
    if tamper:
        sign = sign[::-1]
    url = f"{sb.base_url}{APATH}" + (f"?{urlencode(pairs)}" if pairs else "")
    return session.get(url, headers={"api_key": key, "timestamp": ts, "sign": sign})


def token(sb, client=CF, scope="read write", session=requests):
    r = session.post(f"{sb.base_url}/o/token/", auth=(client["client_id"], client["client_secret"]),
                     data={"grant_type": "client_credentials", "scope": scope})
    return r


def bearer(tok):
    return {"Authorization": f"Bearer {tok}"}


def walk_invitees(sb, session, extra=(), size=50):
    rows, page, totals = [], 1, []
    while True:
        body = affiliate_get(sb, [*extra, ("pageNo", page), ("pageSize", size)], session=session).json()
        assert body["code"] == "0", body
        rows += body["data"]["list"]
        totals.append(body["data"]["total"])
        if page * size >= body["data"]["total"] or not body["data"]["list"]:
            return rows, totals
        page += 1


# ------------------------------------------------------------------------------------------- CoinW spot
def test_spot_balances_and_complete_balances(sb, session):
    body = spot_post(sb, session=session).json()
    assert body == {"code": "200", "data": sb.data.spot, "msg": "SUCCESS", "success": True, "failed": False}
    assert body["data"]["USDT"] == "257.518301140000000" and body["data"]["DOGE"] == "0"
    complete = spot_post(sb, "returnCompleteBalances", session=session).json()
    assert complete["code"] == "200" and complete["data"] == sb.data.spot_complete
    assert all(complete["data"][c]["available"] == v for c, v in body["data"].items())
    assert sb.requests[0].method == "POST" and sb.requests[0].api == "coinw_spot"


def test_spot_auth_errors(sb):
    assert spot_post(sb, key="nobody").json() == {"code": 6000, "msg": "authentication error: api_key does not exist",
                                                  "data": None, "success": False, "failed": True}
    for kwargs in ({"lower": True}, {"sign_command": True}, {"secret": "wrong"}):
        body = spot_post(sb, **kwargs).json()
        assert (body["code"], body["success"], body["failed"]) == (1003, False, True), kwargs
    assert spot_post(sb, "returnTicker").json()["code"] == -3
    assert requests.get(f"{sb.base_url}/api/v1/private?command=returnBalances").status_code == 405


def test_spot_rate_limits_per_command():
    clock = ManualClock()
    with Sandbox(clock=clock) as sb, requests.Session() as s:  # returnBalances 3 / 1 s, returnCompleteBalances 5 / 2 s
        codes = [spot_post(sb, session=s).json()["code"] for _ in range(4)]
        assert codes == ["200", "200", "200", 29001]
        assert spot_post(sb, "returnCompleteBalances", session=s).json()["code"] == "200"
        body = [spot_post(sb, "returnCompleteBalances", session=s).json() for _ in range(5)][-1]
        assert body == {"code": 29001, "msg": "API access frequently", "data": None, "success": False, "failed": True}
        assert sb.count(api="coinw_spot", rate_limited=True) == 2
        clock.advance(1.0)
        assert spot_post(sb, session=s).json()["code"] == "200"
        assert spot_post(sb, "returnCompleteBalances", session=s).json()["code"] == 29001  # its window is 2 s


# ------------------------------------------------------------------------------------------- Binance
def test_binance_default_window_is_last_seven_days(sb):
    r = binance_get(sb, {"type": "SPOT"})
    body = r.json()
    assert r.status_code == 200 and body["code"] == 200 and body["msg"] == ""
    vos = body["snapshotVos"]
    today = sb.now_ms() // DAY
    assert [v["updateTime"] for v in vos] == [d * DAY + DAY - 1000 for d in range(today - 7, today)]
    assert vos[-1] == sb.data.snapshot("spot", today - 1)
    bal = vos[0]["data"]["balances"]
    assert {b["asset"] for b in bal} >= {"BTC", "USDT"} and "totalAssetOfBtc" in vos[0]["data"]
    assert r.headers["X-SAPI-USED-IP-WEIGHT-1M"] == "2400"


def test_binance_margin_futures_and_explicit_window(sb):
    now = sb.now_ms()
    start = (now // DAY - 29) * DAY
    body = binance_get(sb, {"type": "FUTURES", "startTime": start, "endTime": now, "limit": 30}).json()
    assert len(body["snapshotVos"]) == 29
    fut = body["snapshotVos"][0]
    assert fut["type"] == "futures" and set(fut["data"]) == {"assets", "position"}
    assert all(set(p) == {"entryPrice", "markPrice", "positionAmt", "symbol", "unRealizedProfit"}
               for v in body["snapshotVos"] for p in v["data"]["position"])
    assert sum(len(v["data"]["position"]) for v in body["snapshotVos"]) > 0
    margin = binance_get(sb, {"type": "MARGIN", "limit": 10}).json()["snapshotVos"]
    assert len(margin) == 7
    ua = margin[0]["data"]["userAssets"][0]
    assert Decimal(ua["netAsset"]) == Decimal(ua["free"]) + Decimal(ua["locked"]) - Decimal(ua["borrowed"]) - \
        Decimal(ua["interest"])
    first = binance_get(sb, {"type": "SPOT", "startTime": start, "endTime": now}).json()["snapshotVos"]
    assert len(first) == 7 and first[0]["updateTime"] == start + DAY - 1000


@pytest.mark.parametrize("params,status,code", [
    ({"type": "spot"}, 400, -3026),
    ({"type": "OPTIONS"}, 400, -3026),
    ({}, 400, -1102),
    ({"type": "SPOT", "limit": 6}, 400, -1130),
    ({"type": "SPOT", "limit": 31}, 400, -1130),
    ({"type": "SPOT", "startTime": "abc"}, 400, -1100),
    ({"type": "SPOT", "recvWindow": 60001}, 400, -1131),
])
def test_binance_parameter_errors(params, status, code):
    with Sandbox(rate_limits=False) as sb:
        r = binance_get(sb, params)
        assert (r.status_code, r.json()["code"]) == (status, code), r.text
        assert set(r.json()) == {"code", "msg"}


def test_binance_window_rules():
    with Sandbox(rate_limits=False) as sb:
        now = sb.now_ms()
        too_long = binance_get(sb, {"type": "SPOT", "startTime": now - 30 * DAY + 5000, "endTime": now + 5000})
        assert (too_long.status_code, too_long.json()) == (400, {"code": -1127, "msg": "Lookup interval is too big."})
        just_under = binance_get(sb, {"type": "SPOT", "startTime": now - 29 * DAY, "endTime": now + DAY - 1})
        assert just_under.status_code == 200
        old = binance_get(sb, {"type": "SPOT", "startTime": now - 40 * DAY, "endTime": now - 35 * DAY})
        assert old.json()["code"] == -1130
        reversed_ = binance_get(sb, {"type": "SPOT", "startTime": now - DAY, "endTime": now - 2 * DAY})
        assert reversed_.json()["code"] == -1128


def test_binance_auth_errors():
    with Sandbox(rate_limits=False) as sb:
        r = binance_get(sb, {"type": "SPOT"}, key="nobody")
        assert (r.status_code, r.json()) == (401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for "
                                                                         "action."})
        r = requests.get(f"{sb.base_url}/sapi/v1/accountSnapshot?type=SPOT&timestamp=1&signature=00")
        assert (r.status_code, r.json()["code"]) == (401, -2014)
        r = binance_get(sb, {"type": "SPOT"}, tamper=True)
        assert (r.status_code, r.json()["code"]) == (400, -1022)
        r = binance_get(sb, {"type": "SPOT"}, ts=sb.now_ms() - 6000)
        assert (r.status_code, r.json()) == (400, {"code": -1021, "msg": "Timestamp for this request is outside "
                                                                         "of the recvWindow."})
        r = binance_get(sb, {"type": "SPOT"}, ts=sb.now_ms() + 1500)
        assert r.json()["code"] == -1021 and "ahead" in r.json()["msg"]
        r = binance_get(sb, {"type": "SPOT"}, key=LIMITED_CREDENTIALS["api_key"],
                        secret=LIMITED_CREDENTIALS["api_secret"])
        assert (r.status_code, r.json()["code"]) == (401, -2015)
        assert all(r.headers.get("X-SAPI-USED-IP-WEIGHT-1M") for r in [r])


def test_binance_server_time_follows_the_clock_offset():
    with Sandbox(clock_offset_ms=-3_000) as sb:  # the local clock runs 3 s ahead of the server
        r = requests.get(sb.base_url + "/api/v3/time")
        assert abs(r.json()["serverTime"] - (time.time() * 1000 - 3000)) < 1000
        assert r.headers["X-MBX-USED-WEIGHT-1M"] == "1"
        assert binance_get(sb, {"type": "SPOT"}, ts=int(time.time() * 1000)).json()["code"] == -1021
        assert binance_get(sb, {"type": "SPOT"}, ts=r.json()["serverTime"]).json()["code"] == 200


def test_binance_weight_budget_429_then_418_ban():
    clock = ManualClock()  # on a whole minute: every call lands in the same calendar window
    with Sandbox(limits={"binance": {"budget": 4800}}, clock=clock) as sb, requests.Session() as s:
        first = binance_get(sb, {"type": "SPOT"}, session=s)
        second = binance_get(sb, {"type": "SPOT"}, session=s)
        assert [first.headers["X-SAPI-USED-IP-WEIGHT-1M"], second.headers["X-SAPI-USED-IP-WEIGHT-1M"]] == [
            "2400", "4800"]
        clock.advance(15.0)
        over = binance_get(sb, {"type": "SPOT"}, session=s)
        assert over.status_code == 429 and over.json()["code"] == -1003
        assert over.headers["Retry-After"] == "45"  # until the minute ends
        ban = binance_get(sb, {"type": "SPOT"}, session=s)
        assert ban.status_code == 418 and ban.json()["code"] == -1003 and "banned until" in ban.json()["msg"]
        assert ban.headers["Retry-After"] == "120"  # the ban, not the minute
        clock.advance(60.0)
        assert binance_get(sb, {"type": "SPOT"}, session=s).status_code == 418  # a new minute, still banned
        assert sb.count(api="binance", rate_limited=True) == 3
        clock.advance(60.0)
        assert binance_get(sb, {"type": "SPOT"}, session=s).status_code == 200


def test_binance_a_new_window_resets_the_budget():
    clock = ManualClock()
    clock.advance(30.0)
    with Sandbox(limits={"binance": {"budget": 2400}}, clock=clock) as sb, requests.Session() as s:
        assert binance_get(sb, {"type": "SPOT"}, session=s).status_code == 200
        assert binance_get(sb, {"type": "SPOT"}, session=s).status_code == 429
        clock.advance(30.0)  # a calendar minute: 30 s after the first call, not 60 s
        r = binance_get(sb, {"type": "SPOT"}, session=s)
        assert r.status_code == 200 and r.headers["X-SAPI-USED-IP-WEIGHT-1M"] == "2400"


# ------------------------------------------------------------------------------------------- CoinW affiliate
def test_affiliate_walk_gives_every_invitee_once_sorted(sb, session):
    rows, totals = walk_invitees(sb, session)
    assert totals == [130, 130, 130]
    assert [r["uid"] for r in rows] == [inv.uid for inv in sb.data.invitees]
    assert rows == [sb.data.invitee_row(inv) for inv in sb.data.invitees]
    assert all(isinstance(r["uid"], int) for r in rows)
    no_deposit = [r for r in rows if r["firstDepositTime"] in (None, "")]
    assert no_deposit and all(r["totalDeposit"] == "0.00000000" for r in no_deposit)
    assert None in {r["updateTime"] for r in rows}


def test_affiliate_window_limits_deposits_but_not_balance(sb, session):
    inv = max(sb.data.invitees, key=lambda i: len(i.events["usdt"]))
    mid = inv.events["usdt"][len(inv.events["usdt"]) // 2][0]
    start = datetime.fromtimestamp(mid / 1000, CST).strftime("%Y-%m-%d %H:%M:%S")
    body = affiliate_get(sb, [("uid", inv.uid), ("startTime", start)], session=session).json()
    row = body["data"]["list"][0]
    expected = sum((a for t, k, a in inv.events["usdt"] if k == "deposit" and t >= mid), Decimal(0))
    assert Decimal(row["totalDeposit"]) == expected
    full = affiliate_get(sb, [("uid", inv.uid)], session=session).json()["data"]["list"][0]
    assert row["currentBalance"] == full["currentBalance"]
    assert Decimal(full["totalDeposit"]) >= expected
    usdc = affiliate_get(sb, [("uid", inv.uid), ("quote", "usdc")], session=session).json()["data"]["list"][0]
    assert usdc == sb.data.invitee_row(inv, "usdc")


@pytest.mark.parametrize("pairs", [
    [("pageSize", 101)], [("pageSize", 0)], [("pageNo", 0)], [("quote", "btc")], [("uid", "abc")],
    [("startTime", "2025-01-01")], [("endTime", "2025/01/01 00:00:00")], [("startTime", "2025-13-01 00:00:00")],
])
def test_affiliate_rejects_bad_parameters_with_code_1(sb, pairs):
    body = affiliate_get(sb, pairs).json()
    assert body["code"] == 1 and body["msg"].startswith("invalid parameter")


def test_affiliate_auth_errors(sb):
    assert affiliate_get(sb, [], key="nobody").json()["code"] == 6000
    assert affiliate_get(sb, [("pageNo", 1)], tamper=True).json() == {"code": 6001, "msg": "invalid signature",
                                                                      "data": None, "success": False}
    assert affiliate_get(sb, [], ts=sb.now_ms() - 31_000).json() == {"code": 6002, "msg": "timestamp expired",
                                                                     "data": None, "success": False}
    assert affiliate_get(sb, [], ts=sb.now_ms() + 31_000).json()["code"] == 6002
    assert affiliate_get(sb, [], ts=sb.now_ms() - 20_000).json()["code"] == "0"
    limited = affiliate_get(sb, [], key=LIMITED_CREDENTIALS["api_key"], secret=LIMITED_CREDENTIALS["api_secret"])
    assert limited.json()["code"] == 6003 and limited.json()["msg"] == "require more permission"
    # signing the sorted query while sending it unsorted (docs/apis/coinw-affiliate.md#test-vectors)
    ts = str(sb.now_ms())
    text = ts + "GET" + APATH + "?pageNo=1&pageSize=20&quote=usdt"
    sign = base64.b64encode(hmac.new(CW["api_secret"].encode(), text.encode(), hashlib.sha256).digest()).decode()
    r = requests.get(f"{sb.base_url}{APATH}?quote=usdt&pageNo=1&pageSize=20",
                     headers={"api_key": CW["api_key"], "timestamp": ts, "sign": sign})
    assert r.json()["code"] == 6001


def test_affiliate_server_time_and_rate_limit():
    with Sandbox(clock_offset_ms=-60_000, limits={"coinw_affiliate": {"count": 2}}, clock=ManualClock()) as sb, \
            requests.Session() as s:
        t = s.get(sb.base_url + "/v1/perpum/time").json()
        assert t["code"] == 0 and abs(t["data"]["time"] - (time.time() * 1000 - 60_000)) < 1000
        assert affiliate_get(sb, [], ts=int(time.time() * 1000), session=s).json()["code"] == 6002
        codes = [affiliate_get(sb, [], ts=t["data"]["time"], session=s).json()["code"] for _ in range(3)]
        assert codes == ["0", "0", 29001]
        assert sb.requests[-1].rate_limited


# ------------------------------------------------------------------------------------------- Cryptofuse
def test_cryptofuse_token_balances_and_history_walk(sb, session):
    r = token(sb, session=session)
    tok = r.json()
    assert r.status_code == 200 and tok["token_type"] == "Bearer" and tok["expires_in"] == 3600
    assert tok["scope"] == "read write" and tok["issued_at"].endswith("Z")
    bal = session.get(f"{sb.base_url}/user/balances/", headers=bearer(tok["access_token"])).json()
    assert bal == {"account": sb.data.oauth_account, "sub_accounts": sb.data.oauth_sub_accounts,
                   "statistics": sb.data.oauth_statistics}
    seen, offset = [], 0
    while True:
        page = session.get(f"{sb.base_url}/user/balances/history/?limit=10&offset={offset}",
                           headers=bearer(tok["access_token"])).json()
        assert page["total"] == 57 and page["limit"] == 10 and page["offset"] == offset
        seen += page["history"]
        offset += len(page["history"])
        if offset >= page["total"] or not page["history"]:
            break
    assert seen == sb.data.history and len(seen) == 57
    assert [h["timestamp"] for h in seen] == sorted((h["timestamp"] for h in seen), reverse=True)
    # balance_after chains exactly per currency, and the account is the last balance
    last = {}
    for h in reversed(seen):
        sign = 1 if h["type"] == "deposit" else -1
        before = last.get(h["currency"], Decimal(0))
        assert Decimal(h["balance_after"]) == before + sign * Decimal(h["amount"])
        last[h["currency"]] = Decimal(h["balance_after"])
    assert all(Decimal(sb.data.oauth_account[c]) == v for c, v in last.items())


def test_cryptofuse_history_filters_and_limits(sb, session):
    h = {"Authorization": f"Bearer {DEMO_STATIC_TOKEN}"}
    page = session.get(f"{sb.base_url}/user/balances/history/", headers=h).json()
    assert page["limit"] == 10 and len(page["history"]) == 10 and page["offset"] == 0
    eth = session.get(f"{sb.base_url}/user/balances/history/?currency=ETH&type=deposit&limit=100", headers=h).json()
    expected = [x for x in sb.data.history if x["currency"] == "ETH" and x["type"] == "deposit"]
    assert eth["history"] == expected and eth["total"] == len(expected)
    assert session.get(f"{sb.base_url}/user/balances/history/?limit=500", headers=h).json()["limit"] == 100
    bad = session.get(f"{sb.base_url}/user/balances/history/?offset=-1", headers=h)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "validation_error"


def test_cryptofuse_auth_errors(sb, session):
    assert token(sb, {"client_id": CF["client_id"], "client_secret": "nope"}).json() == {"error": "invalid_client"}
    assert token(sb, {"client_id": CF["client_id"], "client_secret": "nope"}).status_code == 401
    assert session.post(f"{sb.base_url}/o/token/", auth=(CF["client_id"], CF["client_secret"]),
                        data={"grant_type": "password"}).json() == {"error": "unsupported_grant_type"}
    for headers in ({}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic abc"}):
        r = session.get(f"{sb.base_url}/user/balances/", headers=headers)
        assert r.status_code == 401 and r.json() == {"error": {"code": "authentication_failed", "message": (
            "Invalid or missing authentication token"), "details": {}}}
    read_only = token(sb, LIMITED_CLIENT, scope="read").json()["access_token"]
    r = session.get(f"{sb.base_url}/user/balances/", headers=bearer(read_only))
    assert r.status_code == 403 and r.json()["error"]["code"] == "permission_denied"
    assert session.get(f"{sb.base_url}/user/balances/history/", headers=bearer(read_only)).status_code == 200
    assert token(sb, LIMITED_CLIENT, scope="read write").json() == {"error": "invalid_scope"}


def test_cryptofuse_tokens_expire():
    clock = ManualClock()
    with Sandbox(token_ttl=0.5, clock=clock) as sb:
        tok = token(sb).json()
        assert tok["expires_in"] == 1
        assert requests.get(f"{sb.base_url}/user/balances/", headers=bearer(tok["access_token"])).status_code == 200
        clock.advance(0.25)
        assert requests.get(f"{sb.base_url}/user/balances/", headers=bearer(tok["access_token"])).status_code == 200
        clock.advance(0.25)
        r = requests.get(f"{sb.base_url}/user/balances/", headers=bearer(tok["access_token"]))
        assert r.status_code == 401 and r.json()["error"]["code"] == "authentication_failed"
        fresh = token(sb).json()["access_token"]
        assert requests.get(f"{sb.base_url}/user/balances/", headers=bearer(fresh)).status_code == 200
        sb.expire_tokens()
        assert requests.get(f"{sb.base_url}/user/balances/", headers=bearer(fresh)).status_code == 401
        static = {"Authorization": f"Bearer {DEMO_STATIC_TOKEN}"}
        assert requests.get(f"{sb.base_url}/user/balances/", headers=static).status_code == 200


def test_cryptofuse_slashless_paths_redirect(sb):
    r = requests.get(f"{sb.base_url}/user/balances/history?limit=5", allow_redirects=False)
    assert r.status_code == 301 and r.headers["Location"] == "/user/balances/history/?limit=5"
    r = requests.post(f"{sb.base_url}/o/token", allow_redirects=False)
    assert r.status_code == 301 and r.headers["Location"] == "/o/token/"


def test_cryptofuse_rate_limit_is_per_owner_with_retry_after():
    with Sandbox(limits={"cryptofuse": {"count": 3, "window": 0.4}}) as sb, requests.Session() as s:
        tok = token(sb, session=s).json()["access_token"]
        statuses = [s.get(f"{sb.base_url}/user/balances/", headers=bearer(tok)).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        last = s.get(f"{sb.base_url}/user/balances/", headers=bearer(tok))
        assert last.headers["Retry-After"] == "1" and last.json()["error"]["code"] == "rate_limit_exceeded"
        # a second token of the same client shares the budget; the static token is another owner
        tok2 = token(sb, session=s).json()["access_token"]
        assert s.get(f"{sb.base_url}/user/balances/", headers=bearer(tok2)).status_code == 429
        static = {"Authorization": f"Bearer {DEMO_STATIC_TOKEN}"}
        assert s.get(f"{sb.base_url}/user/balances/", headers=static).status_code == 200
        assert sb.count(api="cryptofuse", rate_limited=True) == 3
