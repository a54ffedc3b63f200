"""Tests are isolated by default: a temporary config dir and cache dir, no BALCLI_* variables from the caller's
environment, an in-memory keyring, and no real network (integration tests use the sandbox on 127.0.0.1)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import keyring
import pytest
from hypothesis import HealthCheck, settings
from keyring.backend import KeyringBackend

DATA = Path(__file__).parent / "data"

# Property tests judge results, never speed: a loaded machine must not fail an example for taking more than
# Hypothesis's 200 ms deadline, nor a test for generating its data slowly. (Tests may still set their own.)
settings.register_profile("balcli", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("balcli")

# Captured at import: a test may patch time.monotonic (``no_sleep``), and the guards below keep real time.
_monotonic, _sleep = time.monotonic, time.sleep
THREAD_GRACE = 5.0  # seconds, in all, for the threads a test started to end after it


@pytest.fixture(autouse=True)
def no_thread_outlives_its_test(request: pytest.FixtureRequest):
    """Every thread a test starts (page fetches, sandbox servers and their connection handlers, keyring calls)
    has ended by the end of its teardown; otherwise the test fails, naming the threads.

    A leftover thread is how one test's traffic lands in the next one's ``responses`` mock or sandbox log, and
    how its back-offs move the next test's fake clock. Defined first among the autouse fixtures, so that its
    teardown runs last: after the sandbox fixtures stopped their servers and the monkeypatches were undone."""
    before = set(threading.enumerate())
    yield
    deadline = _monotonic() + THREAD_GRACE
    new = [t for t in threading.enumerate() if t not in before and t is not threading.current_thread()]
    for thread in new:
        thread.join(max(0.0, deadline - _monotonic()))
    alive = [t for t in new if t.is_alive()]
    if alive:
        names = ", ".join(f"{t.name} ({'daemon' if t.daemon else 'non-daemon'})" for t in alive)
        pytest.fail(f"{request.node.nodeid} left {len(alive)} thread(s) running {THREAD_GRACE:g} s after it "
                    f"ended: {names}", pytrace=False)


def _live_children() -> set[int]:
    """This process's child processes that still run (zombies are finished: only not yet reaped)."""
    pids: set[int] = set()
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:  # not Linux: nothing to check
        return pids
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/children") as f:
                pids.update(int(p) for p in f.read().split())
        except OSError:
            continue
    running = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if state not in ("Z", "X"):
            running.add(pid)
    return running


@pytest.fixture(autouse=True)
def no_process_outlives_its_test(request: pytest.FixtureRequest):
    """Every child process a test starts (balcli, a sandbox server, a shell) has ended by the end of the test;
    one still running is killed and the test fails, naming it."""
    before = _live_children()
    yield
    deadline = _monotonic() + THREAD_GRACE
    left = _live_children() - before
    while left and _monotonic() < deadline:
        _sleep(0.02)
        left = _live_children() - before
    if left:
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        pytest.fail(f"{request.node.nodeid} left child process(es) running: {sorted(left)} (killed)", pytrace=False)


class MemoryKeyring(KeyringBackend):
    """A keyring backend that lives in a dict, for a headless machine with no real backend."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        from keyring.errors import PasswordDeleteError

        if (service, username) not in self.items:
            raise PasswordDeleteError(username)
        del self.items[(service, username)]


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("BALCLI_") or name in ("NO_COLOR", "HTTPS_PROXY", "HTTP_PROXY", "https_proxy",
                                                   "http_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
    config_home = tmp_path / "xdg-config"
    config_home.mkdir()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))  # the --record history, never the real one
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    return config_home / "balcli"


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache folder of the test's own (balcli.cache): no shared rate-limiter state paces one test after
    another, and no config parsed by another test is reused."""
    cache_home = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    return cache_home / "balcli"


@pytest.fixture(autouse=True)
def memory_keyring() -> MemoryKeyring:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def config_dir(isolated: Path) -> Path:
    isolated.mkdir(parents=True, exist_ok=True)
    return isolated


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record sleeps instead of sleeping, and move the clocks on by what was slept (a fake clock)."""
    slept: list[float] = []
    offset = [0.0]
    real_monotonic, real_time = time.monotonic, time.time

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        offset[0] += max(0.0, seconds)

    monkeypatch.setattr("time.sleep", sleep)
    monkeypatch.setattr("balcli.cancel.pause", sleep)  # how page-fetch threads wait (a stop cuts it short)
    monkeypatch.setattr("time.monotonic", lambda: real_monotonic() + offset[0])
    monkeypatch.setattr("time.time", lambda: real_time() + offset[0])
    return slept


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


def run_cli(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Result:
    """Run the real command line in-process (parser, funnel and all) and capture what a user would see."""
    from balcli.cli import run

    out, err = io.StringIO(), io.StringIO()
    with contextlib.ExitStack() as stack:
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        for k, v in (env or {}).items():
            mp.setenv(k, v)
        if stdin is not None:
            mp.setattr("sys.stdin", io.StringIO(stdin))
        stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(contextlib.redirect_stderr(err))
        code = run(list(args))
    return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli():
    return run_cli


ZOOMEX_ENV = {"BALCLI_ZOOMEX_API_KEY": "zoomex-key-0123456789", "BALCLI_ZOOMEX_API_SECRET": "zoomex-secret-abcdef"}
COINW_ENV = {"BALCLI_COINW_API_KEY": "coinw-key-0123456789", "BALCLI_COINW_API_SECRET": "coinw-secret-abcdef"}
BINANCE_ENV = {"BALCLI_BINANCE_API_KEY": "binance-key-0123456789", "BALCLI_BINANCE_API_SECRET": "binance-secret-abc"}
CRYPTOFUSE_ENV = {"BALCLI_CRYPTOFUSE_CLIENT_ID": "cf-client-0123456789",
                  "BALCLI_CRYPTOFUSE_CLIENT_SECRET": "cf-secret-abcdef"}
ALL_ENV = {**ZOOMEX_ENV, **COINW_ENV, **BINANCE_ENV, **CRYPTOFUSE_ENV}


# -- the sandbox ------------------------------------------------------------------------------------

class ManualClock:
    """A clock that moves only when told (``Sandbox(clock=...)``): a test steps through a rate-limit window
    instead of sleeping through it, and a slow machine cannot push two requests into different windows.
    Starts on a whole minute, as Binance's calendar windows do; steps are exact binary fractions."""

    def __init__(self, start: float = 1_700_000_040.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# The sandbox counts a request against its rolling windows when its handler thread gets to it. On a loaded
# machine that can be tens of milliseconds after balcli sent it (CPU and GIL contention in one process), and the
# client's headroom over a 1 s window of 5 is 42 ms: 6 pages spaced right were seen within 1.007 s (two CPU hogs
# on 2 cores). So the windows of the tests' sandbox are this much shorter: a run that does not space its requests
# is still refused, a loaded machine is not. The headroom itself is tested on a fake clock (test_http).
SCHEDULING_SLACK = 0.2  # seconds


def integration_limits() -> dict[str, dict[str, float]]:
    from balcli.sandbox import DEFAULT_LIMITS

    return {name: {"window": spec["window"] - SCHEDULING_SLACK} for name, spec in DEFAULT_LIMITS.items()
            if "count" in spec}  # the rolling windows; Binance's calendar minute counts weight, not spacing


@pytest.fixture
def sandbox():
    """A fresh sandbox exchange on 127.0.0.1 (default demo data, rate limits enforced, with
    ``SCHEDULING_SLACK``)."""
    from balcli.sandbox import Sandbox

    with Sandbox(limits=integration_limits()) as sb:
        yield sb


def sandbox_environment(sb) -> dict[str, str]:
    """The environment that points every source at ``sb`` with its demo credentials (what `serve` prints)."""
    from balcli.exchanges import EXCHANGES
    from balcli.sandbox import DEMO_CREDENTIALS as demo

    env = {exchange.env_var("base_url"): sb.base_url for exchange in EXCHANGES.values()}
    for exchange in EXCHANGES.values():
        for name, value in demo[exchange.name].items():
            env[exchange.env_var(name)] = value
    return env


@pytest.fixture
def sandbox_env(sandbox, monkeypatch) -> dict[str, str]:
    """Point this test's environment (and so in-process and subprocess runs) at the sandbox."""
    env = sandbox_environment(sandbox)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


@contextlib.contextmanager
def interruptible_process(argv: list[str], **kwargs) -> Iterator[subprocess.Popen]:
    """A child process that starts with the default SIGINT disposition, so that a test's ``send_signal(SIGINT)``
    is Ctrl-C in a terminal; killed and reaped if it still runs when the test is done with it.

    A test runner started with SIGINT ignored (a background job, ``nohup``) would hand SIG_IGN down: exec keeps
    ignored signals ignored, Python then installs no KeyboardInterrupt handler, and the child never sees the
    signal. exec resets *caught* signals to the default instead, so SIGINT is caught here while the child is
    started (no ``preexec_fn``: running Python between fork and exec is unsafe while the sandbox's threads run).
    """
    ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(argv, **kwargs)
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def balcli_process(*args: str, **kwargs) -> contextlib.AbstractContextManager[subprocess.Popen]:
    """The real `balcli` as a child process (for pipes, signals and exit statuses as a shell sees them)."""
    return interruptible_process([sys.executable, "-m", "balcli", *args], **kwargs)
