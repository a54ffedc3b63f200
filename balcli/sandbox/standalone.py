"""``serve()``: run the sandbox standalone and tell the user how to point balcli at it."""

from __future__ import annotations

import sys
import threading
from typing import Any, TextIO

from .credentials import DEMO_CREDENTIALS
from .server import Sandbox


def instructions(base_url: str) -> str:
    """The text `serve` prints: env exports and an equivalent config snippet (secrets only in env)."""
    c = DEMO_CREDENTIALS
    lines = [
        f"balcli sandbox listening on {base_url} (all five APIs on this one port)",
        "",
        "# Point balcli at it (sh/bash/zsh):",
        f"export BALCLI_ZOOMEX_BASE_URL={base_url}",
        f"export BALCLI_COINW_BASE_URL={base_url}",
        f"export BALCLI_BINANCE_BASE_URL={base_url}",
        f"export BALCLI_CRYPTOFUSE_BASE_URL={base_url}",
        f"export BALCLI_ZOOMEX_API_KEY={c['zoomex']['api_key']}",
        f"export BALCLI_ZOOMEX_API_SECRET={c['zoomex']['api_secret']}",
        f"export BALCLI_COINW_API_KEY={c['coinw']['api_key']}",
        f"export BALCLI_COINW_API_SECRET={c['coinw']['api_secret']}",
        f"export BALCLI_BINANCE_API_KEY={c['binance']['api_key']}",
        f"export BALCLI_BINANCE_API_SECRET={c['binance']['api_secret']}",
        f"export BALCLI_CRYPTOFUSE_CLIENT_ID={c['cryptofuse']['client_id']}",
        f"export BALCLI_CRYPTOFUSE_CLIENT_SECRET={c['cryptofuse']['client_secret']}",
        "",
        "# Or, in the config file (base URLs only; the demo credentials still come from the exports above):",
        "profiles:",
        "  sandbox:",
        f"    zoomex:     {{base_url: {base_url}}}",
        f"    coinw:      {{base_url: {base_url}}}",
        f"    binance:    {{base_url: {base_url}}}",
        f"    cryptofuse: {{base_url: {base_url}}}",
        "# then: balcli --profile sandbox broker",
        "",
        "Press Ctrl-C to stop.",
    ]
    return "\n".join(lines) + "\n"


def serve(port: int = 0, customers: int = 300, invitees: int = 250, history: int = 230, latency_ms: float = 0,
          error_rate: float = 0.0, seed: int = 7, rate_limits: bool = True, host: str = "127.0.0.1",
          out: TextIO | None = None, block: bool = True, stop: threading.Event | None = None,
          **options: Any) -> Sandbox:
    """Start a sandbox, print its URL and the exports, and serve until Ctrl-C (then stop quietly).

    ``port=0`` picks a free port. ``block=False`` returns the started sandbox at once (the caller stops it);
    ``stop`` (an Event) ends a blocking call without Ctrl-C. Other keyword options go to ``Sandbox``.
    """
    out = out if out is not None else sys.stdout
    sb = Sandbox(seed=seed, customers=customers, invitees=invitees, history=history, latency_ms=latency_ms,
                 error_rate=error_rate, rate_limits=rate_limits, port=port, host=host, **options)
    sb.data.prepare()
    sb.start()
    out.write(instructions(sb.base_url))
    out.flush()
    if not block:
        return sb
    waiter = stop if stop is not None else threading.Event()
    try:
        while not waiter.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sb.stop()
    return sb
