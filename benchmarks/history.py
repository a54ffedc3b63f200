"""The history's scale targets (issue 16), measured: ``.venv/bin/python benchmarks/history.py [--runs N]``.

1. Recording a 100,000-customer broker run: the same ``balcli broker -o ndjson`` with and without ``--record``
   against the sandbox (its own process, rate limits off, balcli's limiter raised to 1000/s so that the fetch is as
   fast as this machine allows), interleaved; the difference is set against the run's wall time at the API's rate
   (Zoomex: 5 requests a second, 50 customers a page). Target: under 5 %.
2. ``balcli diff broker`` of two 200,000-row runs (10 % changed, 1 % gone, 1 % new). Target: under 2 s.
3. ``balcli history runs`` on a year of nightly runs (365 nights x 6 commands, the broker runs with 620 rows each).
   Target: instant (under 0.5 s, start-up included; shown beside the start-up of ``balcli history path``).
4. The file's size per stored row (for the README).

Every command runs as the installed ``balcli`` script in a clean environment (temporary HOME, demo credentials in
``BALCLI_*`` variables). ``run.py`` may call ``measure(runs)``, which returns ``(name, figure, target, ok)`` rows.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable
SCRIPT = Path(PY).parent / "balcli"
BALCLI = [str(SCRIPT)] if SCRIPT.exists() else [PY, "-m", "balcli"]

sys.path.insert(0, str(ROOT))
from balcli import history
from balcli.sandbox.credentials import DEMO_CREDENTIALS

ZOOMEX_RATE, ZOOMEX_PAGE = 5.0, 50  # requests a second, customers a page (docs/apis/zoomex.md)


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BALCLI_") and k not in ("NO_COLOR",)}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / "config"), XDG_DATA_HOME=str(home / "data"),
               XDG_CACHE_HOME=str(home / "cache"), NO_PROXY="127.0.0.1,localhost",
               PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    for exchange, fields in DEMO_CREDENTIALS.items():
        for name, value in fields.items():
            env[f"BALCLI_{exchange.upper()}_{name.upper()}"] = value
    env.update(extra)
    return env


def timed(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run([*BALCLI, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"balcli {' '.join(args)} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return elapsed


# -- 1. recording overhead -------------------------------------------------------------------------------------

def recording_overhead(runs: int, customers: int = 100_000) -> list[tuple[str, str, str, bool | None]]:
    sandbox = subprocess.Popen([PY, str(HERE / "sandbox_proc.py"), "--customers", str(customers), "--no-rate-limits"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        base_url = json.loads(sandbox.stdout.readline())["base_url"]
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp)
            (home / "config" / "balcli").mkdir(parents=True)
            (home / "config" / "balcli" / "config.yaml").write_text(
                "profiles:\n  default:\n    zoomex: {rate_limit: 1000}\n")
            env = clean_env(home, BALCLI_ZOOMEX_BASE_URL=base_url)
            plain, recorded = [], []
            for _ in range(runs):
                plain.append(timed(["broker", "-o", "ndjson"], env))
                recorded.append(timed(["broker", "-o", "ndjson", "--record"], env))
            db = home / "data" / "balcli" / history.FILE_NAME
            with history.Store.open(db) as store:
                rows = store.runs()[-1].row_count
            size = db.stat().st_size
    finally:
        sandbox.stdin.write('{"cmd": "quit"}\n')
        sandbox.stdin.flush()
        sandbox.wait(30)
    base, rec = statistics.median(plain), statistics.median(recorded)
    overhead = rec - base
    at_rate = customers / ZOOMEX_PAGE / ZOOMEX_RATE
    share = overhead / at_rate * 100
    return [
        (f"broker {customers:,} customers ({rows:,} rows), unthrottled", f"{base:.1f} s plain, {rec:.1f} s --record",
         "", None),
        ("--record overhead vs the run at the API's 5 req/s", f"+{overhead:.1f} s of {at_rate:.0f} s = {share:.1f} %",
         "< 5 %", share < 5),
        ("history file per stored row (100k-customer runs)", f"{size / (rows * runs):.0f} bytes", "", None),
    ]


# -- 2. diff of two 200k-row runs -------------------------------------------------------------------------------

def fill(store: history.Store, rows: int, *, variant: int, started_at: str | None = None,
         command: str = "broker") -> int:
    rec = history.Recorder(store, command=command, profile="default", options={})
    if started_at:
        rec.started_at = started_at
    rec.begin(command)
    page: list[dict] = []
    for i in range(rows + (rows // 100 if variant else 0)):
        if variant and i % 100 == 3:
            continue  # gone (and new ones at the end)
        amount = f"{i * 7 % 100000}.{i % 97:08d}"
        if variant and i % 10 == 1:
            amount = f"{i * 7 % 100000 + 10}.{i % 97:08d}"  # changed
        page.append({"user_id": str(100_000_000 + i // 2), "coin": ("USDT", "BTC")[i % 2], "total_balance": amount})
        if len(page) == 5000:
            rec.add(page)
            page = []
    rec.add(page)
    return rec.finish("complete")


def diff_speed(runs: int, rows: int = 200_000) -> list[tuple[str, str, str, bool | None]]:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        db = home / "history.sqlite3"
        with history.Store.open(db) as store:
            fill(store, rows, variant=0)
            fill(store, rows, variant=1)
            start = time.perf_counter()
            result = history.compare(store, 1, 2)
            inproc = time.perf_counter() - start
        size = db.stat().st_size
        env = clean_env(home, BALCLI_HISTORY_DB=str(db))
        wall = statistics.median(timed(["diff", "broker", "-o", "ndjson"], env) for _ in range(runs))
        table = statistics.median(timed(["diff", "broker", "--min-change", "5", "-o", "table"], env)
                                  for _ in range(runs))
    counts = result.counts
    return [
        (f"diff broker, two {rows:,}-row runs -o ndjson",
         f"{wall:.2f} s ({counts['changed']:,} changed, {counts['new']:,} new, {counts['gone']:,} gone; "
         f"compare {inproc:.2f} s)", "< 2 s", wall < 2),
        ("diff broker --min-change 5 -o table, same runs", f"{table:.2f} s", "< 2 s", table < 2),
        ("history file per stored row (200k-row runs)", f"{size / (2 * rows):.0f} bytes", "", None),
    ]


# -- 3. history runs on a year of nightly runs ---------------------------------------------------------------------

def year_of_runs(runs: int) -> list[tuple[str, str, str, bool | None]]:
    from datetime import datetime, timedelta, timezone

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        db = home / "history.sqlite3"
        first = datetime.now(timezone.utc) - timedelta(days=365)
        stored = 0
        with history.Store.open(db) as store:
            for night in range(365):
                when = first + timedelta(days=night, hours=3)
                fill(store, 620, variant=night % 2, started_at=history.iso(when))
                stored += 620
                for command in ("spot", "spot-complete", "snapshot-spot", "invitees", "oauth-balances"):
                    rec = history.Recorder(store, command=command, profile="default", options={})
                    rec.started_at = history.iso(when + timedelta(minutes=5))
                    rec.begin(command)
                    rec.add([{"coin": "USDT", "balance": "1.5", "total": "1.5"}] * 12)
                    rec.finish("complete")
                    stored += 12
        size = db.stat().st_size
        env = clean_env(home, BALCLI_HISTORY_DB=str(db))
        n = max(runs, 3)
        startup = statistics.median(timed(["history", "path"], env) for _ in range(n))  # same imports, no query
        everything = statistics.median(timed(["history", "runs", "-o", "tsv"], env) for _ in range(n))
        month = statistics.median(timed(["history", "runs", "--view", "broker", "--since", "30d", "-o", "table"], env)
                                  for _ in range(n))
    return [
        ("start-up: balcli history path (no query)", f"{startup:.2f} s", "", None),
        ("history runs, a year of nightly runs (2,190 runs) -o tsv",
         f"{everything:.2f} s (+{everything - startup:.2f} s over start-up)", "< 0.5 s", everything < 0.5),
        ("history runs --view broker --since 30d -o table", f"{month:.2f} s (+{month - startup:.2f} s)", "< 0.5 s",
         month < 0.5),
        (f"history file for that year ({stored:,} rows)", f"{size / 1e6:.1f} MB, {size / stored:.0f} bytes a row", "",
         None),
    ]


def measure(runs: int = 2, customers: int = 100_000) -> list[tuple[str, str, str, bool | None]]:
    return [*year_of_runs(runs), *diff_speed(runs), *recording_overhead(runs, customers)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2, help="runs of each timed command (median; default 2)")
    parser.add_argument("--customers", type=int, default=100_000, help="broker customers for the recording run")
    args = parser.parse_args(argv)
    rows = measure(args.runs, args.customers)
    width = max(len(r[0]) for r in rows)
    for name, figure, target, ok in rows:
        mark = "" if ok is None else ("pass" if ok else "FAIL")
        print(f"{name.ljust(width)}  {figure}  {target}  {mark}".rstrip())
    return 0 if all(ok is not False for *_, ok in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
