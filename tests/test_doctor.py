"""``balcli doctor`` against the sandbox and its faults: one row per check and exchange, the next step
on every warn/fail, exit 0 unless a check failed, else the worst failure's code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from balcli.exchanges import EXCHANGES, NAMES
from balcli.sandbox import Sandbox
from tests.conftest import sandbox_environment

CHECKS = ["credentials", "dns", "tcp", "tls", "clock", "signed_call"]


def doctor(cli, *args, env=None):
    r = cli("doctor", "--json", *args, env=env)
    rows = r.json() if r.out else []
    return r, {(row["exchange"], row["check"]): row for row in rows}


@pytest.fixture
def skewed(monkeypatch):
    def start(offset_ms):
        sb = Sandbox(clock_offset_ms=offset_ms)
        sb.start()
        for k, v in sandbox_environment(sb).items():
            monkeypatch.setenv(k, v)
        return sb
    started = []
    yield lambda ms: started.append(start(ms)) or started[-1]
    for sb in started:
        sb.stop()


@pytest.mark.integration
def test_everything_ok_against_the_sandbox(sandbox_env, cli):
    r, rows = doctor(cli)
    assert (r.code, r.err) == (0, "")
    assert [k for k in rows if k[0] == "all"] == [("all", "config"), ("all", "keyring"), ("all", "proxy")]
    for ex in NAMES:
        assert [check for (e, check) in rows if e == ex] == CHECKS
        assert rows[(ex, "tls")]["status"] == "skip" and "plain http" in rows[(ex, "tls")]["detail"]
        assert rows[(ex, "signed_call")]["status"] == "ok"
        assert rows[(ex, "credentials")]["detail"].startswith("env: environment")
        expected = "skip" if EXCHANGES[ex].server_time is None else "ok"
        assert rows[(ex, "clock")]["status"] == expected, rows[(ex, "clock")]
    assert {row["status"] for row in rows.values()} <= {"ok", "skip"}


@pytest.mark.integration
def test_clock_skew_beyond_the_receive_window_fails_with_the_fix(skewed, cli):
    skewed(30_000)
    with_window = [ex for ex in NAMES if EXCHANGES[ex].server_time and any(
        o.name == "recv_window" for o in EXCHANGES[ex].keys)]
    assert with_window
    r, rows = doctor(cli, with_window[0])  # one exchange: a re-signed call costs another rate-limit slot
    for ex in with_window[:1]:
        row = rows[(ex, "clock")]
        assert row["status"] == "fail", row
        assert re.search(r"local clock (29|30)\.\d+ s behind the server", row["detail"]), row
        assert "timedatectl set-ntp true" in row["detail"]
    assert r.code == 7
    assert r.err == "" or "warning" in r.err  # the transport's own clock warnings on a re-signed request


@pytest.mark.integration
def test_a_small_clock_skew_is_a_warning_and_exit_0(skewed, cli):
    skewed(-2_500)
    r, rows = doctor(cli, next(ex for ex in NAMES if EXCHANGES[ex].server_time))
    clocks = [row for (ex, check), row in rows.items() if check == "clock" and EXCHANGES[ex].server_time]
    assert clocks and all(row["status"] == "warn" and "ahead of the server" in row["detail"]
                          and "next: sync the system clock" in row["detail"] for row in clocks)
    assert r.code == 0


@pytest.mark.integration
def test_a_ban_fails_the_signed_call_with_its_exit_code(sandbox, sandbox_env, cli):
    ex = NAMES[0]
    api = EXCHANGES[ex].sandbox[0].rsplit(".", 1)[1]
    sandbox.inject("ban", api=api)
    r, rows = doctor(cli, ex)
    row = rows[(ex, "signed_call")]
    assert row["status"] == "fail" and "; next: " in row["detail"], row
    assert r.code == 5
    assert set(e for e, _ in rows) == {"all", ex}


def test_a_named_exchange_without_credentials_fails_3_and_sends_nothing(sandbox, cli, monkeypatch):
    ex = NAMES[-1]
    monkeypatch.setenv(EXCHANGES[ex].env_var("base_url"), sandbox.base_url)
    r, rows = doctor(cli, ex)
    assert rows[(ex, "credentials")]["status"] == "fail"
    assert f"balcli auth set {ex}" in rows[(ex, "credentials")]["detail"]
    assert rows[(ex, "signed_call")]["status"] == "skip"
    assert r.code == 3
    assert sandbox.requests == []


def test_unnamed_exchanges_without_credentials_are_skipped(sandbox, cli, monkeypatch):
    for exchange in EXCHANGES.values():
        monkeypatch.setenv(exchange.env_var("base_url"), sandbox.base_url)
    r, rows = doctor(cli)
    assert r.code == 0
    assert all(rows[(ex, "credentials")]["status"] == "skip" for ex in NAMES)


def test_proxy_credentials_are_redacted(sandbox_env, cli, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://ops:hunter2@proxy.internal:3128")
    r, rows = doctor(cli, NAMES[0])
    detail = rows[("all", "proxy")]["detail"]
    assert "HTTPS_PROXY=http://***@proxy.internal:3128" in detail
    assert "hunter2" not in r.out + r.err and "ops:" not in r.out + r.err


def test_a_broken_config_file_fails_and_the_other_checks_still_run(sandbox_env, cli, config_dir):
    path = Path(config_dir) / "config.yaml"
    path.write_text("defaults:\n  colour: red\n", encoding="utf-8")
    r, rows = doctor(cli)
    assert rows[("all", "config")]["status"] == "fail"
    assert f"{path}:2: defaults.colour: unknown key" in rows[("all", "config")]["detail"]
    assert rows[(NAMES[0], "signed_call")]["status"] == "ok"
    assert r.code == 3


def test_doctor_names_no_exchange():
    source = (Path(__file__).parent.parent / "balcli" / "commands" / "doctor.py").read_text(encoding="utf-8").lower()
    for exchange in EXCHANGES.values():
        assert exchange.name not in source and exchange.label.lower() not in source, exchange.name


def test_doctor_in_every_format_and_table(sandbox_env, cli):
    r = cli("doctor", NAMES[0], "-o", "csv")
    assert r.code == 0 and r.out.splitlines()[0] == "exchange,check,status,detail"
    r = cli("doctor", NAMES[0], "--fields", "check,status", "-o", "tsv")
    assert r.out.splitlines()[:2] == ["check\tstatus", "config\tok"]
