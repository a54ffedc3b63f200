"""balcli config path | show | init, settings precedence (flag > env > file > default), validation errors that
name file, key and line, profile selection, and config.example.yaml (documents every key, loads, ships)."""

from __future__ import annotations

import re
import stat
import sys
from pathlib import Path

import pytest

from balcli import config, exchanges, options
from tests.conftest import ZOOMEX_ENV

ROOT = Path(__file__).resolve().parent.parent


def show(cli, *args, env=None):
    r = cli(*args, "config", "show", "--json", env=env) if args and args[0].startswith("-") and args[0] in (
        "-p", "--profile", "--config", "--sandbox") else cli("config", "show", "--json", *args, env=env)
    return r, {row["key"]: (row["value"], row["origin"]) for row in (r.json() if r.code == 0 else [])}


def write(config_dir: Path, text: str) -> Path:
    path = config_dir / "config.yaml"
    path.write_text(text)
    return path


FILE = """\
default_profile: main
defaults:
  timeout: 20
  max_retries: 2
  format: csv
profiles:
  main:
    zoomex: {base_url: "https://zoomex.file.example", recv_window: 7000, rate_limit: 2}
    coinw: {timezone: "-05:00"}
  testnet:
    zoomex: {base_url: "https://openapi-testnet.zoomex.com"}
"""


# -- precedence ----------------------------------------------------------------------------------------------

def test_defaults_without_a_file(cli, isolated):
    r, s = show(cli)
    assert (r.code, r.err) == (0, "")
    assert s["profile"] == ("default", "default")
    assert s["config_file"] == (f"{isolated / 'config.yaml'} (not present)", "-")
    assert s["credentials_file"] == (str(isolated / "credentials.yaml"), "default")
    assert s["timeout"] == ("10.0", "default") and s["max_retries"] == ("4", "default")
    assert s["format"] == ("table on a terminal, tsv otherwise", "default")
    assert s["zoomex.base_url"] == ("https://openapi.zoomex.com", "default")
    assert s["coinw.timezone"] == ("+08:00", "default")
    assert s["binance.recv_window"] == ("5000", "default")
    assert s["cryptofuse.rate_limit"] == ("the command's documented rate", "default")


@pytest.mark.parametrize(("key", "flag", "env_var", "file_value", "env_value", "flag_value"), [
    ("timeout", "--timeout", "BALCLI_TIMEOUT", "20", "30.0", "40.0"),
    ("max_retries", "--max-retries", "BALCLI_MAX_RETRIES", "2", "3", "5"),
    ("format", "-o", "BALCLI_FORMAT", "csv", "ndjson", "tsv"),  # the flag: see test_format_flag_origin
    ("zoomex.base_url", "--base-url", "BALCLI_ZOOMEX_BASE_URL", "https://zoomex.file.example",
     "https://zoomex.env.example", "https://flag.example"),
])
def test_flag_beats_env_beats_file_beats_default(cli, config_dir, key, flag, env_var, file_value, env_value,
                                                 flag_value):
    write(config_dir, FILE)
    _, s = show(cli)
    assert s[key] == (file_value, "file")
    env = {env_var: env_value}
    r, s = show(cli, env=env)
    assert s[key] == (env_value, "env")
    if key == "format":  # config show's own -o formats its output; the row shows what other commands use
        r = cli("config", "show", flag, flag_value, env=env)
        assert ["format", env_value, "env"] in [line.split("\t") for line in r.out.splitlines()]
        return
    r, s = show(cli, flag, flag_value, env=env)
    assert s[key] == (flag_value, "flag")


def test_format_flag_origin():
    s = config.load(env={"BALCLI_FORMAT": "csv"}).override(format="json")
    assert (s.format.value, s.format.origin) == ("json", "flag")


def test_env_beats_file_for_the_coinw_timezone_and_file_keys(cli, config_dir):
    write(config_dir, FILE)
    _, s = show(cli)
    assert s["coinw.timezone"] == ("-05:00", "file")
    assert s["zoomex.recv_window"] == ("7000", "file") and s["zoomex.rate_limit"] == ("2", "file")
    _, s = show(cli, env={"BALCLI_COINW_TIMEZONE": "+01:00"})
    assert s["coinw.timezone"] == ("+01:00", "env")


def test_base_url_flag_in_config_show_sets_every_exchange(cli):
    _, s = show(cli, "--base-url", "http://127.0.0.1:9/")
    assert {s[f"{ex}.base_url"] for ex in exchanges.NAMES} == {("http://127.0.0.1:9", "flag")}


def test_sandbox_origin(cli):
    r = cli("--sandbox", "config", "show", "--json")
    s = {row["key"]: (row["value"], row["origin"]) for row in r.json()}
    assert s["binance.base_url"][1] == "sandbox" and s["binance.base_url"][0].startswith("http://127.0.0.1:")


@pytest.mark.parametrize(("var", "value"), [("BALCLI_TIMEOUT", "soon"), ("BALCLI_MAX_RETRIES", "99"),
                                            ("BALCLI_FORMAT", "xml"), ("BALCLI_ZOOMEX_BASE_URL", "ftp://x"),
                                            ("BALCLI_TIMEOUT", "inf"), ("BALCLI_TIMEOUT", "nan"),
                                            ("BALCLI_TIMEOUT", "0.01"), ("BALCLI_TIMEOUT", "1e9"),
                                            ("BALCLI_BINANCE_BASE_URL", "http://127.0.0.1:99999"),
                                            ("BALCLI_COINW_BASE_URL", "https:// spaces")])
def test_bad_env_values_name_the_variable(cli, var, value):
    r = cli("config", "show", env={var: value})
    assert r.code == 3 and f"{var}={value!r} is not valid" in r.err


# -- validation: file, key and line -----------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "message"), [
    ("defaults:\n  timeout: 10\n  colour: red\n", ":3: defaults.colour: unknown key"),
    ("profiles:\n  main:\n    zoomex:\n      recv_windw: 5000\n", ":4: profiles.main.zoomex.recv_windw: unknown key"),
    ("profiles:\n  main:\n    kraken: {}\n", ":3: profiles.main.kraken: unknown key"),
    ("api_secret: hunter2\n", ":1: api_secret: unknown key"),
    ("defaults:\n  timeout: -1\n", ":2: defaults.timeout: must be a number from 0.1 to 600"),
    ("defaults:\n  timeout: .inf\n", ":2: defaults.timeout: must be a number from 0.1 to 600 (got inf)"),
    ("defaults: {timeout: .nan}\n", ":1: defaults.timeout: must be a number from 0.1 to 600 (got nan)"),
    ("defaults:\n  timeout: 601\n", ":2: defaults.timeout: must be a number from 0.1 to 600"),
    ("profiles:\n  p:\n    zoomex: {rate_limit: .nan}\n", ":3: profiles.p.zoomex.rate_limit: must be a number "
     "from 0.01 to 1000 (got nan)"),
    ("profiles:\n  p:\n    coinw:\n      rate_limit: 0.0000001\n", ":4: profiles.p.coinw.rate_limit: must be"),
    ("profiles:\n  p:\n    binance:\n      rate_limit: .inf\n", ":4: profiles.p.binance.rate_limit: must be"),
    ("profiles:\n  p:\n    cryptofuse:\n      rate_limit: 0\n", ":4: profiles.p.cryptofuse.rate_limit: must be"),
    ("defaults:\n  max_retries: 50\n", ":2: defaults.max_retries: must be a whole number from 0 to 20"),
    ("defaults:\n  format: xml\n", ":2: defaults.format: must be one of table, json, ndjson, csv, tsv, prometheus"),
    ("profiles:\n  p:\n    binance: {recv_window: 0}\n", ":3: profiles.p.binance.recv_window: must be a whole"),
    ("profiles:\n  p:\n    coinw:\n      timezone: CET\n", ":4: profiles.p.coinw.timezone: must be a UTC offset"),
    ("profiles:\n  p:\n    zoomex:\n      base_url: openapi.zoomex.com\n", ":4: profiles.p.zoomex.base_url: must"),
    ("defaults: [1, 2\n", "config.yaml:2: did not find expected ',' or ']'"),  # libyaml's words
    ("defaults:\n  timeout: 10\n   bad: [\n", "config.yaml:3: "),
    ("profiles:\n  p:\n    binance:\n      base_url: http://127.0.0.1:99999\n",
     ":4: profiles.p.binance.base_url: must be an http(s) URL with a host; this one has an invalid host or port"),
    ("profiles:\n  p:\n    zoomex: {testnet_base_url: 'https:// spaces'}\n",
     ":3: profiles.p.zoomex.testnet_base_url: must be an http(s) URL"),
])
def test_bad_files_are_rejected_naming_file_key_and_line(cli, config_dir, text, message):
    path = write(config_dir, text)
    r = cli("config", "show")
    assert r.code == 3 and r.out == ""
    assert r.err.startswith(f"balcli: error: {path}")
    assert message in r.err
    r = cli("broker", "--json")  # every command reads it the same way, before any request
    assert r.code == 3 and message in r.err


@pytest.mark.parametrize(("text", "env"), [("defaults: {timeout: .inf}\n", None),
                                           ("defaults: {timeout: .nan}\n", None),
                                           ("", {"BALCLI_TIMEOUT": "inf"})])
def test_an_unusable_timeout_is_exit_3_before_any_output(cli, config_dir, text, env):
    """Was: the tsv header, then internal error (OverflowError / ValueError), exit 1."""
    write(config_dir, text)
    r = cli("broker", "-o", "tsv", "--max-retries", "0",
            env={**ZOOMEX_ENV, "BALCLI_ZOOMEX_BASE_URL": "http://127.0.0.1:9", **(env or {})})
    assert (r.code, r.out) == (3, "")
    assert ("BALCLI_TIMEOUT='inf' is not valid: must be a number from 0.1 to 600" in r.err if env
            else "defaults.timeout: must be a number from 0.1 to 600" in r.err)


def test_a_config_read_before_comes_from_the_cache_without_yaml(config_dir, cache_dir, monkeypatch):
    path = write(config_dir, FILE)
    first = config.load()
    entry = cache_dir / config.CACHE_FILE
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600 and stat.S_IMODE(cache_dir.stat().st_mode) == 0o700
    monkeypatch.setitem(sys.modules, "yaml", None)  # `import yaml` now fails: only the cache can answer
    assert config.load() == first
    path.write_text(FILE.replace("timeout: 20", "timeout: 30"))  # an edited file is parsed again
    with pytest.raises(ImportError):
        config.load()
    monkeypatch.delitem(sys.modules, "yaml")
    assert config.load().timeout == config.Setting(30, "file")


@pytest.mark.parametrize("damage", ["corrupt", "unwritable", "not cacheable"])
def test_a_damaged_or_missing_cache_only_costs_a_parse(config_dir, cache_dir, monkeypatch, tmp_path, damage):
    text = FILE
    if damage == "corrupt":
        cache_dir.mkdir(parents=True)
        (cache_dir / config.CACHE_FILE).write_text('{"format": 1, "text": ')
    elif damage == "unwritable":
        (tmp_path / "not-a-dir").write_text("")
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "not-a-dir"))
    else:
        text = FILE.replace("  testnet:", "  2025-01-01:")  # a key that JSON would turn into a string
    write(config_dir, text)
    assert [config.load().timeout for _ in range(2)] == [config.Setting(20, "file")] * 2
    if damage == "not cacheable":
        assert not (cache_dir / config.CACHE_FILE).exists()


def test_missing_explicit_config_file_is_exit_3(cli, tmp_path):
    missing = tmp_path / "nope.yaml"
    for args, env in ((("--config", str(missing)), None), ((), {"BALCLI_CONFIG": str(missing)})):
        r = cli(*args, "config", "show", env=env)
        assert r.code == 3
        assert f"config file {missing} does not exist" in r.err and "balcli config init" in r.err


def test_missing_default_config_file_is_fine(cli):
    assert cli("config", "show").code == 0


# -- profiles --------------------------------------------------------------------------------------------------

def test_profile_selection_order(cli, config_dir):
    write(config_dir, FILE)
    _, s = show(cli)
    assert s["profile"] == ("main", "file") and s["zoomex.base_url"] == ("https://zoomex.file.example", "file")
    r, s = show(cli, env={"BALCLI_PROFILE": "testnet"})
    assert s["profile"] == ("testnet", "env")
    assert s["zoomex.base_url"] == ("https://openapi-testnet.zoomex.com", "file")
    assert s["zoomex.recv_window"] == ("5000", "default")  # a profile does not inherit another's settings
    assert s["timeout"] == ("20", "file")  # but `defaults` apply to every profile
    r, s = show(cli, "-p", "main", env={"BALCLI_PROFILE": "testnet"})
    assert s["profile"] == ("main", "flag")
    r = cli("-p", "prod", "config", "show")
    assert r.code == 3 and "profile 'prod' is not defined" in r.err and "known profiles: main, testnet" in r.err


# -- config path -------------------------------------------------------------------------------------------------

def test_path_prints_only_the_path_and_notes_a_missing_file(cli, isolated, tmp_path):
    r = cli("config", "path")
    assert (r.code, r.out) == (0, f"{isolated / 'config.yaml'}\n")
    assert "does not exist yet" in r.err
    write(isolated.parent / "balcli" if isolated.exists() else _mk(isolated), "")
    r = cli("config", "path")
    assert (r.code, r.out, r.err) == (0, f"{isolated / 'config.yaml'}\n", "")
    other = tmp_path / "other.yaml"
    assert cli("--config", str(other), "config", "path").out == f"{other}\n"
    assert cli("config", "path", env={"BALCLI_CONFIG": str(other)}).out == f"{other}\n"


def _mk(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def test_path_works_even_when_the_file_is_broken(cli, config_dir):
    write(config_dir, "defaults: {colour: red}\n")
    assert cli("config", "path").code == 0


# -- config init --------------------------------------------------------------------------------------------------

def test_init_writes_the_example_and_refuses_to_overwrite(cli, isolated):
    r = cli("config", "init")
    path = isolated / "config.yaml"
    assert r.code == 0 and r.out == "" and r.err == f"balcli: wrote {path}\n"
    assert path.read_text() == (ROOT / "config.example.yaml").read_text()
    path.write_text("defaults: {timeout: 30}\n")
    r = cli("config", "init")
    assert r.code == 3
    assert f"{path} already exists; not overwriting it" in r.err and "--force" in r.err
    assert path.read_text() == "defaults: {timeout: 30}\n"
    r = cli("config", "init", "--force")
    assert r.code == 0 and "config.yaml.bak" in r.err
    assert path.with_name("config.yaml.bak").read_text() == "defaults: {timeout: 30}\n"
    assert path.read_text() == (ROOT / "config.example.yaml").read_text()
    _, s = show(cli)
    assert r.code == 0 and s["timeout"] == ("10.0", "default")  # the starter file changes nothing


def test_init_honours_config(cli, tmp_path):
    target = tmp_path / "etc" / "balcli.yaml"
    assert cli("--config", str(target), "config", "init").code == 0
    assert target.exists()


# -- config.example.yaml ---------------------------------------------------------------------------------------

def example() -> str:
    return (ROOT / "config.example.yaml").read_text()


def uncommented(text: str) -> str:
    """Every commented-out setting (`#key: value`) switched on."""
    return re.sub(r"(?m)^(\s*)#([a-z_]+:)", r"\1\2", text)


def test_package_copy_is_identical_to_the_top_level_one():
    assert config.example_text() == example()


def test_example_loads_as_is_and_with_every_setting_switched_on(tmp_path):
    plain = tmp_path / "plain.yaml"
    plain.write_text(example())
    s = config.load(config=str(plain), env={})
    assert s.timeout.origin == "default"  # as shipped it only documents
    full = tmp_path / "full.yaml"
    full.write_text(uncommented(example()))
    s = config.load(config=str(full), env={})
    assert s.timeout.value == options.TIMEOUT.default and s.timeout.origin == "file"
    assert s.max_retries.value == options.MAX_RETRIES.default
    for ex in exchanges.NAMES:
        assert s.exchange(ex, "base_url") == exchanges.get(ex).default_base_url
    assert s.exchange("coinw", "timezone") == options.TIMEZONE.default
    assert s.exchange("zoomex", "recv_window") == s.exchange("binance", "recv_window") == options.RECV_WINDOW.default
    assert s.exchange("zoomex", "testnet_base_url") == exchanges.get("zoomex").key("testnet_base_url").default


def test_example_documents_every_accepted_key_and_says_secrets_never_go_there():
    import yaml

    data = yaml.safe_load(uncommented(example()))
    assert set(data) == set(config.TOP_KEYS)
    assert set(data["defaults"]) == set(config.DEFAULTS_KEYS)
    documented = data["profiles"]["default"]
    assert set(documented) == set(config.PROFILE_KEYS)
    assert data["summary"] == {"snapshot_types": list(config.DEFAULT_SNAPSHOT_TYPES)}
    for ex, keys in {e.name: [o.name for o in e.keys] for e in exchanges.EXCHANGES.values()}.items():
        assert set(documented[ex]) == set(keys), ex
    assert "SECRETS NEVER GO HERE" in example()
