"""``make demo``: run every implemented balcli source against the embedded sandbox so a person sees real tables.

Each command runs as its own process (``python -m balcli --sandbox …``): the real code path, end to end, and the
sandbox package still imports nothing from the client. Then ``summary``, ``summary --by coin`` and a ``check``
that breaches; and, against a sandbox started here with one source failing (its ``refused`` fault on Binance),
the partial summary and the ``unknown`` rule that follow.
"""

from __future__ import annotations

import os
import subprocess
import sys

COMMANDS: list[list[str]] = [
    ["broker", "--max-items", "12"],
    ["broker", "--total"],
    ["spot"],
    ["spot", "--complete"],
    ["snapshot", "--type", "spot", "--limit", "7"],
    ["snapshot", "--type", "futures", "--positions"],
    ["invitees", "--max-items", "10"],
    ["oauth", "balances"],
    ["oauth", "history", "--max-items", "10"],
    ["summary"],
    ["summary", "--by", "coin"],
    ["check", "spot:USDT>=500", "own:BTC>=1", "customers:USDT<5000000"],
    ["check", "--nagios", "spot:USDT>=500", "own:BTC>=1", "customers:USDT<5000000"],
    ["doctor"],  # every check against the sandbox: what an operator runs first when a job fails
]

# With one source failing: the summary is partial (exit 4, never 0) and its rules are unknown.
FAILING: list[list[str]] = [
    ["summary", "--by", "coin", "--coin", "BTC"],
    ["check", "spot:USDT>=500", "snapshot.spot:BTC>=1"],
]


def _failing_source() -> int:
    from .credentials import DEMO_CREDENTIALS
    from .server import Sandbox

    failures = 0
    with Sandbox() as sb:
        sb.inject("refused", api="binance")
        env = dict(os.environ)
        for name, fields in DEMO_CREDENTIALS.items():
            env[f"BALCLI_{name.upper()}_BASE_URL"] = sb.base_url
            env.update({f"BALCLI_{name.upper()}_{field.upper()}": value for field, value in fields.items()})
        print("\nNow with Binance refusing the credentials (the sandbox's `refused` fault on one API):", flush=True)
        for args in FAILING:
            print(f"\n$ balcli {' '.join(args)}", flush=True)
            result = subprocess.run([sys.executable, "-m", "balcli", *args, "-o", "table"], env=env, check=False)
            print(f"(exit code {result.returncode})", flush=True)
            failures += result.returncode == 0  # a partial summary must never exit 0
    return failures


def main() -> int:
    failures = 0
    for args in COMMANDS:
        print(f"\n$ balcli --sandbox {' '.join(args)}", flush=True)
        result = subprocess.run([sys.executable, "-m", "balcli", "--sandbox", *args,
                                 *([] if "--nagios" in args else ["-o", "table"])], check=False)
        if args[0] == "check":  # these rules breach: exit 8 (--nagios: 2 CRITICAL) is the point
            print(f"(exit code {result.returncode}: a rule breached)", flush=True)
            failures += result.returncode not in (2, 8)
        elif result.returncode != 0:
            failures += 1
            print(f"(exit code {result.returncode})", flush=True)
    failures += _failing_source()
    print("\nAll of this came from the embedded sandbox on 127.0.0.1 with demo credentials. "
          "Run `balcli sandbox serve` to keep one running.", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
