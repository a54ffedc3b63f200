"""balcli's embedded fake exchange: the five APIs of docs/apis/ on one loopback port.

Standard library only. Nothing here imports balcli outside ``balcli.sandbox`` (a test walks the AST to hold that
rule): every signature is verified with this package's own code, written from docs/apis/, so a mistake shared
with the client's signing code cannot pass unseen. Importing the package is cheap: ``Sandbox`` and ``serve``
load the server on first use.

Python API::

    from balcli.sandbox import Sandbox, DEMO_CREDENTIALS

    sb = Sandbox(seed=7, customers=300, invitees=250, history=230, latency_ms=0, error_rate=0.0,
                 rate_limits=True, clock_offset_ms=0, frozen_time_ms=None, token_ttl=3600,
                 port=0, host="127.0.0.1", limits=None, epoch=0, clock=None)
    with sb:                      # or sb.start() ... sb.stop()
        sb.base_url               # "http://127.0.0.1:PORT": one port for all five APIs

Constructor: ``seed`` and the size knobs shape ``sb.data``; ``latency_ms`` delays every answer; ``error_rate``
answers that fraction of requests with HTTP 500; ``rate_limits=False`` turns every limiter off;
``clock_offset_ms`` shifts and ``frozen_time_ms`` fixes the server clock (both are plain attributes that may be
changed while running); ``token_ttl`` is the Cryptofuse access-token lifetime in seconds (fractions allowed);
``epoch`` moves the demo data to "day N" by known amounts (``balcli.sandbox.data``: some balances change, a few
customers and invitees join or leave; ``--sandbox`` runs take it from ``BALCLI_SANDBOX_EPOCH``);
``clock`` (a function returning seconds) drives the rate-limit windows, bans and token lifetimes instead of the
monotonic clock (and of the wall clock for Binance's calendar minute), so that a test steps through a window
instead of sleeping through it; ``limits`` overrides entries of ``DEFAULT_LIMITS`` (merged), e.g.
``{"binance": {"budget": 4800, "window": 1.0}, "zoomex": {"count": 2, "window": 0.3}}``. Entries: ``zoomex``
(5 / 1 s per key), ``zoomex_ip`` (600 / 5 s -> HTTP 403 and a ``ban`` of 600 s), ``coinw_spot`` (returnBalances
3 / 1 s per key), ``coinw_spot_complete`` (5 / 2 s per key), ``coinw_affiliate`` (5 / 1 s per key), ``cryptofuse``
(100 / 60 s per token owner): ``{"count", "window"}``, rolling windows (a request is refused when the requests
accepted in the last ``window`` seconds already number ``count``); ``binance``: ``{"weight": 2400, "budget": 12000,
"window": 60.0, "ban": 120.0}``, calendar windows.

Attributes and methods:

- ``requests``: list of ``LoggedRequest(method, path, query, headers, body, status, api, time, connection,
  rate_limited, fault)``; ``query`` is the decoded pairs in wire order, ``status`` 0 for a dropped connection,
  ``api`` one of ``"zoomex" "coinw_spot" "binance" "coinw_affiliate" "cryptofuse"`` (or ``"unknown"``),
  ``fault`` the comma-joined names of the faults applied. ``clear_log()``; ``count(api=, status=,
  rate_limited=)``.
- ``connections``: TCP connections accepted so far; ``nodelay``: TCP_NODELAY read back from each of them.
- ``data``: the demo data (``balcli.sandbox.data.DemoData``: ``broker``, ``spot``, ``spot_complete``,
  ``invitees`` + ``invitee_row()``, ``oauth_account``, ``oauth_sub_accounts``, ``oauth_statistics``,
  ``history``, ``snapshot()``, ``snapshot_vos()``; ``prepare()`` generates all of it up front, which
  benchmarks should call before timing).
- ``accounts``: key -> secret, shared by the HMAC APIs, plus Cryptofuse client id -> secret (add entries freely);
  ``limited_keys``: keys that authenticate but lack endpoint permission; ``client_scopes``: client id -> the
  scopes it may get (default ``{"read", "write"}``); ``static_tokens``: bearer token -> scope string.
- ``now_ms()``: the server clock. ``expire_tokens()``: expire every issued Cryptofuse token.
- ``inject(fault, api=None, times=None, **options)`` / ``clear_faults()``: ``api=None`` hits every API,
  ``times=None`` lasts until cleared; a fault counts down only when it is applied. Faults and options:

  ``latency`` (``ms``=100), ``timeout`` (``seconds``=30: sleep, then answer), ``drop`` (close the connection
  unanswered), ``error_rate`` (``rate``=0.5 of HTTP 500, ``html``), ``http_error`` (``status``=500, ``html``=False:
  ``True`` gives an nginx HTML page), ``rate_limit`` (the API's own limit answer, ``retry_after``=1 where it sends
  Retry-After), ``ban`` (Zoomex HTTP 403, Binance 418 + Retry-After, CoinW HTTP 403 page, Cryptofuse 429;
  ``retry_after``), ``invalid_json`` (a 200 body cut in half), ``missing_field`` (``field``="a.b.c", ``*`` walks a
  list: the field is removed from a 200 JSON body), ``cursor_cycle`` (Zoomex: a cursor page's ``next_cursor``
  is the cursor just used), ``repeat_page`` (affiliate pageNo > 1 / Cryptofuse offset > 0 answer the previous
  page), ``short_total`` (an empty list while ``total`` says rows remain), ``unreachable_total`` (``total`` +
  ``extra``=10), ``total_changes`` (``total`` + ``delta``=1), ``empty_spot`` (``shape`` = ``"{}"``, ``"null"``,
  ``"missing"``, ``'""'`` or ``"empty_body"``), ``refused`` (the API's own answer to an unknown key or token:
  balcli exits 4). With ``api=`` each fault makes one source fail on its own (``balcli summary`` then shows a
  partial summary and ``balcli check`` an unknown rule): ``refused``, ``http_error`` (persistent 5xx) and
  ``rate_limit`` (retries exhausted) are the three ways a source fails.

Error codes for cases the exchanges do not document are chosen and explained in each API module's docstring:
``zoomex``, ``coinw_spot``, ``binance``, ``coinw_affiliate`` (6002 "timestamp expired"), ``cryptofuse``.

Standalone: ``python -m balcli.sandbox [--port N] [--customers N] [--invitees N] [--latency-ms N]
[--error-rate F] [--seed N] [--no-rate-limits] [--epoch N]`` or ``serve(port=0, customers=300, ..., out=sys.stdout)``.
"""

from __future__ import annotations

from typing import Any

from .credentials import (
    DEMO_CREDENTIALS,
    DEMO_STATIC_TOKEN,
    LIMITED_CLIENT,
    LIMITED_CREDENTIALS,
    VECTOR_CREDENTIALS,
)

__all__ = [
    "DEFAULT_LIMITS",
    "DEMO_CREDENTIALS",
    "DEMO_STATIC_TOKEN",
    "FAULTS",
    "LIMITED_CLIENT",
    "LIMITED_CREDENTIALS",
    "VECTOR_CREDENTIALS",
    "LoggedRequest",
    "Sandbox",
    "serve",
]

_LAZY = {"Sandbox": "server", "DEFAULT_LIMITS": "server", "FAULTS": "server", "LoggedRequest": "core",
         "serve": "standalone"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f"{__name__}.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
