"""CoinW spot (docs/apis/coinw-spot.md): ``POST /api/v1/private?command=returnBalances``, ``…returnCompleteBalances``.

Verification (per docs/apis/coinw-spot.md#signing): every query parameter but ``command`` and ``sign``, sorted by key,
each written ``k=v&`` with its raw (decoded) value, then ``secret_key=SECRET``; ``sign`` = uppercase hex MD5 of
that. A lowercase sign is rejected. ``api_key`` and ``sign`` must be in the URL query; the body is ignored.

Success: HTTP 200 ``{"code":"200","data":{...},"msg":"SUCCESS","success":true,"failed":false}`` (``code`` is a
string). Errors are HTTP 200 with a **numeric** ``code`` (as CoinW sends them) and
``{"code":N,"msg":"...","data":null,"success":false,"failed":true}``. docs/apis/coinw-spot.md#errors leaves the
auth codes open; the sandbox uses:

- 6000 "authentication error: api_key does not exist": ``api_key`` missing or unknown (CoinW.Net: auth error);
- 1003 "authentication error: sign is invalid": ``sign`` missing or wrong (CoinW.Net: auth error);
- -3 "invalid parameter": unknown or missing ``command``;
- 29001 "API access frequently": rate limit (returnBalances 3 req/s, returnCompleteBalances 5 per 2 s, per key);
- -200 "system error" (JSON body) for injected 5xx without ``html``; HTTP 405 nginx page for a non-POST.

The ``empty_spot`` fault answers a user without assets in a shape of docs/apis/coinw-spot.md#response, option ``shape``:
``"{}"`` (default), ``"null"``, ``"missing"`` (no ``data`` key), ``'""'`` (empty string) or ``"empty_body"``
(HTTP 200 with no body at all).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING, Any

from .core import Reply, Request, html_reply, json_reply

if TYPE_CHECKING:
    from .server import Sandbox

PATH = "/api/v1/private"
PREFIXES = ("/api/v1/",)
COMMANDS = {"returnBalances": "coinw_spot", "returnCompleteBalances": "coinw_spot_complete"}
EMPTY_SHAPES = ("{}", "null", "missing", '""', "empty_body")


def sign_md5(secret: str, params: list[tuple[str, str]]) -> tuple[str, str]:
    """(string to sign, uppercase MD5 hex) per docs/apis/coinw-spot.md#signing; `params` lack `command` and `sign`."""
    text = "".join(f"{k}={v}&" for k, v in sorted(params, key=lambda kv: kv[0])) + f"secret_key={secret}"
    return text, hashlib.md5(text.encode()).hexdigest().upper()


def error(code: int, msg: str, *, key: str = "msg", **kw: Any) -> Reply:
    """CoinW's error envelope; ``key="message"`` for the bodies that use that name (docs/apis/coinw-spot.md)."""
    return json_reply(200, {"code": code, key: msg, "data": None, "success": False, "failed": True}, **kw)


def success(data: Any) -> Reply:
    return json_reply(200, {"code": "200", "data": data, "msg": "SUCCESS", "success": True, "failed": False})


def limited(sb: Sandbox, req: Request, retry_after: float = 1) -> Reply:
    return error(29001, "API access frequently", rate_limited=True)


def banned(sb: Sandbox, req: Request, retry_after: float = 1800) -> Reply:
    reply = html_reply(403)
    reply.rate_limited = True
    return reply


def refused(sb: Sandbox, req: Request) -> Reply:
    """The ``refused`` fault: the answer to an unknown key."""
    return error(6000, "authentication error: api_key does not exist")


def not_found(sb: Sandbox, req: Request) -> Reply:
    return html_reply(404)


def server_error(status: int) -> Reply:
    reply = error(-200, "system error")
    reply.status = status
    return reply


def private(sb: Sandbox, req: Request) -> Reply:
    if req.method != "POST":
        return html_reply(405)
    command = req.param("command")
    if command not in COMMANDS:
        return error(-3, f"invalid parameter: command {command!r} is not supported", key="message")
    api_key = req.param("api_key")
    if not api_key or api_key not in sb.accounts:
        return error(6000, "authentication error: api_key does not exist")
    sign = req.param("sign") or ""
    _, expected = sign_md5(sb.accounts[api_key], [(k, v) for k, v in req.query if k not in ("command", "sign")])
    if not hmac.compare_digest(sign, expected):
        return error(1003, "authentication error: sign is invalid")
    if sb.rate_limits and sb.limiter(COMMANDS[command]).acquire(api_key) is not None:
        return limited(sb, req)
    opts = req.take_fault("empty_spot")
    if opts is not None:
        shape = str(opts.get("shape", "{}"))
        if shape == "empty_body":
            return Reply(200, b"", [("Content-Type", "application/json")])
        body: dict[str, Any] = {"code": "200", "msg": "SUCCESS", "success": True, "failed": False}
        if shape != "missing":
            body["data"] = {"{}": {}, "null": None, '""': ""}[shape]
        return json_reply(200, body)
    if command == "returnBalances":
        return success(dict(sb.data.spot))
    return success({coin: dict(v) for coin, v in sb.data.spot_complete.items()})


ROUTES = {PATH: private}
