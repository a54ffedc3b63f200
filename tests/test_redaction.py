"""Redaction everywhere: every command, with -v and -vv, succeeding and failing, against the sandbox with known
credentials in the environment. No secret, no token and no API key in full ever reaches stdout or stderr."""

from __future__ import annotations

import importlib.util

import pytest

from balcli.config import EXCHANGES

pytestmark = pytest.mark.integration

ENV = {
    "BALCLI_ZOOMEX_API_KEY": "redact-zoomex-key-A1B2C3", "BALCLI_ZOOMEX_API_SECRET": "redact-zoomex-secret-Q9W8",
    "BALCLI_COINW_API_KEY": "redact-coinw-key-D4E5F6", "BALCLI_COINW_API_SECRET": "redact-coinw-secret-Z7X6",
    "BALCLI_BINANCE_API_KEY": "redact-binance-key-G7H8I9", "BALCLI_BINANCE_API_SECRET": "redact-binance-secret-P0O9",
    "BALCLI_CRYPTOFUSE_CLIENT_ID": "redact-cf-client-J1K2L3", "BALCLI_CRYPTOFUSE_CLIENT_SECRET": "redact-cf-secret-M4N5",
}
STATIC_TOKEN = "redact-static-bearer-token-R5T6Y7"
WRONG = "redact-wrong-secret-U8I9"

# (command module, arguments): commands whose module is not there yet are skipped
COMMANDS = [
    ("broker", ["broker", "--max-items", "3"]),
    ("broker", ["broker", "--total", "--page-size", "20", "--max-items", "40"]),
    ("spot", ["spot"]),
    ("spot", ["spot", "--complete"]),
    ("snapshot", ["snapshot"]),
    ("invitees", ["invitees", "--max-items", "5", "--page-size", "5"]),
    ("oauth", ["oauth", "balances"]),
    ("oauth", ["oauth", "history", "--max-items", "5"]),
    ("auth", ["auth", "status"]),
    ("auth", ["auth", "status", "--check"]),
    ("config_cmd", ["config", "show"]),
]
CASES = [pytest.param(args, id=" ".join(args)) for module, args in COMMANDS
         if importlib.util.find_spec(f"balcli.commands.{module}")]


@pytest.fixture
def sb(sandbox, monkeypatch):
    for ex in ("zoomex", "coinw", "binance"):
        sandbox.accounts[ENV[f"BALCLI_{ex.upper()}_API_KEY"]] = ENV[f"BALCLI_{ex.upper()}_API_SECRET"]
    sandbox.accounts[ENV["BALCLI_CRYPTOFUSE_CLIENT_ID"]] = ENV["BALCLI_CRYPTOFUSE_CLIENT_SECRET"]
    sandbox.static_tokens[STATIC_TOKEN] = "read write"
    for ex in EXCHANGES:
        monkeypatch.setenv(f"BALCLI_{ex.upper()}_BASE_URL", sandbox.base_url)
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    return sandbox


def secrets_of(sb) -> list[str]:
    issued = list(sb.state.get("cryptofuse_tokens", {}))
    return [*ENV.values(), STATIC_TOKEN, WRONG, *issued]


def assert_clean(sb, r, args):
    shown = r.out + r.err
    leaked = [s for s in secrets_of(sb) if s in shown]
    assert leaked == [], f"{args}: {leaked} in the output"


@pytest.mark.parametrize("verbose", [[], ["-v"], ["-vv"]], ids=["quiet", "-v", "-vv"])
@pytest.mark.parametrize("args", CASES)
def test_success_never_shows_a_secret(sb, cli, args, verbose, no_sleep):
    r = cli(*verbose, *args, "--json")
    assert_clean(sb, r, args)
    if args[0] in ("broker", "auth", "config"):
        assert r.code == 0, r.err
    if verbose == ["-vv"] and args[0] in ("broker", "spot", "snapshot", "invitees", "oauth"):
        assert "***" in r.err  # the -vv log is there, redacted


@pytest.mark.parametrize("verbose", [["-v"], ["-vv"]], ids=["-v", "-vv"])
@pytest.mark.parametrize("args", CASES)
def test_rejected_credentials_never_show_a_secret(sb, cli, monkeypatch, args, verbose, no_sleep):
    for var in ENV:
        if var.endswith("_SECRET"):
            monkeypatch.setenv(var, WRONG)
    r = cli(*verbose, *args, "--json")
    assert_clean(sb, r, args)
    if args[0] in ("broker", "spot", "snapshot", "invitees", "oauth") or "--check" in args:
        assert r.code == 4, r.err


@pytest.mark.parametrize("fault", [
    {"fault": "http_error", "status": 500, "html": True},
    {"fault": "rate_limit"},
    {"fault": "invalid_json"},
], ids=lambda f: f["fault"])
@pytest.mark.parametrize("args", CASES)
def test_server_failures_never_show_a_secret(sb, cli, args, fault, no_sleep):
    sb.inject(**fault)
    r = cli("-vv", *args, "--json", "--max-retries", "1")
    assert_clean(sb, r, args)


def test_static_bearer_token_is_never_shown(sb, cli, monkeypatch, no_sleep):
    if not importlib.util.find_spec("balcli.commands.oauth"):
        pytest.skip("balcli oauth is not there yet")
    monkeypatch.delenv("BALCLI_CRYPTOFUSE_CLIENT_ID")
    monkeypatch.delenv("BALCLI_CRYPTOFUSE_CLIENT_SECRET")
    monkeypatch.setenv("BALCLI_CRYPTOFUSE_TOKEN", STATIC_TOKEN)
    for args in (["-vv", "oauth", "balances"], ["-vv", "auth", "status", "--check"], ["auth", "status"]):
        r = cli(*args, "--json")
        assert r.code == 0, r.err
        assert_clean(sb, r, args)


def test_local_credential_errors_never_show_a_secret(sb, cli, monkeypatch, config_dir):
    monkeypatch.delenv("BALCLI_ZOOMEX_API_SECRET")  # incomplete env
    r = cli("-vv", "broker", "--json")
    assert r.code == 3 and "BALCLI_ZOOMEX_API_SECRET is not set" in r.err
    assert_clean(sb, r, ["broker"])
    r = cli("-vv", "auth", "status")
    assert r.code == 3
    assert_clean(sb, r, ["auth", "status"])
    monkeypatch.delenv("BALCLI_ZOOMEX_API_KEY")
    path = config_dir / "credentials.yaml"
    path.write_text(f"default:\n  zoomex: {{api_key: {ENV['BALCLI_ZOOMEX_API_KEY']}, api_secret: {WRONG}}}\n")
    path.chmod(0o644)
    for args in (["broker"], ["auth", "status"], ["auth", "status", "--check"], ["config", "show"]):
        r = cli("-vv", *args, "--json")
        assert_clean(sb, r, args)
    assert cli("broker").code == 3


@pytest.mark.parametrize("body", ['{"access_token":"9f8e' + "0123456789abcdef" * 10 + "beef",
                                  "access_token=9f8e" + "0123456789abcdef" * 10 + "beef&token_type=bearer"])
def test_a_token_in_a_truncated_or_form_encoded_token_answer_is_never_shown(cli, body, no_sleep):
    """Was: `balcli: error: ... invalid JSON: '{"access_token":"9f8e0123...'` (the token, cut at 120 chars)."""
    import responses

    base = "https://cf.example.test"
    with responses.RequestsMock() as rsps:
        rsps.post(base + "/o/token/", body=body)
        r = cli("oauth", "balances", env={"BALCLI_CRYPTOFUSE_BASE_URL": base,
                                          "BALCLI_CRYPTOFUSE_CLIENT_ID": ENV["BALCLI_CRYPTOFUSE_CLIENT_ID"],
                                          "BALCLI_CRYPTOFUSE_CLIENT_SECRET": ENV["BALCLI_CRYPTOFUSE_CLIENT_SECRET"]})
        assert len(rsps.calls) == 1
    assert r.code == 7 and "Cryptofuse token endpoint answered HTTP 200 with invalid JSON" in r.err
    assert "access_token" in r.err and "***" in r.err
    assert "9f8e" not in r.err + r.out and "0123456789" not in r.err + r.out
