"""``make bench``: the measurements of issues 7 and 14, as medians of several runs, printed as one table.

Run with the project's venv interpreter (``.venv/bin/python benchmarks/run.py``): every command is started as
the installed ``balcli`` script (its shebang is that interpreter; no shell in between) in a clean environment:
a temporary HOME without a config file, the demo credentials in ``BALCLI_*`` variables (the cron path, so no
keyring), bytecode compiled beforehand. The sandbox runs as its own process on loopback
(``benchmarks/sandbox_proc.py``); request times, rate-limited answers and connections are read from its log.

Ratios are taken against baselines measured in the same run, interleaved round by round, so that a busy
machine slows both sides alike (a ratio is the median of the per-round ratios). ``--rounds N`` sets the
start-up rounds (default 21), ``--runs N`` the runs of each paginated and memory figure (default 3).
Start-up and one-page figures come from a regular (non-editable) install of the checkout, on every credentials
path (environment; 0600 file with keyring tried first and no backend; each with and without a config file).
``--smoke`` (``make bench-smoke``, run by ``.ci/run``) runs every kind of measurement once, small, in about a
minute, so that the harness cannot rot.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import resource
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
    return timed_cpu(argv, env, check)[0]


def timed_cpu(argv: list[str], env: dict[str, str], check: str | None = None) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run; CPU time barely moves when the machine is busy."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0 or (check is not None and check not in proc.stdout):
        raise SystemExit(f"benchmark command failed ({proc.returncode}): {' '.join(argv)}\n{proc.stderr[-2000:]}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


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

HEADLESS = ("DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "WAYLAND_DISPLAY", "PYTHON_KEYRING_BACKEND")


def path_env(tmp: Path, name: str, base_url: str, *, file: bool, config: bool) -> dict[str, str]:
    """The environment of one credentials path of a one-page run: its own HOME (config and cache folders),
    the zoomex credentials in the environment (the cron path) or in the 0600 credentials file written by
    `auth set --store file` (keyring tried first: a headless box, no backend), with or without a config file."""
    from balcli import credentials

    home = tmp / name
    (home / ".config" / "balcli").mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in client_env(home, base_url).items() if k not in HEADLESS}
    env.update(XDG_CACHE_HOME=str(home / ".cache"), XDG_RUNTIME_DIR=str(home / "run"))
    if file:
        fields = {"api_key": env.pop("BALCLI_ZOOMEX_API_KEY"), "api_secret": env.pop("BALCLI_ZOOMEX_API_SECRET")}
        credentials.store_file("zoomex", "default", fields, home / ".config" / "balcli" / "credentials.yaml")
    if config:
        (home / ".config" / "balcli" / "config.yaml").write_text(
            "defaults: {timeout: 10, max_retries: 4}\nprofiles:\n  default:\n    zoomex: {recv_window: 5000}\n")
    return env


def startup(tmp: Path, sb: SandboxProc, rounds: int) -> None:
    """Start-up and one-page figures from a regular (non-editable) install, interleaved round by round."""
    print("start-up (regular install) ...", file=sys.stderr, flush=True)
    py, script = regular_install(tmp)
    sb.ask("set", rate_limits=False, latency_ms=0)  # back-to-back one-page runs: the API's limit is not measured here
    env = client_env(tmp / "home", sb.base_url)
    one_page = [script, "broker", "--json", "--max-items", "50"]
    cases = {
        "pass": ([py, "-c", "pass"], env, None),
        "requests": ([py, "-c", "import requests"], env, None),
        "version": ([script, "--version"], env, "balcli "),
        "help": ([script, "--help"], env, "broker"),
        "tab": ([script], {**env, **TAB}, "snapshot"),
    }
    paths = {
        "env": ("env credentials, no config file", False, False),
        "env+config": ("env credentials, a config file", False, True),
        "file": ("credentials file (keyring: no backend), no config", True, False),
        "file+config": ("credentials file (keyring: no backend), a config file", True, True),
    }
    for name, (_label, file, config) in paths.items():
        cases[name] = (one_page, path_env(tmp, name, sb.base_url, file=file, config=config), '"user_id"')
    samples = measure_rounds(cases, rounds)
    wall = {name: statistics.median(w for w, _ in values) for name, values in samples.items()}
    add("python -c pass / import requests (baselines)", f"{ms(wall['pass'])} / {ms(wall['requests'])}")
    rows = [("version", "balcli --version", "pass", 3.0, False),
            ("help", "balcli --help", "requests", 1.0, True),
            ("tab", "TAB completion (balcli sn<TAB>)", "requests", 1.0, True)]
    rows += [(name, f"broker --json, one page: {label}", "requests", 1.5, False)
             for name, (label, _f, _c) in paths.items()]
    for name, label, base, limit, strict in rows:
        r = ratio([w for w, _ in samples[name]], [w for w, _ in samples[base]])
        cpu = ratio([c for _, c in samples[name]], [c for _, c in samples[base]])
        target = ("< import requests" if strict else
                  f"<= {limit:g}x " + ("python -c pass" if base == "pass" else "import requests"))
        add(label, ms(wall[name]), target, f"{r:.2f}x (cpu {cpu:.2f}x)", r < limit if strict else r <= limit)
    sb.ask("set", rate_limits=True)


def measure_rounds(cases: dict[str, tuple[list[str], dict[str, str], str | None]],
                   rounds: int) -> dict[str, list[tuple[float, float]]]:
    """Every case once per round, interleaved; the (wall, cpu) samples of each, in round order."""
    for argv, env, check in cases.values():  # warm-up (page cache, bytecode, the config cache) and a check
        timed(argv, env, check)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, (argv, env, _check) in cases.items():
            samples[name].append(timed_cpu(argv, env))
    return samples


def ratio(subject: list[float], base: list[float]) -> float:
    """The median of the per-round ratios: each pair ran back to back, so a busy moment slows both."""
    return statistics.median(s / b for s, b in zip(subject, base))


def regular_install(tmp: Path) -> tuple[str, str]:
    """A regular (non-editable) install of this checkout: no editable-finder import hook in site (it adds
    ~23 ms to every start). Returns its python and its balcli script."""
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
    return str(py), str(script)


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
    ideal = 49 / 5 + latency  # the first request at 0, the 50th at 49/5 s, its answer one latency later
    target = 1.05 * ideal
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
            f"<= 1.05x (49/5 s + 0.4 s) = {target:.2f} s", f"{elapsed / ideal:.3f}x ideal",
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
    caches = iter(range(10**6))

    def alone_run(argv: list[str]) -> float:
        # Each run gets a cache folder of its own: the shared limiter would otherwise pace every snapshot call
        # after the first behind the one before (Binance's weight: 5 calls a minute per IP).
        return timed(argv, {**env, "XDG_CACHE_HOME": str(home / f"summary-cache-{next(caches)}")})

    alone = {}
    for argv in (["broker"], ["spot", "--complete"], ["invitees"], ["snapshot"], ["oauth", "balances"]):
        alone[argv[0]] = statistics.median(alone_run([*BALCLI, *argv, "-o", "tsv"]) for _ in range(runs))
    together = statistics.median(alone_run([*BALCLI, "summary", "-o", "tsv"]) for _ in range(runs))
    slowest = max(alone, key=alone.get)
    total = sum(alone.values())
    add(f"summary (5 sources) vs slowest alone ({slowest})", f"{together:.2f} s vs {alone[slowest]:.2f} s "
        f"(sum {total:.2f} s)", "<= 1.15x slowest", f"{together / alone[slowest]:.2f}x",
        together <= 1.15 * alone[slowest])
    sb.ask("set", limits={"binance": {"budget": 12000}})


# -- 4. memory ---------------------------------------------------------------------------------------------

def memory(home: Path, runs: int, sizes: tuple[int, int]) -> None:
    print("memory ...", file=sys.stderr, flush=True)
    config = home / "fast.yaml"  # the highest rate the config accepts: 2,000 pages at 5/s would take 400 s
    config.write_text("profiles:\n  default:\n    zoomex: {rate_limit: 1000}\n")
    formats = ("ndjson", "csv", "json", "table")
    peaks: dict[tuple[str, int], float] = {}
    walls: dict[tuple[str, int], float] = {}
    for customers in sizes:
        sb = SandboxProc("--customers", str(customers), "--no-rate-limits")
        try:
            env = client_env(home, sb.base_url)
            for fmt in formats:
                samples = [peak_rss_mb([*BALCLI, "--config", str(config), "broker", "-o", fmt], env)
                           for _ in range(runs)]
                peaks[fmt, customers] = statistics.median(s[0] for s in samples)
                walls[fmt, customers] = statistics.median(s[1] for s in samples)
        finally:
            sb.close()
    small, big = sizes
    k = f"{small // 1000}k -> {big // 1000}k customers"
    for fmt in ("ndjson", "csv", "json"):
        a, b = peaks[fmt, small], peaks[fmt, big]
        add(f"memory: -o {fmt}, {k} (peak RSS)", f"{a:.1f} -> {b:.1f} MB ({walls[fmt, big]:.1f} s)",
            "<= 1.2x and < 80 MB", f"{b / a:.2f}x", b <= 1.2 * a and b < 80)
    a, b, nd = peaks["table", small], peaks["table", big], peaks["ndjson", big]
    add(f"memory: -o table, {k} (peak RSS)", f"{a:.1f} -> {b:.1f} MB ({walls['table', big]:.1f} s)",
        f"<= 2x ndjson's peak at {big // 1000}k ({nd:.1f} MB)", f"{b / nd:.2f}x ndjson", b <= 2 * nd)


# -- 5. table --------------------------------------------------------------------------------------------------

def table(runs: int) -> None:
    """The table writer against ndjson on the very same 1,000 and 10,000 rows, in one process (median of
    ``runs`` rounds); then the default broker job (622 rows) end to end, table against ndjson."""
    print("table ...", file=sys.stderr, flush=True)
    code = (
        "import os, sys, time, statistics\n"
        "from balcli.render import render\n"
        "from balcli.views import BROKER\n"
        "out = open(os.devnull, 'w', encoding='utf-8')\n"
        "for n in (1000, 10000):\n"
        "    rows = [{'user_id': str(101479471 + i), 'coin': 'USDT', 'total_balance': f'{i}.{i % 997:015d}'}"
        " for i in range(n)]\n"
        "    times = {'table': [], 'ndjson': []}\n"
        "    for _ in range(int(sys.argv[1])):\n"
        "        for fmt in times:\n"
        "            pages = [rows[i:i + 50] for i in range(0, n, 50)]\n"
        "            t = time.perf_counter()\n"
        "            render(pages, BROKER, fmt, out=out, err=sys.stderr, color=True)\n"
        "            times[fmt].append(time.perf_counter() - t)\n"
        "    print(n, statistics.median(times['table']), statistics.median(times['ndjson']))\n"
    )
    proc = subprocess.run([PY, "-c", code, str(max(5, runs))], env=base_env(), capture_output=True, text=True,
                          check=True)
    for line in proc.stdout.split("\n"):
        if not line:
            continue
        n, t, nd = line.split()
        t, nd = float(t), float(nd)
        if n == "1000":
            add("table: 1,000 rows rendered, against -o ndjson", f"{ms(t)} (ndjson {ms(nd)})",
                "<= ndjson + 50 ms", ("+" if t >= nd else "-") + ms(abs(t - nd)), t - nd <= 0.050)
        else:
            add("table: 10,000 rows rendered (with the exact total)", ms(t), "<= 1 s", f"{t:.2f}x", t <= 1.0)


def table_job(home: Path, sb: SandboxProc, runs: int) -> None:
    sb.ask("set", rate_limits=False, latency_ms=0)
    config = home / "fast-table.yaml"
    config.write_text("profiles:\n  default:\n    zoomex: {rate_limit: 1000}\n")
    env = client_env(home, sb.base_url)
    cases = {fmt: ([*BALCLI, "--config", str(config), "broker", "-o", fmt, "--max-items", "480"], env, None)
             for fmt in ("table", "ndjson")}
    samples = measure_rounds(cases, max(7, runs))  # a quarter-second job: too few rounds and noise decides
    t = statistics.median(w for w, _ in samples["table"])
    nd = statistics.median(w for w, _ in samples["ndjson"])
    rows = subprocess.run(cases["ndjson"][0], env=env, capture_output=True, text=True, check=True).stdout.count("\n")
    add(f"broker job, {rows} rows: -o table against -o ndjson", f"{ms(t)} (ndjson {ms(nd)})",
        "<= ndjson + 50 ms", ("+" if t >= nd else "-") + ms(abs(t - nd)), t - nd <= 0.050)
    sb.ask("set", rate_limits=True)


# -- 6. rate limits across processes -----------------------------------------------------------------------

def shared_limits(home: Path, sb: SandboxProc, spot_runs: int = 10, customers: int = 500) -> None:
    """Ten back-to-back `balcli spot` runs (CoinW spot: 3/s per key) and three parallel `broker` runs on one key
    (5/s), with the sandbox enforcing the limits; refusals and rates read from its log."""
    print("rate limits across processes ...", file=sys.stderr, flush=True)
    sb.ask("set", rate_limits=True, latency_ms=0)
    env = {**client_env(home, sb.base_url), "XDG_CACHE_HOME": str(home / "limits-cache")}
    spot = [*BALCLI, "spot", "-o", "ndjson"]
    one = statistics.median(timed(spot, env) for _ in range(3))  # one run alone: a start-up, one request
    time.sleep(1.1)
    sb.ask("mark")
    started = time.perf_counter()
    for _ in range(spot_runs):
        timed(spot, env)
    wall = time.perf_counter() - started
    log = sb.ask("log")["requests"]
    refused = sum(1 for _p, _t, status, limited, _c in log if limited or status == 429)
    ideal = (spot_runs - 1) / 3 + spot_runs * one
    add(f"{spot_runs} back-to-back spot runs (3/s per key)", f"{wall:.2f} s, {len(log)} requests, {refused} refused",
        f"0 refused, <= 1.1x ({spot_runs - 1}/3 s + {spot_runs} x {ms(one)}) = {1.1 * ideal:.2f} s",
        f"{wall / ideal:.2f}x",
        refused == 0 and wall <= 1.1 * ideal)
    time.sleep(1.1)
    sb.ask("mark")
    broker = [*BALCLI, "broker", "-o", "ndjson", "--page-size", "50", "--max-items", str(customers)]
    procs = [subprocess.Popen(broker, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(3)]
    codes = [p.wait(120) for p in procs]
    for p in procs:
        p.stderr.close()
    log = sb.ask("log")["requests"]
    times = sorted(t for path, t, *_ in log if path.startswith("/private/v1/broker"))
    refused = sum(1 for _p, _t, status, limited, _c in log if limited or status == 429)
    worst = max(sum(1 for u in times if t <= u < t + 1.0) for t in times) if times else 0
    rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    add("3 parallel broker runs, one key (5/s)", f"{len(times)} requests at {rate:.2f}/s, at most {worst} in any "
        f"second, {refused} refused", "<= 5 in any second, 0 refused", f"{rate / 5:.3f}x the rate",
        codes == [0, 0, 0] and worst <= 5 and refused == 0)


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
    parser.add_argument("--smoke", action="store_true",
                        help="every kind of measurement once, small and quick (CI: the harness must keep working; "
                             "its figures are not measurements, and only a failing command fails it)")
    parser.add_argument("--only", action="append", default=[], metavar="SECTION",
                        choices=["startup", "saturation", "latency", "shared", "summary", "table", "memory"],
                        help="measure only this section (repeatable): startup, saturation, latency, shared, "
                             "summary, table, memory")
    args = parser.parse_args()
    started = time.perf_counter()
    compileall.compile_dir(str(ROOT / "balcli"), quiet=1)  # the timed runs must not include compilation
    tmp = Path(tempfile.mkdtemp(prefix="balcli-bench-"))
    home = tmp / "home"
    home.mkdir()
    sb = SandboxProc("--customers", "2000", "--invitees", "5000", "--history", "5000")
    try:
        if args.smoke:
            startup(tmp, sb, 1)
            table(1)
            table_job(home, sb, 1)
            shared_limits(home, sb, spot_runs=4, customers=100)
            summary_vs_slowest(home, sb, 1)
            memory(home, 1, (1000, 2000))
        else:
            wanted = set(args.only) or {"startup", "saturation", "latency", "shared", "summary", "table", "memory"}
            if "startup" in wanted:
                startup(tmp, sb, args.rounds)
            if "saturation" in wanted:
                broker = saturation(home, sb, args.runs)
            if "latency" in wanted:
                concurrent = latency_hiding(home, sb, args.runs)
            if {"saturation", "latency"} <= wanted:
                keep_alive(broker, concurrent)
            if "shared" in wanted:
                shared_limits(home, sb)
            if "summary" in wanted:
                summary_vs_slowest(home, sb, args.runs)
            if "table" in wanted:
                table(args.runs)
                table_job(home, sb, args.runs)
            if "memory" in wanted:
                memory(home, args.runs, (10_000, 100_000))
    finally:
        sb.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print_table(time.perf_counter() - started)
    if args.smoke:
        print("(smoke run: the harness works; the figures above are not measurements)")
        return 0
    return 1 if any(r.ok is False for r in ROWS) else 0


if __name__ == "__main__":
    sys.exit(main())
