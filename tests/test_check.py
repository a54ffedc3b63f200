"""balcli check against the sandbox: exact comparisons at the boundaries, exit 0/8/the failed source's code, only
the needed sources queried, rules from the config, --nagios and -o prometheus."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from balcli import rules
from balcli.commands.check import nagios_range

# The sandbox's figures the rules below lean on (see test_summary for how each is summed).
SPOT_USDT = "1257.768301140000000"
BROKER_BTC = "197530864219783206898.077849528000000003"  # 21 digits before the point, 18 after
SPOT_DUST = "0.000000000000000001"


@pytest.fixture
def real_env(sandbox, sandbox_env, config_dir):
    (config_dir / "config.yaml").write_text("profiles:\n  default:\n    binance: {rate_limit: 100}\n")
    return sandbox_env


@pytest.fixture
def env(real_env):
    """As ``real_env``, on the fake clock: rate-limit pacing costs no time (the sandbox, in this process, reads
    the same clock, so it sees the pacing it expects)."""
    return real_env


def statuses(r):
    return {row["name"]: (row["status"], row["value"]) for row in r.json()}


@pytest.mark.parametrize("rule,status", [
    (f"spot:USDT=={SPOT_USDT}", "ok"),
    ("spot:USDT==1257.76830114", "ok"),  # the same number: trailing zeros do not matter
    ("spot:USDT!=1257.76830114", "breach"),
    ("spot:USDT>=1257.76830114", "ok"),
    ("spot:USDT>1257.76830114", "breach"),
    ("spot:USDT<1257.768301140000000000000000001", "ok"),
    (f"broker:BTC>{BROKER_BTC[:-1]}2", "ok"),  # 39 significant digits: one unit in the last place decides
    (f"broker:BTC>={BROKER_BTC[:-1]}4", "breach"),
    ("spot:DUST>0", "ok"),
    (f"spot:DUST=={SPOT_DUST}", "ok"),
    ("spot:DUST>=0.000000000000000002", "breach"),
    ("spot:NOCOIN==0", "ok"),  # a coin with no row counts as 0
    ("spot:NOCOIN>0", "breach"),
    ("oauth.sub_accounts:BTC<=0", "ok"),
])
def test_rules_compare_exactly_at_the_boundaries(sandbox, env, cli, rule, status):
    r = cli("check", rule, "--json")
    assert r.code == (0 if status == "ok" else 8), r.err
    [row] = r.json()
    assert (row["name"], row["status"]) == (rule, status)
    assert r.err == ""


def test_rows_and_exit_8_when_a_rule_is_breached(sandbox, env, cli):
    r = cli("check", "spot:USDT>=500", "spot:usdt >= 1500", "customers:USDT<1", "--json")
    assert r.code == 8 and r.err == ""
    assert r.json() == [
        {"name": "spot:USDT>=500", "rule": "spot:USDT>=500", "value": SPOT_USDT, "status": "ok",
         "detail": f"{SPOT_USDT} >= 500 is true; from spot"},
        {"name": "spot:usdt >= 1500", "rule": "spot:USDT>=1500", "value": SPOT_USDT, "status": "breach",
         "detail": f"{SPOT_USDT} >= 1500 is false; from spot"},
        {"name": "customers:USDT<1", "rule": "customers:USDT<1", "value": "98765432109907620596.258813429000000002",
         "status": "breach", "detail": "98765432109907620596.258813429000000002 < 1 is false; from broker+invitees"},
    ]


def test_only_the_sources_the_rules_need_are_queried(sandbox, env, cli):
    r = cli("check", "spot:USDT>=1", "snapshot.futures:USDT>=0", "--json")
    assert r.code == 0, r.err
    assert {q.api for q in sandbox.requests} == {"coinw_spot", "binance"}
    assert [dict(q.query)["type"] for q in sandbox.requests if q.api == "binance"] == ["FUTURES"]


def test_a_holder_rule_reads_every_configured_source_of_that_holder(sandbox, env, cli, monkeypatch):
    monkeypatch.delenv("BALCLI_ZOOMEX_API_KEY")
    monkeypatch.delenv("BALCLI_ZOOMEX_API_SECRET")
    r = cli("check", "customers:USDT>=0", "--json")
    assert r.code == 0, r.err
    assert r.json()[0]["detail"].endswith("from invitees")
    assert {q.api for q in sandbox.requests} == {"coinw_affiliate"}


# -- a source failing: unknown, never "fine" nor "breached" --------------------------------------------------

@pytest.mark.parametrize("way,code", [("refused", 4), ("5xx", 6), ("rate-limited", 5)])
def test_a_failed_source_makes_its_rules_unknown_and_exits_with_its_code(sandbox, env, cli, monkeypatch,
                                                                         way, code):
    if way == "refused":
        monkeypatch.setenv("BALCLI_BINANCE_API_SECRET", "not-the-secret")
    elif way == "5xx":
        sandbox.inject("http_error", api="binance", status=500)
    else:
        sandbox.inject("rate_limit", api="binance", retry_after=1)
    r = cli("check", "spot:USDT>=1500", "snapshot.spot:BTC>=1", "own:BTC>=0", "--json", "--max-retries", "1")
    assert r.code == code, r.err  # a breach (spot) and an unknown: the unknown's code, not 8
    got = statuses(r)
    assert got["spot:USDT>=1500"] == ("breach", SPOT_USDT)
    assert got["snapshot.spot:BTC>=1"] == ("unknown", None) and got["own:BTC>=0"] == ("unknown", None)
    assert f"balcli: snapshot: failed (exit {code}): Binance" in r.err
    assert "balcli: error: snapshot: Binance" in r.err and "balcli: spot:" not in r.err  # only failures, by default


# -- parsing: exit 2 naming the rule, before any request ----------------------------------------------------

@pytest.mark.parametrize("rule,why", [
    ("spot:USDT", "has no comparison"),
    ("spot USDT>=1", "has no SCOPE:COIN"),
    ("spot:USDT>=abc", "is not SELECTOR OP AMOUNT"),
    ("spot:USDT>=1e3", "not a plain decimal"),
    ("spot:USDT>=1,000", "not a plain decimal"),
    ("spot:USDT=>1", "is not SELECTOR OP AMOUNT"),
    ("nasdaq:USDT>=1", "unknown scope or holder 'nasdaq'"),
    ("snapshot.options:USDT>=1", "unknown scope"),
])
def test_a_rule_that_does_not_parse_is_exit_2_before_any_request(sandbox, env, cli, rule, why):
    r = cli("check", "spot:USDT>=1", rule)
    assert (r.code, r.out) == (2, ""), r.err
    assert r.err.startswith(f"balcli: error: rule {rule!r}") and why in r.err and "\nhint: " in r.err
    assert sandbox.requests == []


def test_no_rule_at_all_is_a_usage_error(env, cli):
    r = cli("check")
    assert r.code == 2 and "no rules to check" in r.err


# -- rules from the config -----------------------------------------------------------------------------------

def test_rules_come_from_the_profile_and_the_command_line(sandbox, env, cli, config_dir):
    (config_dir / "config.yaml").write_text(
        "profiles:\n  default:\n    checks:\n      - {name: low-spot-usdt, rule: 'spot:USDT>=500'}\n"
        "      - {name: dust, rule: 'spot:DUST<0.000000000000000001'}\n")
    r = cli("check", "oauth.account:ETH>30", "--json")
    assert r.code == 8, r.err
    assert [(row["name"], row["rule"], row["status"]) for row in r.json()] == [
        ("low-spot-usdt", "spot:USDT>=500", "ok"), ("dust", "spot:DUST<0.000000000000000001", "breach"),
        ("oauth.account:ETH>30", "oauth.account:ETH>30", "ok")]


def test_a_config_rule_that_does_not_parse_names_it(sandbox, env, cli, config_dir):
    (config_dir / "config.yaml").write_text("profiles:\n  default:\n    checks: [{name: low, rule: 'spot:USDT>>1'}]\n")
    r = cli("check", "--json")
    assert r.code == 2 and "rule 'low' ('spot:USDT>>1')" in r.err
    assert sandbox.requests == []
    assert cli("spot", "--json").code == 0  # a bad rule stops only `check`


def test_a_malformed_checks_list_is_exit_3_naming_file_and_line(env, cli, config_dir):
    (config_dir / "config.yaml").write_text("profiles:\n  default:\n    checks:\n      - rule: 'spot:USDT>=1'\n")
    r = cli("check", "--json")
    assert r.code == 3 and "config.yaml:3: profiles.default.checks: entry 1 must have exactly" in r.err


# -- --nagios ------------------------------------------------------------------------------------------------

def test_nagios_critical_line_with_perfdata(sandbox, env, cli):
    # The house's BTC includes the latest Binance snapshot, which the sandbox makes for each real day: its
    # amount is read from summary, and its rule (>= 0) holds whatever the day's figure
    summary = json.loads(cli("summary", "--by", "coin", "--coin", "BTC", "--json").out)
    own_btc = next(x["amount"] for x in summary if x["holder"] == "own")
    assert Decimal(own_btc) > 0
    r = cli("check", "--nagios", "spot:USDT>=1500", "own:BTC>=0", "spot:NOCOIN<1")
    assert r.code == 2 and r.err == ""
    assert r.out == (f"BALCLI CRITICAL - 1 of 3 rules breached: spot:USDT>=1500 (1257.76830114) | "
                     f"'spot:USDT'={SPOT_USDT};;1500: 'own:BTC'={own_btc};;0: 'spot:NOCOIN'=0;;@1:\n")


def test_nagios_ok_and_unknown(sandbox, env, cli):
    r = cli("check", "--nagios", "spot:USDT>=500")
    assert (r.code, r.out) == (0, f"BALCLI OK - 1 rule ok | 'spot:USDT'={SPOT_USDT};;500:\n")
    sandbox.inject("http_error", api="coinw_spot", status=503)
    r = cli("check", "--nagios", "spot:USDT>=500", "--max-retries", "0")
    assert (r.code, r.out) == (3, "BALCLI UNKNOWN - 1 of 1 rule unknown: spot could not be read\n")
    assert "balcli: error: spot:" in r.err


def test_nagios_says_unknown_when_it_cannot_run_the_check(sandbox, env, cli, monkeypatch):
    r = cli("check", "--nagios", "spot:USDT>>1")
    assert r.code == 3 and r.out.startswith("BALCLI UNKNOWN - rule 'spot:USDT>>1' is not SELECTOR OP AMOUNT")
    monkeypatch.delenv("BALCLI_COINW_API_KEY")
    monkeypatch.delenv("BALCLI_COINW_API_SECRET")
    r = cli("check", "--nagios", "spot:USDT>=1")
    assert r.code == 3 and r.out.startswith("BALCLI UNKNOWN - no coinw credentials")
    assert sandbox.requests == []


@pytest.mark.parametrize("op,alerts_at", [(">=", [499]), (">", [499, 500]), ("<=", [501]), ("<", [500, 501]),
                                          ("==", [499, 501]), ("!=", [500])])
def test_nagios_ranges_alert_exactly_when_the_rule_fails(op, alerts_at):
    """The monitoring-plugins range semantics: 'A:B' alerts outside [A, B] (~ is -inf, empty B is +inf);
    '@A:B' alerts inside."""
    text = nagios_range(op, "500")
    inside = text.startswith("@")
    lo, _, hi = text.lstrip("@").partition(":") if ":" in text else ("0", "", text)
    lo_v = float("-inf") if lo == "~" else float(lo)
    hi_v = float("inf") if hi == "" else float(hi)
    for v in (499, 500, 501):
        alert = (lo_v <= v <= hi_v) if inside else not (lo_v <= v <= hi_v)
        assert alert == (v in alerts_at), (op, text, v)
        assert alert == (not rules.OPS[op](v, 500))


# -- -o prometheus -------------------------------------------------------------------------------------------

def test_prometheus_check_ok_is_absent_when_unknown(sandbox, env, cli):
    from prometheus_client.parser import text_string_to_metric_families

    sandbox.inject("http_error", api="cryptofuse", status=502)
    r = cli("check", "spot:USDT>=1500", "spot:USDT>=500", "oauth.account:ETH>=1", "-o", "prometheus",
            "--max-retries", "0")
    assert r.code == 6
    families = {f.name: f for f in text_string_to_metric_families(r.out)}
    assert {s.labels["name"]: s.value for s in families["balcli_check_ok"].samples} == {
        "spot:USDT>=1500": 0.0, "spot:USDT>=500": 1.0}
    assert {s.labels["source"]: s.value for s in families["balcli_source_up"].samples} == {"spot": 1.0, "oauth": 0.0}
    assert "balcli_last_run_timestamp_seconds" in families


def test_a_breach_still_replaces_the_output_file(sandbox, env, cli, tmp_path):
    target = tmp_path / "check.prom"
    target.write_text("old\n")
    r = cli("check", "spot:USDT>=1500", "-o", "prometheus", "-O", str(target))
    assert (r.code, r.out) == (8, "")
    assert 'balcli_check_ok{name="spot:USDT>=1500",rule="spot:USDT>=1500"} 0\n' in target.read_text()


def test_exit_8_is_documented():
    from balcli.app import HELP
    from balcli.errors import ExitCode

    assert ExitCode.BREACH == 8 and "8 `check`: a rule breached" in HELP
