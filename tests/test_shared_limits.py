"""Rate limits shared across processes (README "Performance", issue 14): every balcli process spending one API key's budget
takes its slots from one lock-protected file in the user cache folder, so back-to-back runs are paced, not
refused; a lock left by anyone never blocks, and an unusable cache folder falls back to per-process pacing
with a -v note. Pacing is checked in the sandbox's request log (no refusals, the spacing), never as timings."""

from __future__ import annotations

import fcntl
import itertools
import os
import stat

import pytest

from balcli.http import HttpClient
from balcli.limiter import RateLimiter, SharedSlots, shared_slots
from balcli.sandbox import DEMO_CREDENTIALS


def two_processes(path, now, per_second=5.0):
    """Two limiters, as two processes would hold them: separate state, one shared file, the same clocks."""
    slept: list[float] = []

    def make():
        return RateLimiter(per_second, clock=lambda: now[0], sleep=slept.append,
                           shared=SharedSlots(path, wall=lambda: now[0]), bucket="api")

    return make(), make(), slept


def test_a_second_process_waits_for_the_slot_the_first_took(tmp_path):
    now = [1000.0]
    first, second, _ = two_processes(tmp_path / "limits.json", now)
    assert first.acquire() == 0
    assert second.acquire() == pytest.approx(first.interval)  # not 0: the first process holds the next slot
    assert first.acquire() == pytest.approx(2 * first.interval)
    assert stat.S_IMODE((tmp_path / "limits.json").stat().st_mode) == 0o600


def test_a_pause_after_a_429_holds_every_process(tmp_path):
    now = [1000.0]
    first, second, _ = two_processes(tmp_path / "limits.json", now)
    first.hold(30.0)
    assert second.acquire() == pytest.approx(30.0)


def test_old_and_absurd_entries_are_ignored(tmp_path):
    path = tmp_path / "limits.json"
    now = [1000.0]
    first, _, _ = two_processes(path, now)
    for text in ('{"api": 999.0}', '{"api": 99999999.0}', '{"api": "soon"}', "[1, 2]", "{not json"):
        path.write_text(text)
        assert first.acquire() == 0, text  # past, a clock jump or a damaged file: no wait from it
        now[0] += 10


def test_a_lock_held_elsewhere_never_blocks_for_long(tmp_path, monkeypatch):
    path = tmp_path / "limits.json"
    monkeypatch.setattr(SharedSlots, "LOCK_WAIT", 0.05)
    notes: list[str] = []
    holder = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)  # another process stopped (SIGSTOP) while holding the lock
        limiter = RateLimiter(5.0, shared=SharedSlots(path, note=notes.append), bucket="api")
        assert limiter.acquire() == 0  # given up after LOCK_WAIT: paced by this process alone
        limiter.acquire()
    finally:
        os.close(holder)  # a killed process's lock goes with it: the kernel releases it
    assert len(notes) == 1 and "stayed locked" in notes[0]


def test_an_unusable_cache_folder_means_per_process_pacing_and_a_note(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))
    notes: list[str] = []
    assert shared_slots("abc", note=notes.append) is None
    assert "paced in this process only" in notes[0] and "cache folder" in notes[0]
    assert HttpClient(verbose=0).limiter("x", 5.0, key="abc").shared is None


def test_back_to_back_runs_share_the_budget_and_are_never_refused(sandbox, sandbox_env, cli, cache_dir):
    """Four `balcli spot` runs in a row (CoinW spot: 3 a second per key): each run is its own client, as in a
    shell loop; without the shared state the fourth would be refused."""
    for _ in range(4):
        r = cli("spot", "--json")
        assert r.code == 0, r.err
    log = [req for req in sandbox.requests if req.api == "coinw_spot"]
    assert len(log) == 4 and sandbox.count(rate_limited=True) == 0 and sandbox.count(status=429) == 0
    gaps = [b.time - a.time for a, b in itertools.pairwise(log)]
    assert min(gaps) >= 1 / 3 * 0.9  # evenly spaced at just under 3/s (the server's clock, loopback jitter)
    files = list(cache_dir.glob("limits-*.json"))
    key = DEMO_CREDENTIALS["coinw"]["api_key"]
    assert len(files) == 1 and key not in files[0].name and key not in files[0].read_text()


def test_an_unusable_cache_folder_is_noted_under_v(sandbox, sandbox_env, cli, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))
    r = cli("-v", "spot", "--json")
    assert r.code == 0 and "rate limits are paced in this process only" in r.err
    assert "paced in this process only" not in cli("spot", "--json").err
