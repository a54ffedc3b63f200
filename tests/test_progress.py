"""The progress display, as a person and as cron see it: the real `balcli` in a child process whose stderr is a
pseudo-terminal (a person at a terminal) or a pipe (scripts, cron mail), against a sandbox."""

from __future__ import annotations

import itertools
import os
import re
import select
import subprocess
import sys

import pytest

from tests.conftest import sandbox_environment

pty = pytest.importorskip("pty")

CLEAR = "\r\x1b[K"


def run_on_pty(args: list[str], env: dict[str, str], *, stdout_on_pty: bool,
               term: str = "xterm") -> tuple[int, str, str]:
    """Run balcli with stderr (and, if asked, stdout) on a pty; return (exit code, what the terminal showed,
    what stdout sent down its pipe)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "balcli", *args], stdin=subprocess.DEVNULL,
                            stdout=slave if stdout_on_pty else subprocess.PIPE, stderr=slave,
                            env={**os.environ, **env, "COLUMNS": "120", "TERM": term})
    os.close(slave)
    shown = b""
    piped = b""
    streams = [master] + ([] if stdout_on_pty else [proc.stdout.fileno()])
    while streams:
        ready, _, _ = select.select(streams, [], [], 60)
        assert ready, "balcli hung"
        for fd in ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the pty's other side is closed
                chunk = b""
            if not chunk:
                streams.remove(fd)
            elif fd == master:
                shown += chunk
            else:
                piped += chunk
    os.close(master)
    code = proc.wait(timeout=30)
    return code, shown.decode(), piped.decode()


def run_piped(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "balcli", *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, env={**os.environ, **env}, timeout=60)


@pytest.fixture
def env(sandbox):
    return sandbox_environment(sandbox)


def test_on_a_terminal_progress_shows_pages_and_rows_and_is_cleared_before_the_table(env):
    code, shown, _ = run_on_pty(["invitees", "--page-size", "50", "-o", "table"], env, stdout_on_pty=True)
    assert code == 0, shown
    assert "1 page, 50 of 250 rows" in shown and "5 pages, 250 of 250 rows" in shown
    table = shown.index("uid")
    assert shown.rindex(CLEAR) < table, "the progress line must be cleared before the table is drawn"
    assert "pages" not in shown[table:]


def test_broker_progress_counts_customers(env):
    code, shown, piped = run_on_pty(["broker", "--page-size", "50", "-o", "json"], env, stdout_on_pty=False)
    assert code == 0
    assert "6 pages, 300 customers" in shown  # the API pages by customer; the rows are more
    assert shown.endswith(CLEAR) and len(piped.splitlines()) > 300


def test_a_dumb_terminal_gets_no_progress_line(env):
    """Was: TERM=dumb (Emacs shells, some CI consoles) got the spinner and cursor-control escapes anyway."""
    code, shown, piped = run_on_pty(["broker", "--page-size", "50", "-o", "json"], env, stdout_on_pty=False,
                                    term="dumb")
    assert code == 0 and len(piped.splitlines()) > 300
    assert shown == ""  # no "6 pages, 300 customers", no "\r\x1b[K"


def test_in_a_pipe_stderr_carries_nothing_but_warnings_and_errors(sandbox, env):
    sandbox.inject("total_changes", api="coinw_affiliate", times=1)
    proc = run_piped(["invitees", "--page-size", "50", "-o", "csv"], env)
    assert proc.returncode == 0
    assert len(proc.stdout.splitlines()) == 251
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("balcli: warning: ") and "total changed" in lines[0]
    assert "\r" not in proc.stderr and "\x1b" not in proc.stderr


def test_a_warning_on_a_terminal_starts_on_a_clean_line(sandbox, env):
    sandbox.inject("total_changes", api="coinw_affiliate", times=1)
    code, shown, piped = run_on_pty(["invitees", "--page-size", "50", "-o", "csv"], env, stdout_on_pty=False)
    assert code == 0 and len(piped.splitlines()) == 251
    warning = shown.index("balcli: warning: ")
    assert shown[:warning].endswith(CLEAR) or shown[:warning].endswith("\n"), repr(shown[warning - 40:warning])
    assert re.search(r"pages, \d+ of \d+ rows", shown[warning:]), "the progress goes on after the warning"


def test_an_error_on_a_terminal_starts_on_a_clean_line(sandbox, env):
    sandbox.inject("cursor_cycle", api="zoomex")
    code, shown, _ = run_on_pty(["broker", "--page-size", "50", "-o", "json"], env, stdout_on_pty=False)
    assert code == 7
    error = shown.index("balcli: error: ")
    assert "page" in shown[:error]
    assert shown[:error].endswith(CLEAR) or shown[:error].endswith("\n"), repr(shown[error - 40:error])


def test_no_progress_when_rows_stream_to_the_same_terminal_or_with_v(env):
    code, shown, _ = run_on_pty(["invitees", "--page-size", "50", "-o", "csv"], env, stdout_on_pty=True)
    assert code == 0 and "pages" not in shown and CLEAR not in shown
    code, shown, _ = run_on_pty(["-v", "invitees", "--page-size", "50", "-o", "json"], env, stdout_on_pty=False)
    assert code == 0 and "pages," not in shown and "GET /api" in shown


def test_a_long_wait_counts_down_at_least_once_a_second(sandbox, env):
    """Was: `⠙ waiting 58.2 s (retry 1/4 …)` written once, then nothing for a minute: it looked hung."""
    sandbox.inject("rate_limit", api="cryptofuse", times=1, retry_after=3)  # HTTP 429 with Retry-After: 3
    code, shown, piped = run_on_pty(["oauth", "balances", "-o", "json"], env, stdout_on_pty=False)
    assert code == 0 and piped.startswith("[")
    left = [float(x) for x in re.findall(r"waiting (\d+(?:\.\d)?) s \(retry 1/", shown)]
    assert len(left) >= 3, shown  # drawn when the wait starts, then after each second of it
    assert left[0] >= 2.9 and left == sorted(left, reverse=True) and left[-1] <= 1.0
    assert all(a - b <= 1.05 for a, b in itertools.pairwise(left))
    assert shown.endswith(CLEAR)


def test_with_v_every_wait_is_logged_when_it_starts(sandbox, env, cli, monkeypatch, no_sleep):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    sandbox.inject("rate_limit", api="binance", times=1, retry_after=3)
    r = cli("-v", "snapshot", "--json")
    assert r.code == 0
    # the retry's pause, then the limiter's (Binance: a few snapshot calls a minute), each as it starts
    assert re.search(r"^balcli: waiting 3\.\d s \(retry 1/4 after .*\)\nbalcli: waiting \d+\.\d s \(binance rate "
                     r"limit\)\nbalcli: GET ", r.err, re.M), r.err
    assert len([s for s in no_sleep if s >= 1]) == 2  # not a terminal: one sleep each, not slices
