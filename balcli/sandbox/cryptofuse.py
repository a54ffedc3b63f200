"""Cryptofuse (docs/apis/cryptofuse.md): OAuth 2.0 tokens, ``GET /user/balances/``, ``GET /user/balances/history/``.

``POST /o/token/``: client from ``Authorization: Basic base64(id:secret)`` (or ``client_id``/``client_secret``
form fields); form ``grant_type=client_credentials`` and optional ``scope`` (default and maximum ``read write``;
the client of ``LIMITED_CLIENT`` may only have ``read``). Answers (OAuth-toolkit style):
- 200 ``{"access_token", "token_type": "Bearer", "expires_in": ceil(token_ttl), "scope", "issued_at" (ISO-8601)}``
- 401 ``{"error": "invalid_client"}``; 400 ``{"error": "unsupported_grant_type"}`` / ``{"error": "invalid_scope"}``
  / ``{"error": "invalid_request"}``.

Bearer endpoints (``Authorization: Bearer <token>``; access tokens expire ``token_ttl`` seconds after issue on
the monotonic clock; ``DEMO_STATIC_TOKEN`` never expires; ``Sandbox.expire_tokens()`` expires all issued ones):
- 401 ``{"error":{"code":"authentication_failed","message":...,"details":{}}}`` + ``WWW-Authenticate`` for a
  missing, unknown or expired token;
- 403 ``{"error":{"code":"permission_denied",...,"details":{"required_scopes":[...]}}}`` when the token lacks a
  scope (balances: read and write; history: read);
- 429 ``{"error":{"code":"rate_limit_exceeded",...}}`` + ``Retry-After`` over 100 requests per rolling minute
  per token owner (the client id);
- 400 ``{"error":{"code":"validation_error",...,"details":{field: [...]}}}`` for a bad ``limit``/``offset``.

History: ``currency`` and ``type`` filter, ``limit`` default 10 (values over 100 are clamped to 100, as Django
REST framework's LimitOffsetPagination does, and the body's ``limit`` says so), ``offset`` default 0; newest
first; ``{"history":[...],"total":N,"limit":L,"offset":O}``.
A path without its trailing slash answers 301 to the slash form (query kept). Faults ``repeat_page`` (offset > 0
answers the previous page), ``short_total``, ``unreachable_total`` (``extra``), ``total_changes`` (``delta``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import threading
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote_plus

from .core import Reply, Request, html_reply, json_reply, paging_faults, parse_int, retry_after_seconds

if TYPE_CHECKING:
    from .server import Sandbox

TOKEN_PATH = "/o/token/"
BALANCES_PATH = "/user/balances/"
HISTORY_PATH = "/user/balances/history/"
PREFIXES = ("/o/", "/user/")
_lock = threading.Lock()


def _error(status: int, code: str, message: str, details: dict[str, Any] | None = None,
           headers: list[tuple[str, str]] | None = None, **kw: Any) -> Reply:
    return json_reply(status, {"error": {"code": code, "message": message, "details": details or {}}}, headers, **kw)


def limited(sb: Sandbox, req: Request, retry_after: float = 1) -> Reply:
    wait = retry_after_seconds(retry_after)
    return _error(429, "rate_limit_exceeded", f"Request was throttled. Expected available in {wait} seconds.",
                  headers=[("Retry-After", wait)], rate_limited=True)


def banned(sb: Sandbox, req: Request, retry_after: float = 3600) -> Reply:
    return limited(sb, req, retry_after)


def refused(sb: Sandbox, req: Request) -> Reply:
    """The ``refused`` fault: the token endpoint refuses the client; the API refuses the token."""
    if req.path == TOKEN_PATH:
        return json_reply(401, {"error": "invalid_client"}, [("WWW-Authenticate", 'Basic realm="api"')])
    return _error(401, "authentication_failed", "Invalid or missing authentication token",
                  headers=[("WWW-Authenticate", 'Bearer realm="api"')])


def not_found(sb: Sandbox, req: Request) -> Reply:
    return json_reply(404, {"detail": "Not found."})


def server_error(status: int) -> Reply:
    return _error(status, "server_error", "A server error occurred.")


def _tokens(sb: Sandbox) -> dict[str, dict[str, Any]]:
    return sb.state.setdefault("cryptofuse_tokens", {})


def issue_token(sb: Sandbox, req: Request) -> Reply:
    if req.method != "POST":
        return json_reply(405, {"detail": f'Method "{req.method}" not allowed.'})
    form = dict(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
    client_id = client_secret = None
    auth = req.header("Authorization") or ""
    if auth[:6].lower() == "basic ":
        try:
            client_id, _, client_secret = base64.b64decode(auth[6:].strip(), validate=True).decode().partition(":")
            # RFC 6749 §2.3.1: the id and secret are form-url-encoded before the Basic encoding
            client_id, client_secret = unquote_plus(client_id), unquote_plus(client_secret)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            client_id = None
    elif "client_id" in form:
        client_id, client_secret = form.get("client_id"), form.get("client_secret", "")
    known = sb.accounts.get(client_id or "")
    if known is None or not hmac.compare_digest(known, client_secret or ""):
        return json_reply(401, {"error": "invalid_client"}, [("WWW-Authenticate", 'Basic realm="api"')])
    grant = form.get("grant_type")
    if not grant:
        return json_reply(400, {"error": "invalid_request", "error_description": "Missing grant type."})
    if grant != "client_credentials":
        return json_reply(400, {"error": "unsupported_grant_type"})
    allowed = sb.client_scopes.get(client_id or "", {"read", "write"})
    requested = form.get("scope", "").split() or sorted(allowed, reverse=True)
    if not set(requested) <= allowed:
        return json_reply(400, {"error": "invalid_scope"})
    scope = " ".join(requested)
    issued = sb.now_ms()
    with _lock:
        n = sb.state["cryptofuse_issued"] = sb.state.get("cryptofuse_issued", 0) + 1
    token = hashlib.sha256(f"{sb.seed}:{client_id}:{n}:{time.time_ns()}".encode()).hexdigest()[:40]
    with _lock:
        _tokens(sb)[token] = {"owner": client_id, "scopes": set(requested),
                              "expires": sb.limit_seconds() + float(sb.token_ttl)}  # float-ok: seconds
    return json_reply(200, {"access_token": token, "token_type": "Bearer",
                            "expires_in": math.ceil(float(sb.token_ttl)), "scope": scope,  # float-ok: seconds
                            "issued_at": datetime.fromtimestamp(issued / 1000, timezone.utc)
                            .isoformat(timespec="seconds").replace("+00:00", "Z")},
                      [("Cache-Control", "no-store"), ("Pragma", "no-cache")])


def _authorize(sb: Sandbox, req: Request, needed: tuple[str, ...]) -> Reply | str:
    """The token owner, or the 401/403/429 reply."""
    auth = req.header("Authorization") or ""
    token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    hdr = [("WWW-Authenticate", 'Bearer realm="api", error="invalid_token"')]  # RFC 6750 §3
    if token in sb.static_tokens:
        owner, scopes = f"static:{token[:8]}", set(sb.static_tokens[token].split())
    else:
        with _lock:
            info = _tokens(sb).get(token)
        if info is None:
            return _error(401, "authentication_failed", "Invalid or missing authentication token", headers=hdr)
        if sb.limit_seconds() >= info["expires"]:
            return _error(401, "authentication_failed", "Authentication token has expired", headers=hdr)
        owner, scopes = info["owner"], info["scopes"]
    missing = [s for s in needed if s not in scopes]
    if missing:
        return _error(403, "permission_denied", "You do not have permission to perform this action.",
                      {"required_scopes": list(needed)},
                      headers=[("WWW-Authenticate", f'Bearer realm="api", error="insufficient_scope", '
                                                    f'scope="{" ".join(needed)}"')])
    if sb.rate_limits:
        wait = sb.limiter("cryptofuse").acquire(owner)
        if wait is not None:
            return limited(sb, req, wait)
    return owner


def balances(sb: Sandbox, req: Request) -> Reply:
    if req.method != "GET":
        return json_reply(405, {"detail": f'Method "{req.method}" not allowed.'})
    who = _authorize(sb, req, ("read", "write"))
    if isinstance(who, Reply):
        return who
    return json_reply(200, {"account": dict(sb.data.oauth_account), "sub_accounts": dict(sb.data.oauth_sub_accounts),
                            "statistics": dict(sb.data.oauth_statistics)})


def history(sb: Sandbox, req: Request) -> Reply:
    if req.method != "GET":
        return json_reply(405, {"detail": f'Method "{req.method}" not allowed.'})
    who = _authorize(sb, req, ("read",))
    if isinstance(who, Reply):
        return who
    values: dict[str, int] = {}
    for name, default in (("limit", 10), ("offset", 0)):
        text = req.param(name)
        value = default if text in (None, "") else parse_int(text)
        if value is None or value < (1 if name == "limit" else 0):
            return _error(400, "validation_error", "Invalid query parameters.",
                          {name: ["A valid non-negative integer is required."]})
        values[name] = value
    limit, offset = min(values["limit"], 100), values["offset"]
    currency, kind = req.param("currency"), req.param("type")
    rows = [h for h in sb.data.history
            if (not currency or h["currency"] == currency) and (not kind or h["type"] == kind)]
    total = len(rows)
    start = offset
    if offset > 0 and req.take_fault("repeat_page") is not None:
        start = max(0, offset - limit)
    page, total = paging_faults(req, [dict(h) for h in rows[start:start + limit]], total)
    return json_reply(200, {"history": page, "total": total, "limit": limit, "offset": offset})


def _redirect(target: str) -> Any:
    def handler(sb: Sandbox, req: Request) -> Reply:
        location = target + ("?" + req.raw_query if req.raw_query else "")
        reply = html_reply(301)
        reply.body = b""
        reply.headers = [("Location", location), ("Content-Type", "text/html; charset=utf-8")]
        return reply
    return handler


ROUTES = {TOKEN_PATH: issue_token, BALANCES_PATH: balances, HISTORY_PATH: history,
          "/o/token": _redirect(TOKEN_PATH), "/user/balances": _redirect(BALANCES_PATH),
          "/user/balances/history": _redirect(HISTORY_PATH)}
