"""``make bench``: the measurements of issue 7, as medians of several runs, printed as one table.

Run with the project's venv interpreter (``.venv/bin/python benchmarks/run.py``): every command is started as
the installed ``balcli`` script (its shebang is that interpreter; no shell in between) in a clean environment:
a temporary HOME without a config file, the demo credentials in ``BALCLI_*`` variables (the cron path, so no
keyring), bytecode compiled beforehand. The sandbox runs as its own process on loopback
(``benchmarks/sandbox_proc.py``); request times, rate-limited answers and connections are read from its log.

Ratios are taken against baselines measured in the same run, interleaved round by round, so that a busy
machine slows both sides alike (a ratio is the median of the per-round ratios). ``--rounds N`` sets the
start-up rounds (default 21), ``--runs N`` the runs of each paginated and memory figure (default 3).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable
SCRIPT = Path(PY).parent / "balcli"
BALCLI = [str(SCRIPT)] if SCRIPT.exists() else [PY, "-m", "balcli"]
TAB = {"_BALCLI_COMPLETE": "complete_bash", "COMP_WORDS": "balcli sn", "COMP_CWORD": "1"}

sys.path.insert(0, str(ROOT))
from balcli.sandbox.credentials import DEMO_CREDENTIALS


@dataclass
class Row:
    name: str
    figure: str
    target: str
    ratio: str
    ok: bool | None  # None: for information, no target


ROWS: list[Row] = []


def add(name: str, figure: str, target: str = "", ratio: str = "", ok: bool | None = None) -> None:
    ROWS.append(Row(name, figure, target, ratio, ok))
    mark = "" if ok is None else ("pass" if ok else "FAIL")
    print(f"  {name}: {figure}  {target}  {ratio}  {mark}", file=sys.stderr, flush=True)


# -- processes -----------------------------------------------------------------------------------------------

class SandboxProc:
    """``benchmarks/sandbox_proc.py`` as a child process, questioned over its stdin/stdout."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([PY, str(HERE / "sandbox_proc.py"), *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=base_env())
        self.base_url = json.loads(self.proc.stdout.readline())["base_url"]

    def ask(self, cmd: str, **kw: object) -> dict:
        self.proc.stdin.write(json.dumps({"cmd": cmd, **kw}) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        try:
            self.ask("quit")
        except (OSError, ValueError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BALCLI_", "_BALCLI_", "COMP_")) and k not in ("PYTHONDONTWRITEBYTECODE", "NO_COLOR")}
    return env


def client_env(home: Path, base_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = base_env()
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
    for ex in ("zoomex", "coinw", "binance", "cryptofuse"):
        env[f"BALCLI_{ex.upper()}_BASE_URL"] = base_url
    c = DEMO_CREDENTIALS
    for ex in ("zoomex", "coinw", "binance"):
        env[f"BALCLI_{ex.upper()}_API_KEY"] = c[ex]["api_key"]
        env[f"BALCLI_{ex.upper()}_API_SECRET"] = c[ex]["api_secret"]
    env["BALCLI_CRYPTOFUSE_CLIENT_ID"] = c["cryptofuse"]["client_id"]
    env["BALCLI_CRYPTOFUSE_CLIENT_SECRET"] = c["cryptofuse"]["client_secret"]
    env.update(extra or {})
    return env


def timed(argv: list[str], env: dict[str, str], check: str | None = None) -> float:
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0 or (check is not None and check not in proc.stdout):
        raise SystemExit(f"benchmark command failed ({proc.returncode}): {' '.join(argv)}\n{proc.stderr[-2000:]}")
    return elapsed


def peak_rss_mb(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run to the end with stdout to /dev/null; the child's own peak RSS (wait4) and its wall time."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark command failed ({proc.returncode}): {' '.join(argv)}\n{err[-2000:]}")
    return usage.ru_maxrss / 1024, wall  # ru_maxrss is in KiB on Linux


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


# -- 1. start-up ---------------------------------------------------------------------------------------------

def startup(home: Path, sb: SandboxProc, rounds: int) -> None:
    print("start-up ...", file=sys.stderr, flush=True)
    sb.ask("set", rate_limits=False, latency_ms=0)  # back-to-back one-page runs: the API's limit is not measured here
    env = client_env(home, sb.base_url)
    cases = {
        "pass": ([PY, "-c", "pass"], env, None),
        "requests": ([PY, "-c", "import requests"], env, None),
        "version": ([*BALCLI, "--version"], env, "balcli "),
        "help": ([*BALCLI, "--help"], env, "broker"),
        "tab": (BALCLI, {**env, **TAB}, "snapshot"),
        "broker": ([*BALCLI, "broker", "--json", "--max-items", "50"], env, '"user_id"'),
    }
    samples = measure_rounds(cases, rounds)
    times = {name: statistics.median(values) for name, values in samples.items()}
    add("python -c pass (baseline)", ms(times["pass"]))
    add('python -c "import requests" (baseline)', ms(times["requests"]))
    for name, label, base, limit, strict in [
        ("version", "balcli --version", "pass", 3.0, False),
        ("help", "balcli --help", "requests", 1.0, True),
        ("tab", "TAB completion (balcli sn<TAB>)", "requests", 1.0, True),
        ("broker", "broker --json, one page (running sandbox)", "requests", 1.5, False),
    ]:
        r = ratio(samples[name], samples[base])
        target = ("< import requests" if strict else
                  f"<= {limit:g}x " + ("python -c pass" if base == "pass" else "import requests"))
        add(label, ms(times[name]), target, f"{r:.2f}x", r < limit if strict else r <= limit)
    sb.ask("set", rate_limits=True)


def measure_rounds(cases: dict[str, tuple[list[str], dict[str, str], str | None]],
                   rounds: int) -> dict[str, list[float]]:
    """Every case once per round, interleaved; the samples of each (seconds, in round order)."""
    for argv, env, check in cases.values():  # warm-up (page cache, bytecode) and a check of the output
        timed(argv, env, check)
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, (argv, env, _check) in cases.items():
            samples[name].append(timed(argv, env))
    return samples


def ratio(subject: list[float], base: list[float]) -> float:
    """The median of the per-round ratios: each pair ran back to back, so a busy moment slows both."""
    return statistics.median(s / b for s, b in zip(subject, base))


def regular_install(tmp: Path, rounds: int) -> None:
    """The same start-up figures from a regular (non-editable) install: no editable-finder import hook in site."""
    print("start-up, regular install ...", file=sys.stderr, flush=True)
    venv = tmp / "regular"
    subprocess.run([PY, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    shutil.copytree(ROOT / "balcli", site / "balcli", ignore=shutil.ignore_patterns("__pycache__"))
    compileall.compile_dir(str(site / "balcli"), quiet=1)
    # The dependencies stay where they are: a plain path entry (no .pth processing there, so no editable hook).
    (site / "balcli-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    script = venv / "bin" / "balcli"
    script.write_text(f"#!{py}\nimport sys\nfrom balcli.cli import main\nif __name__ == '__main__':\n"
                      "    sys.exit(main())\n")
    script.chmod(0o755)
    env = client_env(tmp / "home", "http://127.0.0.1:9")
    cases = {
        "pass": ([str(py), "-c", "pass"], env, None),
        "requests": ([str(py), "-c", "import requests"], env, None),
        "version": ([str(script), "--version"], env, "balcli "),
        "help": ([str(script), "--help"], env, "broker"),
        "tab": ([str(script)], {**env, **TAB}, "snapshot"),
    }
    samples = measure_rounds(cases, max(5, rounds // 2))
    times = {name: statistics.median(values) for name, values in samples.items()}
    add("regular install: python -c pass / import requests", f"{ms(times['pass'])} / {ms(times['requests'])}")
    add("regular install: --version / --help / TAB",
        f"{ms(times['version'])} / {ms(times['help'])} / {ms(times['tab'])}", "(information)",
        f"{ratio(samples['version'], samples['pass']):.2f}x pass, "
        f"{ratio(samples['help'], samples['requests']):.2f}x / {ratio(samples['tab'], samples['requests']):.2f}x "
        "requests")


# -- 2. and 3. rate-limit saturation and latency hiding --------------------------------------------------------

def paged_runs(sb: SandboxProc, argv: list[str], env: dict[str, str], path: str, runs: int,
               pause: float) -> dict[str, float]:
    """Run ``argv`` ``runs`` times; from the sandbox's log: the span between the first and the last request to
    ``path`` (median), the pages, the rate-limited answers (all runs) and the connections (most in one run)."""
    spans, pages, limited, conns = [], set(), 0, 0
    for _ in range(runs):
        time.sleep(pause)  # the sandbox's rolling windows forget the previous run
        sb.ask("mark")
        timed(argv, env)
        log = sb.ask("log")["requests"]
        times = sorted(t for p, t, *_ in log if p == path)
        spans.append(times[-1] - times[0])
        pages.add(len(times))
        limited += sum(1 for _p, _t, status, rate_limited, _c in log if rate_limited or status == 429)
        conns = max(conns, len({c for *_x, c in log}))
    return {"span": statistics.median(spans), "pages": max(pages) if len(pages) == 1 else -1,
            "limited": limited, "connections": conns}


def saturation(home: Path, sb: SandboxProc, runs: int) -> dict[str, float]:
    print("rate-limit saturation ...", file=sys.stderr, flush=True)
    sb.ask("set", rate_limits=True, latency_ms=0)
    env = client_env(home, sb.base_url)
    cases = [
        ("broker: 40 cursor pages at 5/s", [*BALCLI, "broker", "-o", "ndjson"], "/private/v1/broker/asset-balance",
         5.0, 1.1),
        ("invitees: 25 pages at 5/s (concurrent)", [*BALCLI, "invitees", "-o", "ndjson", "--max-items", "2500"],
         "/api/v3/patener/openapi/v1/partner/invitation/user/assets", 5.0, 1.1),
        ("oauth history: 10 pages at 100/min (concurrent)",
         [*BALCLI, "oauth", "history", "-o", "ndjson", "--max-items", "1000"], "/user/balances/history/", 100 / 60, 1.0),
    ]
    broker = {}
    for name, argv, path, rate, pause in cases:
        r = paged_runs(sb, argv, env, path, runs, pause)
        ideal = (r["pages"] - 1) / rate
        ratio = r["span"] / ideal
        add(name, f"{r['span']:.2f} s for {r['pages']:.0f} pages, {r['limited']:.0f} rate-limited",
            "<= 1.05x (n-1)/rate, 0 rate-limited", f"{ratio:.3f}x ({100 / ratio:.1f}% of the rate)",
            ratio <= 1.05 and r["limited"] == 0 and r["pages"] > 1)
        if not broker:
            broker = r
    spot_saturation(sb, runs)
    return broker


def spot_saturation(sb: SandboxProc, runs: int) -> None:
    """CoinW spot is one request per run: its limiter is measured with 10 calls through one client in-process."""
    code = (
        "import sys\n"
        "from balcli.http import HttpClient, RateLimiter\n"
        "from balcli.sandbox.credentials import DEMO_CREDENTIALS as C\n"
        "from balcli.sources import coinw_spot as s\n"
        "api = s.CoinwSpotApi(sys.argv[1], C['coinw']['api_key'], C['coinw']['api_secret'])\n"
        "client, limiter = HttpClient(), RateLimiter(s.RATE_LIMIT)\n"
        "for _ in range(10):\n"
        "    client.call(api, 'POST', s.PRIVATE, [('command', s.BALANCES)], limiter=limiter)\n"
    )
    r = paged_runs(sb, [PY, "-c", code, sb.base_url], base_env(), "/api/v1/private", runs, 1.1)
    ideal = (r["pages"] - 1) / 3.0
    ratio = r["span"] / ideal
    add("spot: 10 calls at 3/s (one client)", f"{r['span']:.2f} s for {r['pages']:.0f} calls, "
        f"{r['limited']:.0f} rate-limited", "<= 1.05x (n-1)/rate, 0 rate-limited",
        f"{ratio:.3f}x ({100 / ratio:.1f}% of the rate)", ratio <= 1.05 and r["limited"] == 0)


def latency_hiding(home: Path, sb: SandboxProc, runs: int) -> dict[str, float]:
    print("latency hiding ...", file=sys.stderr, flush=True)
    latency = 0.4
    sb.ask("set", rate_limits=True, latency_ms=latency * 1000, limits={"cryptofuse": {"count": 5, "window": 1.0}})
    config = home / "oauth-5-per-s.yaml"  # the documented oauth rate is 100/min; the figure is at 5/s
    config.write_text("profiles:\n  default:\n    cryptofuse: {rate_limit: 5}\n")
    env = client_env(home, sb.base_url)
    target = 1.15 * 49 / 5 + latency
    invitees = None
    for name, argv, path in [
        ("invitees: 50 pages, 400 ms latency, 5/s", [*BALCLI, "invitees", "-o", "ndjson"],
         "/api/v3/patener/openapi/v1/partner/invitation/user/assets"),
        ("oauth history: 50 pages, 400 ms latency, 5/s",
         [*BALCLI, "--config", str(config), "oauth", "history", "-o", "ndjson"], "/user/balances/history/"),
    ]:
        r = paged_runs(sb, argv, env, path, runs, 1.1)
        elapsed = r["span"] + latency  # the last page's answer comes one latency after its request
        add(name, f"{elapsed:.2f} s for {r['pages']:.0f} pages, {r['limited']:.0f} rate-limited",
            f"<= 1.15x 49/5 s + 0.4 s = {target:.2f} s", f"{(elapsed - latency) / (49 / 5):.3f}x 49/5 s",
            elapsed <= target and r["pages"] == 50 and r["limited"] == 0)
        invitees = invitees or r
    sb.ask("set", latency_ms=0, limits={"cryptofuse": {"count": 100, "window": 60.0}})
    return invitees


def keep_alive(broker: dict[str, float], concurrent: dict[str, float]) -> None:
    add("keep-alive: connections, sequential 40-page run", f"{broker['connections']:.0f}", "1 per host", "",
        broker["connections"] == 1)
    add("keep-alive: connections, concurrent 50-page run", f"{concurrent['connections']:.0f}",
        "<= pool size (4)", "", concurrent["connections"] <= 4)


# -- summary: all sources at once --------------------------------------------------------------------------------

def summary_vs_slowest(home: Path, sb: SandboxProc, runs: int) -> None:
    """``balcli summary`` queries every source concurrently: its wall time should be close to the slowest source
    run alone, not the sum of them (issue 15)."""
    print("summary ...", file=sys.stderr, flush=True)
    sb.ask("set", rate_limits=True, latency_ms=0, limits={"binance": {"budget": 10**9}})  # many snapshot runs
    env = client_env(home, sb.base_url)
    alone = {}
    for argv in (["broker"], ["spot", "--complete"], ["invitees"], ["snapshot"], ["oauth", "balances"]):
        alone[argv[0]] = statistics.median(timed([*BALCLI, *argv, "-o", "tsv"], env) for _ in range(runs))
    together = statistics.median(timed([*BALCLI, "summary", "-o", "tsv"], env) for _ in range(runs))
    slowest = max(alone, key=alone.get)
    total = sum(alone.values())
    add(f"summary (5 sources) vs slowest alone ({slowest})", f"{together:.2f} s vs {alone[slowest]:.2f} s "
        f"(sum {total:.2f} s)", "<= 1.15x slowest", f"{together / alone[slowest]:.2f}x",
        together <= 1.15 * alone[slowest])
    sb.ask("set", limits={"binance": {"budget": 12000}})


# -- 4. memory -------------------------------------------------------------------------------------------------

def memory(home: Path, runs: int) -> None:
    print("memory ...", file=sys.stderr, flush=True)
    config = home / "fast.yaml"  # no client-side rate limit: 2,000 pages at 5/s would take 400 s
    config.write_text("profiles:\n  default:\n    zoomex: {rate_limit: 100000}\n")
    peaks: dict[tuple[str, int], float] = {}
    walls: dict[tuple[str, int], float] = {}
    for customers in (10_000, 100_000):
        sb = SandboxProc("--customers", str(customers), "--no-rate-limits")
        try:
            env = client_env(home, sb.base_url)
            for fmt in ("ndjson", "csv"):
                samples = [peak_rss_mb([*BALCLI, "--config", str(config), "broker", "-o", fmt], env)
                           for _ in range(runs)]
                peaks[fmt, customers] = statistics.median(s[0] for s in samples)
                walls[fmt, customers] = statistics.median(s[1] for s in samples)
        finally:
            sb.close()
    for fmt in ("ndjson", "csv"):
        small, big = peaks[fmt, 10_000], peaks[fmt, 100_000]
        add(f"memory: -o {fmt}, 10k -> 100k customers (peak RSS)",
            f"{small:.1f} -> {big:.1f} MB ({walls[fmt, 100_000]:.1f} s)", "<= 1.2x and < 80 MB",
            f"{big / small:.2f}x", big <= 1.2 * small and big < 80)


# -- 6. table --------------------------------------------------------------------------------------------------

def table(runs: int) -> None:
    print("table ...", file=sys.stderr, flush=True)
    code = (
        "import os, sys, time\n"
        "from balcli.render import render\n"
        "from balcli.views import BROKER\n"
        "rows = [{'user_id': str(101479471 + i), 'coin': 'USDT', 'total_balance': f'{i}.{i % 997:015d}'}"
        " for i in range(10000)]\n"
        "pages = [rows[i:i + 50] for i in range(0, len(rows), 50)]\n"
        "out = open(os.devnull, 'w', encoding='utf-8')\n"
        "t = time.perf_counter()\n"
        "render(pages, BROKER, 'table', out=out, err=sys.stderr, color=True)\n"
        "print(time.perf_counter() - t)\n"
    )
    samples = []
    for _ in range(runs):
        proc = subprocess.run([PY, "-c", code], env=base_env(), capture_output=True, text=True, check=True)
        samples.append(float(proc.stdout))
    t = statistics.median(samples)
    add("table: 10,000 rows rendered (with the exact total)", ms(t), "<= 1 s", f"{t:.2f}x", t <= 1.0)


# -- main ------------------------------------------------------------------------------------------------------

def machine() -> str:
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
        mem = f", {kb / 1024 / 1024:.1f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs (nproc){mem}, "
            f"Python {platform.python_version()}")


def print_table(total_seconds: float) -> None:
    headers = ("measurement", "figure", "target", "ratio", "result")
    cells = [(r.name, r.figure, r.target, r.ratio, "" if r.ok is None else ("pass" if r.ok else "FAIL"))
             for r in ROWS]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]

    def line(values: tuple[str, ...]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values, widths)).rstrip()

    print(f"balcli benchmarks — {machine()}; {time.strftime('%Y-%m-%d')}; medians; make bench took "
          f"{total_seconds:.0f} s")
    print(line(headers))
    print(line(tuple("-" * w for w in widths)))
    for c in cells:
        print(line(c))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=21, help="start-up rounds (default 21)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each paginated and memory figure (default 3)")
    args = parser.parse_args()
    started = time.perf_counter()
    compileall.compile_dir(str(ROOT / "balcli"), quiet=1)  # the timed runs must not include compilation
    tmp = Path(tempfile.mkdtemp(prefix="balcli-bench-"))
    home = tmp / "home"
    home.mkdir()
    sb = SandboxProc("--customers", "2000", "--invitees", "5000", "--history", "5000")
    failed = 0
    try:
        startup(home, sb, args.rounds)
        regular_install(tmp, args.rounds)
        broker = saturation(home, sb, args.runs)
        concurrent = latency_hiding(home, sb, args.runs)
        keep_alive(broker, concurrent)
        summary_vs_slowest(home, sb, args.runs)
        memory(home, args.runs)
        table(max(3, args.runs))
    finally:
        sb.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print_table(time.perf_counter() - started)
    failed = sum(1 for r in ROWS if r.ok is False)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
