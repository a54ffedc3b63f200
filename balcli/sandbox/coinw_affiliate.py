"""CoinW affiliate "direct invitee user asset" (docs/apis/coinw-affiliate.md) and CoinW futures server time.

``GET /api/v3/patener/openapi/v1/partner/invitation/user/assets`` (the path really says ``patener``) and
``GET /v1/perpum/time`` -> ``{"code":0,"data":{"time":<ms>},"msg":"success"}``.

Verification (written from docs/apis/coinw-affiliate.md, "Signing"): headers ``api_key``, ``timestamp``, ``sign``;
``sign`` = standard base64 of HMAC-SHA256 over ``timestamp + METHOD + path + ("?" + query) + body`` where
``query`` is the **decoded** ``k=v`` pairs joined by ``&`` in the order they were sent (no ``?`` when there are
none). The percent-encoded variant (vector ``F3_enc_alternative``) is therefore rejected with 6001: the sandbox
takes the raw-signing side of open question 1 (docs/apis/coinw-affiliate.md, "Open questions").

Errors (HTTP 200, ``{"code":N,"msg":"...","data":null,"success":false}`` with a numeric code as CoinW's
futures endpoints send them), in the order they are checked:
- 6000 "authentication error: api_key does not exist" (header missing or key unknown);
- 1 "invalid parameter: timestamp" (missing or not an integer);
- **6002 "timestamp expired"** when the timestamp is more than 30 s away from the server clock. CoinW does not
  document its tolerance or this answer (docs/apis/coinw-affiliate.md#open-questions); the sandbox chose 6002, between
  CoinW.Net's 6001 (signature) and the documented 6003, and balcli maps it to clock skew;
- 6001 "invalid signature";
- 6003 "require more permission" for a key without the Affiliate permission (``LIMITED_CREDENTIALS``);
- 29001 "API access frequently": more than 5 requests per rolling second per key;
- 1 "invalid parameter: <name>": ``uid``/``pageNo``/``pageSize`` not integers, ``pageNo`` < 1, ``pageSize``
  outside 1..100, ``quote`` not usdt|usdc, ``startTime``/``endTime`` not ``yyyy-MM-dd HH:mm:ss``.
Success: ``{"code":"0","msg":"success","data":{"total":N,"list":[...]}}``, ``uid`` a JSON number, rows sorted
ascending by uid. Times are read and written in UTC+08:00. Defaults: pageNo 1, pageSize 20, quote usdt.
Deposits and withdrawals are summed inside [startTime, endTime] (inclusive); currentBalance ignores the window.

Faults: ``repeat_page`` (pageNo > 1 answers the previous page), ``short_total`` (an empty list with the real
total), ``unreachable_total`` (total + ``extra``, default 10), ``total_changes`` (total + ``delta``, default 1).
"""

from __future__ import annotations

import base64
import hmac
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .coinw_spot import banned  # noqa: F401 - one CoinW host, one ban page (the server looks it up here)
from .core import Reply, Request, json_reply, paging_faults, parse_int
from .data import CST

if TYPE_CHECKING:
    from .server import Sandbox

PATH = "/api/v3/patener/openapi/v1/partner/invitation/user/assets"
TIME_PATH = "/v1/perpum/time"
PREFIXES = ("/api/v3/patener/", "/v1/perpum/", "/v1/")
TOLERANCE_MS = 30_000
_TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


def sign_b64(secret: str, text: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), text.encode(), "sha256").digest()).decode()


def string_to_sign(timestamp: str, method: str, path: str, query: list[tuple[str, str]], body: bytes) -> str:
    q = "&".join(f"{k}={v}" for k, v in query)
    return f"{timestamp}{method.upper()}{path}{'?' + q if q else ''}{body.decode('utf-8', 'replace')}"


def error(code: int, msg: str, **kw: Any) -> Reply:
    return json_reply(200, {"code": code, "msg": msg, "data": None, "success": False}, **kw)


def limited(sb: Sandbox, req: Request, retry_after: float = 1) -> Reply:
    return error(29001, "API access frequently", rate_limited=True)


def refused(sb: Sandbox, req: Request) -> Reply:
    """The ``refused`` fault: the answer to an unknown key."""
    return error(6000, "authentication error: api_key does not exist")


def not_found(sb: Sandbox, req: Request) -> Reply:
    # CoinW answers a wrong path with code 500 "Internal server error" (docs/apis/coinw-affiliate.md, "Errors")
    return json_reply(200, {"code": 500, "msg": "Internal server error", "data": None, "success": False})


def server_error(status: int) -> Reply:
    reply = error(500, "Internal server error")
    reply.status = status
    return reply


def server_time(sb: Sandbox, req: Request) -> Reply:
    return json_reply(200, {"code": 0, "data": {"time": sb.now_ms()}, "msg": "success"})


def parse_time(text: str) -> int | None:
    """`yyyy-MM-dd HH:mm:ss` in UTC+08:00 -> epoch ms; None when malformed."""
    if not _TIME_RE.fullmatch(text):
        return None
    try:
        return int(datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CST).timestamp() * 1000)
    except ValueError:
        return None


def user_assets(sb: Sandbox, req: Request) -> Reply:
    if req.method != "GET":
        return not_found(sb, req)
    api_key = req.header("api_key")
    if not api_key or api_key not in sb.accounts:
        return error(6000, "authentication error: api_key does not exist")
    ts_text = req.header("timestamp")
    ts = parse_int(ts_text)
    if ts is None or ts_text is None:
        return error(1, "invalid parameter: timestamp")
    if abs(ts - req.now_ms) > TOLERANCE_MS:
        return error(6002, "timestamp expired")
    expected = sign_b64(sb.accounts[api_key], string_to_sign(ts_text, req.method, req.path, req.query, req.body))
    if not hmac.compare_digest(req.header("sign") or "", expected):
        return error(6001, "invalid signature")
    if api_key in sb.limited_keys:
        return error(6003, "require more permission")
    if sb.rate_limits and sb.limiter("coinw_affiliate").acquire(api_key) is not None:
        return limited(sb, req)

    def bad(name: str) -> Reply:
        return error(1, f"invalid parameter: {name}")

    ints: dict[str, int | None] = {}
    for name in ("uid", "pageNo", "pageSize"):
        text = req.param(name)
        ints[name] = None if text is None or text == "" else parse_int(text)
        if text not in (None, "") and ints[name] is None:
            return bad(name)
    page_no = ints["pageNo"] if ints["pageNo"] is not None else 1
    page_size = ints["pageSize"] if ints["pageSize"] is not None else 20
    if page_no < 1:
        return bad("pageNo")
    if not 1 <= page_size <= 100:
        return bad("pageSize")
    quote = (req.param("quote") or "usdt").lower()
    if quote not in ("usdt", "usdc"):
        return bad("quote")
    window: dict[str, int | None] = {}
    for name in ("startTime", "endTime"):
        text = req.param(name)
        window[name] = None
        if text:
            window[name] = parse_time(text)
            if window[name] is None:
                return bad(f"{name} (format yyyy-MM-dd HH:mm:ss)")
    invitees = sb.data.invitees
    if ints["uid"] is not None:
        idx = sb.data.invitee_index.get(ints["uid"])
        matching = [invitees[idx]] if idx is not None else []
    else:
        matching = invitees
    total = len(matching)
    page = page_no
    if page_no > 1 and req.take_fault("repeat_page") is not None:
        page = page_no - 1
    chosen, total = paging_faults(req, matching[(page - 1) * page_size: page * page_size], total)
    rows = [sb.data.invitee_row(inv, quote, window["startTime"], window["endTime"]) for inv in chosen]
    return json_reply(200, {"code": "0", "msg": "success", "data": {"total": total, "list": rows}})


ROUTES = {PATH: user_assets, TIME_PATH: server_time}
