"""``serve()``: run the sandbox standalone and tell the user how to point balcli at it."""

from __future__ import annotations

import sys
import threading
from typing import Any, TextIO

from .credentials import DEMO_CREDENTIALS
from .server import Sandbox


def instructions(base_url: str) -> str:
    """The text `serve` prints: env exports and an equivalent config snippet (secrets only in env)."""
    names = list(DEMO_CREDENTIALS)
    width = max(len(name) for name in names) + 1
    lines = [
        f"balcli sandbox listening on {base_url} (all five APIs on this one port)",
        "",
        "# Point balcli at it (sh/bash/zsh):",
        *(f"export BALCLI_{name.upper()}_BASE_URL={base_url}" for name in names),
        *(f"export BALCLI_{name.upper()}_{field.upper()}={value}"
          for name in names for field, value in DEMO_CREDENTIALS[name].items()),
        "",
        "# Or, in the config file (base URLs only; the demo credentials still come from the exports above):",
        "profiles:",
        "  sandbox:",
        *(f"    {(name + ':').ljust(width)} {{base_url: {base_url}}}" for name in names),
        "# then: balcli --profile sandbox broker",
        "",
        "Press Ctrl-C to stop.",
    ]
    return "\n".join(lines) + "\n"


def serve(port: int = 0, customers: int = 300, invitees: int = 250, history: int = 230, latency_ms: float = 0,
          error_rate: float = 0.0, seed: int = 7, rate_limits: bool = True, host: str = "127.0.0.1", epoch: int = 0,
          out: TextIO | None = None, block: bool = True, stop: threading.Event | None = None,
          **options: Any) -> Sandbox:
    """Start a sandbox, print its URL and the exports, and serve until Ctrl-C (then stop quietly).

    ``port=0`` picks a free port. ``block=False`` returns the started sandbox at once (the caller stops it);
    ``stop`` (an Event) ends a blocking call without Ctrl-C. Other keyword options go to ``Sandbox``.
    """
    out = out if out is not None else sys.stdout
    sb = Sandbox(seed=seed, customers=customers, invitees=invitees, history=history, latency_ms=latency_ms,
                 error_rate=error_rate, rate_limits=rate_limits, port=port, host=host, epoch=epoch, **options)
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
