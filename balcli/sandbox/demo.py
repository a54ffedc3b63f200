"""``make demo``: run every implemented balcli source against the embedded sandbox so a person sees real tables.

Each command runs as its own process (``python -m balcli --sandbox …``): the real code path, end to end, and the
sandbox package still imports nothing from the client.
"""

from __future__ import annotations

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
]


def main() -> int:
    failures = 0
    for args in COMMANDS:
        print(f"\n$ balcli --sandbox {' '.join(args)}", flush=True)
        result = subprocess.run([sys.executable, "-m", "balcli", "--sandbox", *args, "-o", "table"], check=False)
        if result.returncode != 0:
            failures += 1
            print(f"(exit code {result.returncode})", flush=True)
    print("\nAll of this came from the embedded sandbox on 127.0.0.1 with demo credentials. "
          "Run `balcli sandbox serve` to keep one running.", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
