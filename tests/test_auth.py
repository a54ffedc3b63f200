"""balcli auth set | status | remove through the real command line: the headless (no keyring) path, the keyring
round trip, precedence, profiles, and --check against the sandbox with the same errors as the real commands."""

from __future__ import annotations

import importlib.util
import json
import os
import stat

import keyring
import pytest
from keyring.backends import fail

from tests.conftest import ZOOMEX_ENV

KEY, SECRET = "ops-zoomex-key-7f3a9c21", "ops-zoomex-secret-d41d8cd98f"


@pytest.fixture
def headless(memory_keyring):
    """This machine as it really is: keyring installed, but no backend."""
    keyring.set_keyring(fail.Keyring())


@pytest.fixture
def sb(sandbox):
    sandbox.accounts[KEY] = SECRET
    return sandbox


def broker_rows(sb):
    return [{"user_id": uid, "coin": c, "total_balance": bal} for uid, coins in sb.data.broker for c, bal in coins]


def keys_sent(sb):
    return {dict(r.query).get("api_key") for r in sb.requests if r.api == "zoomex"}


def status_rows(cli, *args, env=None):
    r = cli("auth", "status", "--json", *args, env=env)
    return r, {row["exchange"]: row for row in json.loads(r.out or "[]")}


# -- done means, headless: file store, broker, status, chmod ---------------------------------------------------

@pytest.mark.integration
def test_headless_file_store_then_broker_status_and_chmod(headless, sb, cli, isolated):
    config_dir = isolated  # not created yet: auth set makes it, mode 0700
    r = cli("auth", "set", "zoomex", "--store", "file", "--stdin", stdin=f"{KEY}\n{SECRET}\n")
    assert r.code == 0 and r.out == ""
    path = config_dir / "credentials.yaml"
    assert f"stored zoomex credentials (key ops-…9c21) for profile 'default' in {path}" in r.err
    assert KEY not in r.err and SECRET not in r.err
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(config_dir.stat().st_mode) == 0o700

    r = cli("broker", "--base-url", sb.base_url, "--json")
    assert (r.code, r.err) == (0, "")
    assert r.json() == broker_rows(sb)
    assert keys_sent(sb) == {KEY}

    r, rows = status_rows(cli)
    assert (r.code, r.err) == (0, "")
    assert rows["zoomex"] == {"exchange": "zoomex", "source": "file", "key": "ops-…9c21", "location": str(path),
                              "status": "configured", "exit_code": None}
    assert [rows[ex]["source"] for ex in ("coinw", "binance", "cryptofuse")] == ["none"] * 3

    os.chmod(path, 0o644)
    before = len(sb.requests)
    r = cli("broker", "--base-url", sb.base_url, "--json")
    assert r.code == 3 and r.out == ""
    assert f"hint: chmod 600 {path}" in r.err
    assert len(sb.requests) == before
    r, rows = status_rows(cli)
    assert r.code == 3
    assert rows["zoomex"]["source"] == "error" and rows["zoomex"]["exit_code"] == 3
    assert "readable by others (mode 0644)" in rows["zoomex"]["status"]
    assert f"hint: chmod 600 {path}" in r.err


def test_headless_default_store_fails_listing_the_alternatives(headless, cli, config_dir):
    r = cli("auth", "set", "zoomex", "--stdin", stdin=f"{KEY}\n{SECRET}\n")
    assert r.code == 3 and r.out == ""
    assert "no usable keyring backend" in r.err and "--store" in r.err
    assert "BALCLI_ZOOMEX_API_KEY + BALCLI_ZOOMEX_API_SECRET" in r.err
    assert "`--store file`" in r.err and "install a keyring backend" in r.err
    assert not (config_dir / "credentials.yaml").exists()


def test_headless_store_keyring_fails_clearly(headless, cli, config_dir):
    r = cli("auth", "set", "binance", "--store", "keyring", "--stdin", stdin="k" * 20 + "\n" + "s" * 20 + "\n")
    assert r.code == 3
    assert r.err.startswith("balcli: error: cannot store in the keyring: no usable keyring backend\n")
    assert "BALCLI_BINANCE_API_KEY + BALCLI_BINANCE_API_SECRET" in r.err
    assert not (config_dir / "credentials.yaml").exists()


# -- the keyring round trip ------------------------------------------------------------------------------------

@pytest.mark.integration
def test_keyring_set_status_check_remove_round_trip(memory_keyring, sb, cli):
    r = cli("auth", "set", "zoomex", "--stdin", stdin=f"{KEY}\n{SECRET}\n")
    assert r.code == 0
    assert "in keyring balcli/default/zoomex" in r.err
    assert json.loads(memory_keyring.items[("balcli", "default/zoomex")]) == {"api_key": KEY, "api_secret": SECRET}

    r, rows = status_rows(cli)
    assert rows["zoomex"]["source"] == "keyring" and rows["zoomex"]["location"] == "keyring balcli/default/zoomex"

    r, rows = status_rows(cli, "--check", "--base-url", sb.base_url)
    assert (r.code, r.err) == (0, "")
    assert rows["zoomex"]["status"] == "ok" and rows["zoomex"]["exit_code"] == 0
    assert rows["coinw"]["status"] == "not configured"
    assert sb.count(api="zoomex") == 1  # one cheap call: a single customer
    assert keys_sent(sb) == {KEY}
    assert [r.api for r in sb.requests] == ["zoomex"]  # nothing sent for unconfigured exchanges

    r = cli("auth", "remove", "zoomex")
    assert r.code == 0 and r.out == ""
    assert r.err == "balcli: removed zoomex credentials of profile 'default' from keyring balcli/default/zoomex\n"
    assert memory_keyring.items == {}
    r, rows = status_rows(cli)
    assert rows["zoomex"]["source"] == "none"

    r = cli("auth", "remove", "zoomex")  # like `gh auth logout` with nothing to log out of
    assert r.code == 3
    assert "no stored zoomex credentials for profile 'default'" in r.err


@pytest.mark.integration
def test_check_failure_has_the_same_message_and_code_as_the_command(memory_keyring, sb, cli):
    cli("auth", "set", "zoomex", "--stdin", stdin=f"{KEY}\nnot-the-secret-at-all\n")
    direct = cli("broker", "--base-url", sb.base_url, "--json")
    assert direct.code == 4
    message = direct.err.splitlines()[0].removeprefix("balcli: error: ")
    r, rows = status_rows(cli, "--check", "--base-url", sb.base_url)
    assert r.code == 4
    # Zoomex echoes the string it signed (limit and timestamp differ between the two runs), key redacted
    assert "error sign! origin_string[api_key=***&" in message
    assert rows["zoomex"]["status"].split("origin_string[")[0] == message.split("origin_string[")[0]
    assert rows["zoomex"]["exit_code"] == 4
    assert f"balcli: error: zoomex: {rows['zoomex']['status']}" in r.err
    assert KEY not in r.out + r.err + direct.err
    assert "not-the-secret-at-all" not in r.out + r.err + direct.err


@pytest.mark.integration
def test_check_reports_the_worst_code_and_checks_every_configured_exchange(memory_keyring, sb, cli, no_sleep):
    env = {**ZOOMEX_ENV, "BALCLI_COINW_API_KEY": "sandbox-coinw-key-0001",
           "BALCLI_COINW_API_SECRET": "sandbox-coinw-secret-0001"}
    sb.inject("http_error", api="zoomex", status=503)
    r, rows = status_rows(cli, "--check", "--base-url", sb.base_url, "--max-retries", "0", env=env)
    assert rows["zoomex"]["exit_code"] == 6
    if importlib.util.find_spec("balcli.sources.coinw_spot"):
        assert (rows["coinw"]["status"], rows["coinw"]["exit_code"]) == ("ok", 0)
    assert r.code == 6


def test_check_with_nothing_configured_sends_nothing_and_fails(cli):
    """The cron pre-flight under `env -i`: nothing configured is a failure (exit 3), not four quiet rows."""
    r, rows = status_rows(cli, "--check")
    assert r.code == 3
    assert {row["status"] for row in rows.values()} == {"not configured"}
    assert r.err.splitlines()[0] == "balcli: error: no exchange has credentials: nothing was checked"
    assert r.err.splitlines()[1].startswith("hint: ") and "balcli auth status --check zoomex" in r.err


def test_without_check_nothing_configured_is_still_exit_0(cli):
    r, _ = status_rows(cli)
    assert (r.code, r.err) == (0, "")


@pytest.mark.integration
def test_check_named_exchanges(sb, cli):
    """A named exchange without credentials is exit 3; a refused check 4; 0 only when all passed."""
    from tests.conftest import sandbox_environment

    demo = {k: v for k, v in sandbox_environment(sb).items() if k.startswith("BALCLI_ZOOMEX_API")}
    r, rows = status_rows(cli, "--check", "zoomex", "binance", "--base-url", sb.base_url, env=demo)
    assert list(rows) == ["zoomex", "binance"]
    assert (rows["zoomex"]["status"], rows["binance"]["exit_code"]) == ("ok", 3)
    assert r.code == 3
    assert "balcli: error: binance: no binance credentials found for profile 'default'" in r.err
    assert "hint: set BALCLI_BINANCE_API_KEY + BALCLI_BINANCE_API_SECRET" in r.err
    assert sb.count(api="binance") == 0

    r, rows = status_rows(cli, "--check", "zoomex", "--base-url", sb.base_url, env=demo)
    assert (r.code, r.err, list(rows)) == (0, "", ["zoomex"])

    bad = {**demo, "BALCLI_ZOOMEX_API_SECRET": "not-the-secret-at-all"}
    r, rows = status_rows(cli, "--check", "ZOOMEX", "--base-url", sb.base_url, env=bad)
    assert (r.code, rows["zoomex"]["exit_code"]) == (4, 4)


def test_status_of_named_exchanges_only(cli):
    r, rows = status_rows(cli, "cryptofuse", "coinw", "cryptofuse")
    assert (r.code, list(rows)) == (0, ["cryptofuse", "coinw"])


def test_sandbox_flag_status_check_uses_the_demo_credentials(cli):
    r = cli("--sandbox", "auth", "status", "--check", "--json")
    rows = {row["exchange"]: row for row in r.json()}
    assert rows["zoomex"]["source"] == "sandbox" and rows["zoomex"]["status"] == "ok"
    assert rows["zoomex"]["key"] == "sand…0001"
    for row in rows.values():
        assert row["status"] == "ok"
    assert r.code == 0 and r.err == ""


# -- precedence and profiles -----------------------------------------------------------------------------------

@pytest.mark.integration
def test_env_wins_over_keyring_and_file(memory_keyring, sb, cli, config_dir):
    cli("auth", "set", "zoomex", "--stdin", stdin="keyring-key-0000000001\nkeyring-secret\n")
    cli("auth", "set", "zoomex", "--store", "file", "--stdin", stdin="file-key-00000000001\nfile-secret\n")
    sb.accounts["keyring-key-0000000001"] = "keyring-secret"
    env = {"BALCLI_ZOOMEX_API_KEY": KEY, "BALCLI_ZOOMEX_API_SECRET": SECRET}
    r, rows = status_rows(cli, env=env)
    assert (rows["zoomex"]["source"], rows["zoomex"]["key"]) == ("env", "ops-…9c21")
    r = cli("broker", "--base-url", sb.base_url, "--max-items", "1", "--json", env=env)
    assert r.code == 0 and keys_sent(sb) == {KEY}
    # without the env: the keyring, then (once the keyring entry is gone) the file
    r, rows = status_rows(cli)
    assert (rows["zoomex"]["source"], rows["zoomex"]["key"]) == ("keyring", "keyr…0001")
    cli("auth", "remove", "zoomex", "--store", "keyring")
    r, rows = status_rows(cli)
    assert (rows["zoomex"]["source"], rows["zoomex"]["key"]) == ("file", "file…0001")


def test_set_warns_when_env_vars_shadow_the_stored_credentials(cli):
    r = cli("auth", "set", "zoomex", "--stdin", stdin=f"{KEY}\n{SECRET}\n", env=ZOOMEX_ENV)
    assert r.code == 0
    assert ("balcli: warning: BALCLI_ZOOMEX_API_KEY, BALCLI_ZOOMEX_API_SECRET are set and take precedence"
            in r.err)


def test_file_store_notes_a_keyring_entry_that_shadows_it(cli):
    cli("auth", "set", "coinw", "--stdin", stdin=f"{KEY}\n{SECRET}\n")
    r = cli("auth", "set", "coinw", "--store", "file", "--stdin", stdin=f"{KEY}\n{SECRET}\n")
    assert "the keyring also holds keyring balcli/default/coinw, which is used before the file" in r.err


def test_profiles_select_the_keyring_user_and_file_section(memory_keyring, cli, config_dir):
    (config_dir / "config.yaml").write_text("default_profile: main\nprofiles:\n  main: {}\n  testnet: {}\n")
    assert cli("-p", "testnet", "auth", "set", "zoomex", "--stdin", stdin=f"{KEY}\n{SECRET}\n").code == 0
    assert list(memory_keyring.items) == [("balcli", "testnet/zoomex")]
    assert cli("auth", "set", "zoomex", "--store", "file", "--stdin",
               stdin="main-key-000000000001\nmain-secret\n").code == 0
    r, rows = status_rows(cli)  # default_profile: main -> the file's main section
    assert (rows["zoomex"]["source"], rows["zoomex"]["key"]) == ("file", "main…0001")
    r, rows = status_rows(cli, env={"BALCLI_PROFILE": "testnet"})
    assert (rows["zoomex"]["source"], rows["zoomex"]["key"]) == ("keyring", "ops-…9c21")
    r = cli("-p", "staging", "auth", "status")
    assert r.code == 3 and "profile 'staging' is not defined" in r.err


def test_file_store_keeps_other_profiles_and_exchanges(headless, cli, config_dir):
    cli("auth", "set", "zoomex", "--store", "file", "--stdin", stdin=f"{KEY}\n{SECRET}\n")
    cli("-p", "other", "auth", "set", "binance", "--store", "file", "--stdin", stdin="bkey-000000000001\nbsec\n")
    cli("auth", "set", "cryptofuse", "--token", "--store", "file", "--stdin", stdin="cf-bearer-token-000001\n")
    import yaml

    data = yaml.safe_load((config_dir / "credentials.yaml").read_text())
    assert data == {"default": {"zoomex": {"api_key": KEY, "api_secret": SECRET},
                                "cryptofuse": {"token": "cf-bearer-token-000001"}},
                    "other": {"binance": {"api_key": "bkey-000000000001", "api_secret": "bsec"}}}
    r = cli("auth", "remove", "zoomex")
    assert r.code == 0 and "from " + str(config_dir / "credentials.yaml") in r.err
    data = yaml.safe_load((config_dir / "credentials.yaml").read_text())
    assert data == {"default": {"cryptofuse": {"token": "cf-bearer-token-000001"}},
                    "other": {"binance": {"api_key": "bkey-000000000001", "api_secret": "bsec"}}}
    assert stat.S_IMODE((config_dir / "credentials.yaml").stat().st_mode) == 0o600
    r, rows = status_rows(cli)
    assert (rows["cryptofuse"]["source"], rows["cryptofuse"]["key"]) == ("file", "cf-b…0001")


def test_file_store_refuses_an_insecure_existing_file_before_prompting(headless, cli, config_dir):
    path = config_dir / "credentials.yaml"
    path.write_text("default: {}\n")
    os.chmod(path, 0o640)
    r = cli("auth", "set", "zoomex", "--store", "file", "--stdin", stdin=f"{KEY}\n{SECRET}\n")
    assert r.code == 3 and f"hint: chmod 600 {path}" in r.err
    assert path.read_text() == "default: {}\n"


# -- input: stdin, prompts, non-interactive ---------------------------------------------------------------------

def test_non_interactive_without_stdin_fails_instead_of_prompting(cli, memory_keyring):
    r = cli("auth", "set", "zoomex", stdin=f"{KEY}\n{SECRET}\n")
    assert r.code == 2
    assert "no terminal to prompt on" in r.err
    assert ("""printf '%s\\n%s\\n' "$API_KEY" "$API_SECRET" | balcli auth set zoomex --stdin""" in r.err)
    assert memory_keyring.items == {}


@pytest.mark.parametrize(("stdin", "problem"), [
    ("", "expected 2 lines (API key, API secret) but got 0; the API key is missing"),
    (f"{KEY}\n", "expected 2 lines (API key, API secret) but got 1; the API secret is missing"),
    (f"{KEY}\n\n", "expected 2 lines (API key, API secret) but got 1; the API secret is missing"),
    (f"{KEY}\n{SECRET}\nextra\n", "expected 2 lines (API key, API secret) but got 3"),
    (f"\n{SECRET}\n", "the Zoomex API key is empty (stdin line 1)"),
    (f"{KEY}\nsec ret\n", "the Zoomex API secret contains spaces or control characters (stdin line 2)"),
])
def test_stdin_problems_are_usage_errors_and_store_nothing(cli, memory_keyring, stdin, problem):
    r = cli("auth", "set", "zoomex", "--stdin", stdin=stdin)
    assert r.code == 2 and problem in r.err
    assert "sec ret" not in r.err and SECRET not in r.err
    assert memory_keyring.items == {}


def test_stdin_accepts_crlf_and_trailing_blank_lines(cli, memory_keyring):
    assert cli("auth", "set", "coinw", "--stdin", stdin=f"{KEY}\r\n{SECRET}\r\n\n").code == 0
    assert json.loads(memory_keyring.items[("balcli", "default/coinw")]) == {"api_key": KEY, "api_secret": SECRET}


def test_interactive_prompts_are_hidden_and_never_echo(cli, memory_keyring, monkeypatch):
    asked = []
    answers = iter(["cf-client-id-000000001", "cf-client-secret-xyz"])

    def fake_getpass(prompt):
        asked.append(prompt)
        return next(answers)

    monkeypatch.setattr("getpass.getpass", fake_getpass)
    monkeypatch.setattr("balcli.commands.auth.isatty", lambda stream: True)
    r = cli("auth", "set", "cryptofuse")
    assert r.code == 0
    assert asked == ["Cryptofuse client id (hidden): ", "Cryptofuse client secret (hidden): "]
    assert "cf-client-secret-xyz" not in r.out + r.err and "cf-client-id-000000001" not in r.out + r.err
    assert json.loads(memory_keyring.items[("balcli", "default/cryptofuse")]) == {
        "client_id": "cf-client-id-000000001", "client_secret": "cf-client-secret-xyz"}


def test_token_option_is_for_cryptofuse_only(cli, memory_keyring):
    r = cli("auth", "set", "zoomex", "--token", "--stdin", stdin="x\n")
    assert r.code == 2 and "--token is only for cryptofuse" in r.err
    r = cli("auth", "set", "cryptofuse", "--token", "--stdin", stdin="cf-bearer-token-000001\n")
    assert r.code == 0 and "token cf-b…0001" in r.err
    assert json.loads(memory_keyring.items[("balcli", "default/cryptofuse")]) == {"token": "cf-bearer-token-000001"}


def test_unknown_exchange_is_a_usage_error_listing_the_choices(cli):
    r = cli("auth", "set", "kraken", "--stdin", stdin="a\nb\n")
    assert r.code == 2
    for name in ("zoomex", "coinw", "binance", "cryptofuse"):
        assert name in r.err


def test_remove_only_from_the_file_and_env_note(cli, memory_keyring, config_dir):
    cli("auth", "set", "zoomex", "--stdin", stdin=f"{KEY}\n{SECRET}\n")
    r = cli("auth", "remove", "zoomex", "--store", "file", env=ZOOMEX_ENV)
    assert r.code == 3 and "no stored zoomex credentials for profile 'default' in" in r.err
    assert "BALCLI_ZOOMEX_API_KEY, BALCLI_ZOOMEX_API_SECRET are set in the environment" in r.err
    assert ("balcli", "default/zoomex") in memory_keyring.items


@pytest.mark.integration
def test_check_every_exchange_with_one_cheap_call_each(sb, cli, monkeypatch):
    from balcli.sandbox import DEMO_CREDENTIALS

    for ex, fields in DEMO_CREDENTIALS.items():
        for name, value in fields.items():
            monkeypatch.setenv(f"BALCLI_{ex.upper()}_{name.upper()}", value)
    r, rows = status_rows(cli, "--check", "--base-url", sb.base_url)
    assert (r.code, r.err) == (0, "")
    checked = {ex for ex, row in rows.items() if row["status"] == "ok"}
    assert "zoomex" in checked
    for row in rows.values():
        assert (row["source"], row["status"]) == ("env", "ok")
    assert sb.count(api="zoomex") == 1
    if "coinw" in checked:
        assert sb.count(api="coinw_spot") == 1
    if "binance" in checked:
        assert sb.count(api="binance") == 1
    if "cryptofuse" in checked:
        assert sb.count(api="cryptofuse") == 2  # the token, then the balances
    assert sb.count(api="coinw_affiliate") == 0


@pytest.mark.integration
def test_headless_done_means_as_a_shell_runs_it(sb, isolated, tmp_path):
    """The issue's sequence with real pipes and a real process, keyring forced to its no-backend state."""
    import subprocess
    import sys

    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    shell = f"printf '%s\\n%s\\n' {KEY} {SECRET} | {sys.executable} -m balcli auth set zoomex --store file --stdin"
    done = subprocess.run(shell, shell=True, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    run = [sys.executable, "-m", "balcli"]
    done = subprocess.run([*run, "broker", "--base-url", sb.base_url, "--json"], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert (done.returncode, done.stderr) == (0, "")
    assert json.loads(done.stdout) == broker_rows(sb)
    done = subprocess.run([*run, "auth", "status"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.stdout.splitlines()[1].split("\t")[:2] == ["zoomex", "file"]
    os.chmod(isolated / "credentials.yaml", 0o644)
    done = subprocess.run([*run, "broker", "--base-url", sb.base_url], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 3 and f"hint: chmod 600 {isolated / 'credentials.yaml'}" in done.stderr
