"""Zoomex broker (docs/apis/zoomex.md): ``GET /private/v1/broker/asset-balance``, ``GET /cloud/trade/v3/market/time``.

Verification (per docs/apis/zoomex.md#signing): the v1 sign is lowercase hex HMAC-SHA256 over the **decoded** query
parameters except ``sign``, sorted by key, joined as ``k=v`` with ``&``. The ``sign`` query parameter is required;
when the ``X-BAPI-SIGN`` header is also sent it must carry the same value.

Order of checks and the answers (HTTP 200, v1 envelope ``ret_code/ret_msg/ext_code/result/ext_info/time_now``):

1. IP limit (600 requests / 5 s of broker traffic): HTTP 403 "access too frequent", and every broker request
   is answered so for ``limits["zoomex_ip"]["ban"]`` seconds (default 600, "wait at least 10 minutes").
2. ``api_key`` missing or unknown: 10003 "API key is invalid."
3. ``timestamp`` missing or not an integer, ``recv_window`` not an integer: 10001 params error;
   outside ``server - recv_window <= timestamp < server + 1000``: 10002 (Bybit-legacy message naming
   req_timestamp, server_timestamp and recv_window).
4. sign missing or wrong: 10004 "error sign! origin_string[...]" (the string the server signed, no secret).
5. key without broker permission (``LIMITED_CREDENTIALS``): 10005 "permission denied".
6. rate limit, 5 requests per rolling second per key: 10006 "Too many visits!".
7. ``limit`` not an integer in 1..50, unknown cursor: 10001.

Pagination: ``limit`` UIDs per page (default 20) over the broker customers sorted by UID. Cursors are base64 of
an opaque binary record (a marker, the sandbox's salt and the index of the next UID) that always contains ``+``,
``/`` and ``=``, so a client that signs the percent-encoded value gets 10004. With ``uid`` the answer is that
customer alone (or an empty list) and ``cursor`` is ignored. With ``coin`` every UID of the page is kept and its
coins are filtered (a UID may then have an empty ``coins`` list).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import TYPE_CHECKING, Any

from .core import Reply, Request, html_reply, json_reply, parse_int

if TYPE_CHECKING:
    from .server import Sandbox

PATH = "/private/v1/broker/asset-balance"
TIME_PATH = "/cloud/trade/v3/market/time"
PREFIXES = ("/private/", "/cloud/", "/v5/", "/contract/", "/spot/")


def sign_v1(secret: str, params: list[tuple[str, str]]) -> tuple[str, str]:
    """(string to sign, lowercase hex HMAC-SHA256) of decoded params per docs/apis/zoomex.md#signing."""
    text = "&".join(f"{k}={v}" for k, v in sorted(params, key=lambda kv: kv[0]))
    return text, hmac.new(secret.encode(), text.encode(), "sha256").hexdigest()


def envelope(sb: Sandbox, req: Request, code: int, msg: str, result: Any = None, **kw: Any) -> Reply:
    body = {"ret_code": code, "ret_msg": msg, "ext_code": "", "result": result if result is not None else {},
            "ext_info": None, "time_now": sb.now_ms()}
    return json_reply(200, body, **kw)


def _salt(sb: Sandbox) -> bytes:
    return hashlib.sha256(f"zoomex-cursor:{sb.seed}".encode()).digest()[:3]


def encode_cursor(sb: Sandbox, index: int) -> str:
    # 0xfb 0xff encode as "+/"; 10 bytes leave "==" padding: every cursor carries +, / and =.
    raw = b"\xfb\xff" + _salt(sb) + index.to_bytes(4, "big") + b"\x01"
    return base64.b64encode(raw).decode()


def decode_cursor(sb: Sandbox, cursor: str) -> int | None:
    try:
        raw = base64.b64decode(cursor.encode(), validate=True)
    except (ValueError, UnicodeError):
        return None
    if len(raw) != 10 or raw[:2] != b"\xfb\xff" or raw[2:5] != _salt(sb) or raw[9:] != b"\x01":
        return None
    return int.from_bytes(raw[5:9], "big")


def limited(sb: Sandbox, req: Request, retry_after: float = 1) -> Reply:
    return envelope(sb, req, 10006, "Too many visits!", rate_limited=True)


def banned(sb: Sandbox, req: Request, retry_after: float = 600) -> Reply:
    reply = html_reply(403)
    reply.body = b"403 Forbidden: access too frequent. Please wait at least 10 minutes.\n"
    reply.headers = [("Content-Type", "text/plain")]
    reply.rate_limited = True
    return reply


def refused(sb: Sandbox, req: Request) -> Reply:
    """The ``refused`` fault: the answer to an unknown key."""
    return envelope(sb, req, 10003, "API key is invalid.")


def not_found(sb: Sandbox, req: Request) -> Reply:
    return html_reply(404)


def server_error(status: int) -> Reply:
    return json_reply(status, {"ret_code": 10016, "ret_msg": "Server error.", "ext_code": "", "result": {},
                               "ext_info": None, "time_now": 0})


def server_time(sb: Sandbox, req: Request) -> Reply:
    if req.method != "GET":
        return not_found(sb, req)
    now = sb.now_ms()
    return json_reply(200, {"retCode": 0, "retMsg": "OK",
                            "result": {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)},
                            "retExtInfo": {}, "time": now})


def asset_balance(sb: Sandbox, req: Request) -> Reply:
    if req.method != "GET":
        return not_found(sb, req)
    if sb.rate_limits:
        now_s = sb.limit_seconds()
        if sb.state.get("zoomex_ban_until", 0.0) > now_s:
            return banned(sb, req)
        if sb.limiter("zoomex_ip").acquire("127.0.0.1") is not None:
            sb.state["zoomex_ban_until"] = now_s + float(sb.limits["zoomex_ip"].get("ban", 600.0))  # float-ok: seconds
            return banned(sb, req)
    api_key = req.param("api_key")
    if not api_key or api_key not in sb.accounts:
        return envelope(sb, req, 10003, "API key is invalid.")
    ts = parse_int(req.param("timestamp"))
    if ts is None:
        return envelope(sb, req, 10001, "params error: timestamp must be an integer (ms)")
    rw_text = req.param("recv_window")
    recv_window = 5000 if rw_text is None else parse_int(rw_text)
    if recv_window is None or recv_window <= 0:
        return envelope(sb, req, 10001, "params error: recv_window must be a positive integer")
    now = req.now_ms
    if not (now - recv_window <= ts < now + 1000):
        return envelope(sb, req, 10002, "invalid request, please check your timestamp and recv_window param. "
                        f"req_timestamp: {ts} server_timestamp: {now} recv_window: {recv_window}")
    sign = req.param("sign")
    header_sign = req.header("X-BAPI-SIGN")
    params = [(k, v) for k, v in req.query if k != "sign"]
    origin, expected = sign_v1(sb.accounts[api_key], params)
    if not sign or not hmac.compare_digest(sign, expected) or (
            header_sign is not None and not hmac.compare_digest(header_sign, expected)):
        return envelope(sb, req, 10004, f"error sign! origin_string[{origin}]")
    if api_key in sb.limited_keys:
        return envelope(sb, req, 10005, "permission denied for current apikey")
    if sb.rate_limits and sb.limiter("zoomex").acquire(api_key) is not None:
        return limited(sb, req)

    limit_text = req.param("limit")
    limit = 20 if limit_text is None else parse_int(limit_text)
    if limit is None or not 1 <= limit <= 50:
        return envelope(sb, req, 10001, "params error: limit must be an integer in [1, 50]")
    coin = req.param("coin") or None
    uid = req.param("uid")
    broker = sb.data.broker
    next_cursor = ""
    if uid:
        idx = sb.data.broker_index.get(uid)
        page = [broker[idx]] if idx is not None else []
    else:
        cursor = req.param("cursor")
        start = 0
        if cursor:
            decoded = decode_cursor(sb, cursor)
            if decoded is None or decoded > len(broker):
                return envelope(sb, req, 10001, "params error: cursor is invalid")
            start = decoded
        page = broker[start:start + limit]
        if start + limit < len(broker):
            next_cursor = encode_cursor(sb, start + limit)
        if cursor and req.take_fault("cursor_cycle") is not None:
            next_cursor = cursor  # points back at the page just served
    rows = [{"user_id": user_id,
             "coins": [{"coin": c, "total_balance": b} for c, b in coins if coin is None or c == coin]}
            for user_id, coins in page]
    return envelope(sb, req, 0, "OK", {"list": rows, "next_cursor": next_cursor})


ROUTES = {PATH: asset_balance, TIME_PATH: server_time}
