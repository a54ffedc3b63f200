"""``make demo``: run every implemented balcli source against the embedded sandbox so a person sees real tables.

Each command runs as its own process (``python -m balcli --sandbox …``): the real code path, end to end, and the
sandbox package still imports nothing from the client. Then ``summary``, ``summary --by coin`` and a ``check``
that breaches; and, against a sandbox started here with one source failing (its ``refused`` fault on Binance),
the partial summary and the ``unknown`` rule that follow.

Then the history: ``--record`` runs at sandbox epochs 0, 1 and 2 (``BALCLI_SANDBOX_EPOCH``: the demo data moves
by known amounts) into a temporary history file, and ``balcli diff`` and ``balcli history trend`` show what moved.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

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


# (epoch, command line) recorded into the temporary history, then what is shown from it.
RECORDED: list[tuple[int, list[str]]] = [
    (0, ["--sandbox", "broker", "--record", "-o", "tsv"]),
    (0, ["--sandbox", "spot", "--complete", "--record", "-o", "tsv"]),
    (1, ["--sandbox", "broker", "--record", "-o", "tsv"]),
    (1, ["--sandbox", "spot", "--complete", "--record", "-o", "tsv"]),
    (2, ["--sandbox", "spot", "--complete", "--record", "-o", "tsv"]),
]
FROM_HISTORY: list[list[str]] = [
    ["history", "runs", "--fields", "id,started_at,command,view,status,rows,options"],
    ["diff", "broker", "--min-change", "100"],
    ["diff", "broker", "--coin", "USDT"],
    ["history", "trend", "spot-complete", "--coin", "USDT"],
]


def _balcli(args: list[str], env: dict[str, str] | None = None, quiet: bool = False) -> int:
    result = subprocess.run([sys.executable, "-m", "balcli", *args], check=False, env=env,
                            stdout=subprocess.DEVNULL if quiet else None)
    if result.returncode != 0:
        print(f"(exit code {result.returncode})", flush=True)
    return result.returncode


def history_demo() -> int:
    failures = 0
    with tempfile.TemporaryDirectory(prefix="balcli-demo-") as tmp:
        env = {**os.environ, "BALCLI_HISTORY_DB": os.path.join(tmp, "history.sqlite3")}
        print(f"\n# The history: runs recorded at sandbox epochs 0, 1 and 2 (the demo data moves by known amounts)"
              f"\n# into {env['BALCLI_HISTORY_DB']}", flush=True)
        for epoch, args in RECORDED:
            print(f"$ BALCLI_SANDBOX_EPOCH={epoch} balcli {' '.join(args)} > /dev/null", flush=True)
            failures += _balcli(args, {**env, "BALCLI_SANDBOX_EPOCH": str(epoch)}, quiet=True) != 0
        for args in FROM_HISTORY:
            print(f"\n$ balcli {' '.join(args)}", flush=True)
            failures += _balcli([*args, "-o", "table"], env) != 0
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
    failures += history_demo()
    print("\nAll of this came from the embedded sandbox on 127.0.0.1 with demo credentials. "
          "Run `balcli sandbox serve` to keep one running.", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
