"""Binance daily account snapshot (docs/apis/binance.md): ``GET /sapi/v1/accountSnapshot`` and ``GET /api/v3/time``.

Verification (written from docs/apis/binance.md#signing): ``signature`` = hex HMAC-SHA256 (in any letter case) of the
query string **exactly as sent**, minus the ``signature`` pair; the key comes from the ``X-MBX-APIKEY`` header.

Rate limit (docs/apis/binance.md#rate-limits): weight 2400 a call, budget 12000 per IP per calendar minute (windows
of ``limits["binance"]["window"]`` seconds of the wall clock, so a frozen sandbox clock does not freeze them).
Every ``/sapi`` response carries ``X-SAPI-USED-IP-WEIGHT-1M``. A call that would exceed the budget gets HTTP 429,
``Retry-After`` (seconds to the next window) and ``-1003``; any call after a 429 within the same window bans
the IP: HTTP 418, ``Retry-After`` and ``-1003 "Way too many requests; IP(...) banned until <ms>"`` until
``limits["binance"]["ban"]`` seconds have passed. ``/api/v3/time`` has weight 1 on the separate ``/api`` budget
and carries ``X-MBX-USED-WEIGHT-1M``.

Errors (HTTP 4xx, ``{"code": <negative>, "msg": ...}``), in the order they are checked:
- 401 -2014 "API-key format invalid." (no ``X-MBX-APIKEY``); 401 -2015 "Invalid API-key, IP, or permissions
  for action." (unknown key, and the key of ``LIMITED_CREDENTIALS`` once its signature is verified);
- 400 -1102 mandatory ``timestamp`` / ``signature`` / ``type`` missing; -1100 a non-integer number;
  -1131 ``recvWindow`` over 60000;
- 400 -1021 timestamp 1000 ms or more ahead of the server, or older than ``recvWindow``;
- 400 -1022 bad signature;
- 400 -3026 unknown ``type`` (SPOT|MARGIN|FUTURES, uppercase);
- 400 -1130 ``limit`` outside 7..30, or ``startTime`` older than 30 days before the server time ("only the last
  month"); 400 -1127 "Lookup interval is too big." when ``endTime - startTime`` is 30 days or more; 400 -1128
  when ``startTime > endTime``.

Window: no ``startTime``/``endTime`` -> the last 7 days; only ``endTime`` -> the 7 days before it; only
``startTime`` -> from it to now. Snapshots exist for the 30 days before the server's current UTC day
(``updateTime`` = 23:59:59.000 UTC). Within the window, the first ``limit`` (default 7) snapshots from
``startTime`` are returned when ``startTime`` is given, else the last ``limit``; ascending by ``updateTime``.
"""

from __future__ import annotations

import hmac
import math
import threading
import time
from typing import TYPE_CHECKING, Any

from .core import Reply, Request, html_reply, json_reply, parse_int, retry_after_seconds
from .data import DAY_MS

if TYPE_CHECKING:
    from .server import Sandbox

PATH = "/sapi/v1/accountSnapshot"
TIME_PATH = "/api/v3/time"
PREFIXES = ("/sapi/", "/api/v3/", "/fapi/", "/wapi/")
TYPES = ("SPOT", "MARGIN", "FUTURES")
_lock = threading.Lock()


def sign_hex(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), "sha256").hexdigest()


def _err(status: int, code: int, msg: str, headers: list[tuple[str, str]], **kw: Any) -> Reply:
    return json_reply(status, {"code": code, "msg": msg}, headers, **kw)


def _weight_state(sb: Sandbox) -> dict[str, Any]:
    return sb.state.setdefault("binance", {"wid": None, "used": 0, "tripped": False, "ban_until": 0.0,
                                           "api_wid": None, "api_used": 0})


def _used_header(sb: Sandbox) -> list[tuple[str, str]]:
    return [("X-SAPI-USED-IP-WEIGHT-1M", str(_weight_state(sb)["used"]))]


def limited(sb: Sandbox, req: Request, retry_after: float = 1) -> Reply:
    spec = sb.limits["binance"]
    return _err(429, -1003, f"Too many requests; current limit of IP(127.0.0.1) is {spec['budget']} requests per "
                "minute. Please use the websocket for live updates to avoid polling the API.",
                _used_header(sb) + [("Retry-After", retry_after_seconds(retry_after))], rate_limited=True)


def banned(sb: Sandbox, req: Request, retry_after: float = 120) -> Reply:
    until = int((time.time() + retry_after) * 1000)
    return _err(418, -1003, f"Way too many requests; IP(127.0.0.1) banned until {until}. Please use the "
                "websocket for live updates to avoid bans.",
                _used_header(sb) + [("Retry-After", retry_after_seconds(retry_after))], rate_limited=True)


def refused(sb: Sandbox, req: Request) -> Reply:
    """The ``refused`` fault: the answer to an unknown key."""
    return _err(401, -2015, "Invalid API-key, IP, or permissions for action.", [])


def not_found(sb: Sandbox, req: Request) -> Reply:
    return html_reply(404)


def server_error(status: int) -> Reply:
    return json_reply(status, {"code": -1001, "msg": "Internal error; unable to process your request. "
                                                     "Please try again."})


def _charge(sb: Sandbox, req: Request) -> Reply | None:
    """Apply the IP weight budget; return the 429/418 reply when the call is refused."""
    spec = sb.limits["binance"]
    window, weight, budget = float(spec["window"]), int(spec["weight"]), int(spec["budget"])  # float-ok: seconds
    now = sb.calendar_seconds()
    wid = math.floor(now / window)
    with _lock:
        st = _weight_state(sb)
        if st["wid"] != wid:
            st.update(wid=wid, used=0, tripped=False)
        if not sb.rate_limits:
            st["used"] += weight
            return None
        if st["ban_until"] > now:
            wait = st["ban_until"] - now
        elif st["used"] + weight > budget:
            if not st["tripped"]:
                st["tripped"] = True
                wait = (wid + 1) * window - now
                return limited(sb, req, wait)
            st["ban_until"] = now + float(spec["ban"])  # float-ok: seconds
            wait = float(spec["ban"])  # float-ok: seconds
        else:
            st["used"] += weight
            return None
    return banned(sb, req, wait)


def server_time(sb: Sandbox, req: Request) -> Reply:
    window = float(sb.limits["binance"]["window"])  # float-ok: seconds
    wid = math.floor(sb.calendar_seconds() / window)
    with _lock:
        st = _weight_state(sb)
        if st["api_wid"] != wid:
            st.update(api_wid=wid, api_used=0)
        st["api_used"] += 1
        used = st["api_used"]
    if req.method != "GET":
        return not_found(sb, req)
    return json_reply(200, {"serverTime": sb.now_ms()}, [("X-MBX-USED-WEIGHT-1M", str(used))])


def account_snapshot(sb: Sandbox, req: Request) -> Reply:
    if req.method != "GET":
        return not_found(sb, req)
    refused = _charge(sb, req)
    if refused is not None:
        return refused
    hdr = _used_header(sb)

    def err(status: int, code: int, msg: str) -> Reply:
        return _err(status, code, msg, hdr)

    api_key = req.header("X-MBX-APIKEY")
    if not api_key:
        return err(401, -2014, "API-key format invalid.")
    if api_key not in sb.accounts:
        return err(401, -2015, "Invalid API-key, IP, or permissions for action.")

    def mandatory(name: str) -> Reply:
        return err(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")

    def illegal(name: str) -> Reply:
        return err(400, -1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.")

    ints: dict[str, int | None] = {}
    for name in ("timestamp", "recvWindow", "startTime", "endTime", "limit"):
        text = req.param(name)
        if text is None:
            ints[name] = None
            continue
        value = parse_int(text)
        if value is None or value < 0:
            return mandatory(name) if name == "timestamp" else illegal(name)
        ints[name] = value
    ts = ints["timestamp"]
    if ts is None:
        return mandatory("timestamp")
    recv_window = ints["recvWindow"] if ints["recvWindow"] is not None else 5000
    if recv_window > 60000:
        return err(400, -1131, "recvWindow must be less than 60000.")
    now = req.now_ms
    if ts >= now + 1000:
        return err(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")
    if now - ts > recv_window:
        return err(400, -1021, "Timestamp for this request is outside of the recvWindow.")
    parts = req.raw_query.split("&") if req.raw_query else []
    signatures = [p.split("=", 1)[1] for p in parts if p.startswith("signature=")]
    if not signatures or not signatures[-1]:
        return mandatory("signature")
    payload = "&".join(p for p in parts if not p.startswith("signature="))
    expected = sign_hex(sb.accounts[api_key], payload)
    if not hmac.compare_digest(signatures[-1].lower(), expected):
        return err(400, -1022, "Signature for this request is not valid.")
    if api_key in sb.limited_keys:
        return err(401, -2015, "Invalid API-key, IP, or permissions for action.")

    kind = req.param("type")
    if not kind:
        return mandatory("type")
    if kind not in TYPES:
        return err(400, -3026, "request param 'type' wrong, shoud be in ('SPOT', 'MARGIN', 'FUTURES')")
    limit = ints["limit"] if ints["limit"] is not None else 7
    if not 7 <= limit <= 30:
        return err(400, -1130, "Data sent for parameter 'limit' is not valid.")
    start, end = ints["startTime"], ints["endTime"]
    if start is not None and start < now - 30 * DAY_MS:
        return err(400, -1130, "Data sent for parameter 'startTime' is not valid: only the last month "
                               "can be queried.")
    if start is not None and end is not None:
        if start > end:
            return err(400, -1128, "Combination of optional parameters invalid.")
        if end - start >= 30 * DAY_MS:
            return err(400, -1127, "Lookup interval is too big.")
    lo = start if start is not None else ((end if end is not None else now) - 7 * DAY_MS)
    hi = end if end is not None else now
    vos = [vo for vo in sb.data.snapshot_vos(kind.lower(), now) if lo <= vo["updateTime"] <= hi]
    vos = vos[:limit] if start is not None else vos[-limit:]
    return json_reply(200, {"code": 200, "msg": "", "snapshotVos": vos}, hdr)


def ping(sb: Sandbox, req: Request) -> Reply:
    """``GET /api/v3/ping``: ``{}`` (python-binance's constructor calls it)."""
    return json_reply(200, {})


ROUTES = {PATH: account_snapshot, TIME_PATH: server_time, "/api/v3/ping": ping}
