"""Credential resolution (env > keyring > file), incomplete or bad entries, the file's mode, and a keyring that
hangs or fails: it is skipped within a bounded time (a note under -v), never prompting, never blocking."""

from __future__ import annotations

import json
import os
import stat
import sys
import threading
import time

import keyring
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from keyring.backend import KeyringBackend
from keyring.backends import fail

from balcli import credentials
from balcli.errors import ConfigError

KEY, SECRET = "file-zoomex-key-0000001", "file-zoomex-secret-0001"


def creds_file(path, text, mode=0o600):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)
    return path


@pytest.fixture
def cfile(config_dir):
    return creds_file(config_dir / "credentials.yaml",
                      f"default:\n  zoomex: {{api_key: {KEY}, api_secret: {SECRET}}}\n"
                      "other:\n  zoomex: {api_key: other-key-000000001, api_secret: other-secret}\n")


def env_of(key="env-key-0000000001", secret="env-secret"):
    return {"BALCLI_ZOOMEX_API_KEY": key, "BALCLI_ZOOMEX_API_SECRET": secret}


def put_keyring(backend, profile="default", exchange="zoomex", **fields):
    backend.items[("balcli", f"{profile}/{exchange}")] = json.dumps(fields)


# -- resolution order --------------------------------------------------------------------------------------------

def test_env_then_keyring_then_file(memory_keyring, cfile):
    put_keyring(memory_keyring, api_key="ring-key-0000000001", api_secret="ring-secret")
    c = credentials.resolve("zoomex", "default", cfile, env=env_of())
    assert (c.source, c.fields["api_key"], c.location) == ("env", "env-key-0000000001", "environment")
    c = credentials.resolve("zoomex", "default", cfile, env={})
    assert (c.source, c.fields["api_key"], c.location) == ("keyring", "ring-key-0000000001",
                                                           "keyring balcli/default/zoomex")
    memory_keyring.items.clear()
    c = credentials.resolve("zoomex", "default", cfile, env={})
    assert (c.source, c.fields, c.location) == ("file", {"api_key": KEY, "api_secret": SECRET}, str(cfile))


def test_profile_selects_keyring_user_and_file_section(memory_keyring, cfile):
    put_keyring(memory_keyring, profile="ring", api_key="ring-key-0000000001", api_secret="ring-secret")
    assert credentials.resolve("zoomex", "other", cfile, env={}).fields["api_key"] == "other-key-000000001"
    assert credentials.resolve("zoomex", "ring", cfile, env={}).source == "keyring"
    assert credentials.find("zoomex", "nobody", cfile, env={}) is None


def test_missing_credentials_name_the_env_vars_and_auth_set(cli):
    r = cli("broker", "--json")
    assert r.code == 3 and r.out == ""
    assert "no zoomex credentials found for profile 'default'" in r.err
    assert "BALCLI_ZOOMEX_API_KEY + BALCLI_ZOOMEX_API_SECRET" in r.err and "balcli auth set zoomex" in r.err


def test_cryptofuse_token_or_client_pair():
    c = credentials.resolve("cryptofuse", "default", credentials.Path("/nonexistent"),
                            env={"BALCLI_CRYPTOFUSE_TOKEN": "bearer-token-00000001"})
    assert c.fields == {"token": "bearer-token-00000001"} and c.masked_key() == "bear…0001"
    c = credentials.resolve("cryptofuse", "default", credentials.Path("/nonexistent"),
                            env={"BALCLI_CRYPTOFUSE_CLIENT_ID": "client-00000001",
                                 "BALCLI_CRYPTOFUSE_CLIENT_SECRET": "s3cret"})
    assert c.fields == {"client_id": "client-00000001", "client_secret": "s3cret"}


@pytest.mark.parametrize(("env", "missing"), [
    ({"BALCLI_ZOOMEX_API_KEY": "k" * 16}, "BALCLI_ZOOMEX_API_SECRET is not set"),
    ({"BALCLI_ZOOMEX_API_SECRET": "s" * 16}, "BALCLI_ZOOMEX_API_KEY is not set"),
])
def test_incomplete_env_is_an_error_not_a_fall_through(cli, memory_keyring, env, missing):
    put_keyring(memory_keyring, api_key="ring-key-0000000001", api_secret="ring-secret")
    r = cli("broker", "--json", env=env)
    assert r.code == 3
    assert f"zoomex credentials in the environment are incomplete: {missing}" in r.err
    assert "k" * 16 not in r.err and "s" * 16 not in r.err


def test_incomplete_cryptofuse_env():
    with pytest.raises(ConfigError, match="BALCLI_CRYPTOFUSE_CLIENT_SECRET is not set"):
        credentials.from_env("cryptofuse", {"BALCLI_CRYPTOFUSE_CLIENT_ID": "client-00000001"})


@pytest.mark.parametrize("stored", ["not json", json.dumps({"api_key": "only-the-key-0001"}), json.dumps(["x"]),
                                    json.dumps({"api_key": "", "api_secret": "s"})])
def test_bad_keyring_entry_is_exit_3_saying_store_it_again(cli, memory_keyring, stored):
    memory_keyring.items[("balcli", "default/zoomex")] = stored
    r = cli("broker", "--json")
    assert r.code == 3
    assert "the keyring entry balcli/default/zoomex is not a valid zoomex credential" in r.err
    assert "balcli auth set zoomex" in r.err
    assert "only-the-key-0001" not in r.err


def test_incomplete_file_entry(config_dir):
    path = creds_file(config_dir / "credentials.yaml", "default:\n  binance: {api_key: abc}\n")
    with pytest.raises(ConfigError, match=r"default\.binance does not hold a complete binance credential"):
        credentials.resolve("binance", "default", path, env={})


# -- the file's mode ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606])
def test_file_readable_or_writable_by_others_is_refused(cli, cfile, mode):
    os.chmod(cfile, mode)
    r = cli("broker", "--json")
    assert r.code == 3 and r.out == ""
    assert f"{cfile} is readable by others (mode {mode:04o}); refusing to use it" in r.err
    assert f"hint: chmod 600 {cfile}" in r.err
    assert SECRET not in r.err


def test_mode_0400_is_fine(cfile):
    os.chmod(cfile, 0o400)
    assert credentials.resolve("zoomex", "default", cfile, env={}).source == "file"


def test_write_private_is_0600_in_a_0700_dir_and_atomic(tmp_path):
    path = tmp_path / "new" / "dir" / "credentials.yaml"
    credentials.write_private(path, "a: 1\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    credentials.write_private(path, "a: 2\n")
    assert path.read_text() == "a: 2\n" and sorted(p.name for p in path.parent.iterdir()) == ["credentials.yaml"]


def test_store_file_keeps_other_entries_and_remove_prunes(tmp_path):
    path = tmp_path / "c.yaml"
    credentials.store_file("zoomex", "a", {"api_key": "k1", "api_secret": "s1"}, path)
    credentials.store_file("coinw", "a", {"api_key": "k2", "api_secret": "s2", "junk": "x"}, path)
    credentials.store_file("zoomex", "b", {"api_key": "k3", "api_secret": "s3"}, path)
    assert credentials.read_file(path) == {"a": {"zoomex": {"api_key": "k1", "api_secret": "s1"},
                                                 "coinw": {"api_key": "k2", "api_secret": "s2"}},
                                           "b": {"zoomex": {"api_key": "k3", "api_secret": "s3"}}}
    assert credentials.remove_file("zoomex", "b", path) == str(path)
    assert credentials.remove_file("zoomex", "b", path) is None
    assert set(credentials.read_file(path)) == {"a"}


# -- a keyring that is absent, broken or hanging -------------------------------------------------------------------

class HangingKeyring(KeyringBackend):
    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.reads: list[str] = []

    def get_password(self, service, username):
        self.reads.append(username)
        self.release.wait(30)  # a locked keyring waiting for an unlock dialog nobody will see

    def set_password(self, service, username, password):
        self.release.wait(30)

    def delete_password(self, service, username):
        self.release.wait(30)


class BrokenKeyring(HangingKeyring):
    def get_password(self, service, username):
        raise RuntimeError("dbus: no session bus")


@pytest.fixture
def hanging(monkeypatch):
    backend = HangingKeyring()
    keyring.set_keyring(backend)
    monkeypatch.setattr(credentials, "KEYRING_TIMEOUT", 0.2)
    monkeypatch.setattr(credentials, "_unresponsive", [], raising=False)  # each test is a new process
    yield backend
    backend.release.set()


def new_process(monkeypatch):
    """What a second run starts with: a keyring not yet known to hang."""
    monkeypatch.setattr(credentials, "_unresponsive", [], raising=False)


def test_no_backend_is_skipped_without_noise(cfile):
    keyring.set_keyring(fail.Keyring())
    notes = []
    c = credentials.resolve("zoomex", "default", cfile, env={}, note=notes.append)
    assert c.source == "file" and notes == []


def test_hanging_keyring_is_abandoned_within_the_bound(hanging, cfile):
    notes = []
    started = time.monotonic()
    c = credentials.resolve("zoomex", "default", cfile, env={}, note=notes.append)
    assert time.monotonic() - started < 2
    assert c.source == "file"
    assert notes == ["keyring did not answer within 0 s while reading default/zoomex; skipped"]


def test_broken_keyring_is_skipped_with_a_note(cfile):
    keyring.set_keyring(BrokenKeyring())
    notes = []
    assert credentials.resolve("zoomex", "default", cfile, env={}, note=notes.append).source == "file"
    assert notes == ["keyring unavailable while reading default/zoomex (RuntimeError); skipped"]


@pytest.mark.integration
def test_hanging_keyring_never_stalls_a_run_and_is_noted_only_under_v(hanging, cfile, sandbox, cli, monkeypatch):
    sandbox.accounts[KEY] = SECRET
    started = time.monotonic()
    r = cli("broker", "--base-url", sandbox.base_url, "--max-items", "2", "--json")
    assert (r.code, r.err) == (0, "")
    assert len(r.json()) >= 2
    new_process(monkeypatch)
    r = cli("-v", "broker", "--base-url", sandbox.base_url, "--max-items", "2", "--json")
    assert r.code == 0
    assert "balcli: keyring did not answer within 0 s while reading default/zoomex; skipped" in r.err
    assert time.monotonic() - started < 5


def test_a_keyring_that_hung_once_is_not_asked_again_in_the_same_run(hanging, cli):
    """Was: auth status waited the full bound for each of the four exchanges (4 x 3 s = 12 s)."""
    r = cli("-v", "auth", "status", "--json")
    assert r.code == 0 and [row["status"] for row in r.json()] == ["not configured"] * 4
    assert hanging.reads == ["default/zoomex"]  # one wait, then skipped for coinw, binance and cryptofuse
    assert r.err.count("keyring did not answer within 0 s while reading default/zoomex; skipped") == 1
    assert r.err.count("balcli: keyring skipped while looking for a backend: it did not answer while reading "
                       "default/zoomex\n") == 3


def test_hanging_keyring_on_store_fails_clearly(hanging, cli):
    r = cli("auth", "set", "zoomex", "--store", "keyring", "--stdin", stdin=f"{KEY}\n{SECRET}\n")
    assert r.code == 3
    assert "the keyring failed while storing default/zoomex: keyring did not answer" in r.err
    assert "--store file" in r.err


def test_env_credentials_never_touch_the_keyring(hanging, monkeypatch):
    calls = []
    monkeypatch.setattr(credentials, "from_keyring", lambda *a, **k: calls.append(a))
    c = credentials.resolve("zoomex", "default", credentials.Path("/nonexistent"), env={
        "BALCLI_ZOOMEX_API_KEY": KEY, "BALCLI_ZOOMEX_API_SECRET": SECRET})
    assert c.source == "env" and calls == []


# -- never a secret in a repr -------------------------------------------------------------------------------------

def test_credentials_repr_and_mask():
    c = credentials.Credentials("zoomex", {"api_key": KEY, "api_secret": SECRET}, "env", "environment")
    assert repr(c) == str(c) == "Credentials('zoomex', source='env', key='file…0001')"
    assert credentials.mask("short") == "………"
    t = credentials.Credentials("cryptofuse", {"token": "bearer-token-00000001"}, "file", "x")
    assert "bearer-token-00000001" not in repr(t)


# -- values that cannot be sent: a ConfigError naming where they came from, never the value (exit 3) --------------

BAD_VALUES = ["bad-key-000000001\n", "bad key-000000001", "bad-key-00000001…", "bad-key\x00-0000001"]


@pytest.mark.parametrize("bad", BAD_VALUES)
def test_a_bad_value_in_the_environment_names_the_variable(bad):
    with pytest.raises(ConfigError) as e:
        credentials.resolve("zoomex", "default", None, env=env_of(key=bad))
    assert str(e.value).startswith("BALCLI_ZOOMEX_API_KEY contains ")
    assert "bad-key" not in str(e.value) + e.value.hint


@pytest.mark.parametrize("bad", BAD_VALUES)
def test_a_bad_value_in_the_keyring_names_the_entry_and_field(memory_keyring, cfile, bad):
    put_keyring(memory_keyring, api_key="ring-key-0000000001", api_secret=bad)
    with pytest.raises(ConfigError) as e:
        credentials.resolve("zoomex", "default", cfile, env={})
    assert str(e.value).startswith("the keyring entry balcli/default/zoomex: api_secret contains ")
    assert "bad-key" not in str(e.value) and "balcli auth set zoomex" in e.value.hint


@pytest.mark.parametrize("bad", BAD_VALUES)
def test_a_bad_value_in_the_file_names_the_file_and_key(config_dir, bad):
    path = creds_file(config_dir / "credentials.yaml",
                      "default:\n  cryptofuse:\n    token: " + json.dumps(bad) + "\n")
    with pytest.raises(ConfigError) as e:
        credentials.resolve("cryptofuse", "default", path, env={})
    assert str(e.value).startswith(f"{path}: default.cryptofuse.token contains ")
    assert "bad-key" not in str(e.value)


@pytest.mark.integration
@pytest.mark.parametrize(("var", "bad"), [("BALCLI_ZOOMEX_API_KEY", "sandbox-zoomex-key-0001\n"),
                                          ("BALCLI_ZOOMEX_API_KEY", "sandbox-zoomex-key-0001…"),
                                          ("BALCLI_ZOOMEX_API_SECRET", "sandbox zoomex secret")])
def test_a_pasted_line_break_or_ellipsis_is_exit_3_before_any_request(sandbox, sandbox_env, cli, var, bad):
    """Was: retried 5 times as "cannot reach Zoomex: InvalidHeader" (exit 6), or an internal error (exit 1)."""
    r = cli("broker", "--max-items", "1", "--json", env={var: bad})
    assert (r.code, r.out) == (3, "")
    assert r.err.startswith(f"balcli: error: {var} contains ")
    assert "sandbox" not in r.err
    assert sandbox.requests == []


def test_auth_set_applies_the_same_rule(cli, memory_keyring):
    r = cli("auth", "set", "cryptofuse", "--token", "--stdin", stdin="tok\u2026en-0000000000001\n")
    assert r.code == 2 and "the Cryptofuse bearer token contains a character that cannot be sent" in r.err
    assert memory_keyring.items == {}


# -- the cheap paths: a keyring that cannot exist, the credentials file without yaml ----------------------------

def headless(tmp_path, **extra):
    """The environment of a headless Linux box (cron, SSH): no D-Bus session bus, no X, no keyring config."""
    return {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
            "XDG_RUNTIME_DIR": str(tmp_path / "run"), **extra}


@pytest.fixture
def keyring_not_imported(monkeypatch):
    """As in a fresh process: keyring not imported yet (the conftest's in-memory keyring imported it here)."""
    monkeypatch.delitem(sys.modules, "keyring")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the cheap answer is Linux's")
def test_a_keyring_that_cannot_exist_is_known_without_importing_keyring(tmp_path, keyring_not_imported):
    assert credentials.keyring_cannot_exist(headless(tmp_path))


@pytest.mark.parametrize("change", [
    {"DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/user/1000/bus"},
    {"DISPLAY": ":0"},
    {"WAYLAND_DISPLAY": "wayland-0"},
    {"PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring"},
    "bus socket",
    "keyringrc.cfg",
])
def test_any_sign_of_a_keyring_backend_asks_keyring_itself(tmp_path, keyring_not_imported, change):
    env = headless(tmp_path)
    if change == "bus socket":
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / "bus").touch()
    elif change == "keyringrc.cfg":
        (tmp_path / "cfg" / "python_keyring").mkdir(parents=True)
        (tmp_path / "cfg" / "python_keyring" / "keyringrc.cfg").write_text("[backend]\n")
    else:
        env.update(change)
    assert not credentials.keyring_cannot_exist(env)


def test_a_package_offering_a_keyring_backend_asks_keyring_itself(tmp_path, keyring_not_imported, monkeypatch):
    dist = tmp_path / "site" / "keyrings.alt-5.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "entry_points.txt").write_text("[keyring.backends]\nfile = keyrings.alt.file\n")
    env = headless(tmp_path)
    if sys.platform.startswith("linux"):
        assert credentials.keyring_cannot_exist(env)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert not credentials.keyring_cannot_exist(env)


def test_once_keyring_is_imported_its_own_answer_counts(tmp_path, memory_keyring, cfile):
    put_keyring(memory_keyring, api_key="ring-key-0000000001", api_secret="ring-secret")
    assert not credentials.keyring_cannot_exist(headless(tmp_path))
    assert credentials.resolve("zoomex", "default", cfile, env={}).source == "keyring"


_safe = st.text("abcxyzABCeEfxX019_-.+/=", min_size=1, max_size=8)
_word = st.one_of(_safe, _safe, _safe, st.text("abcxyzABC019_-.+/=:# '\"", min_size=1, max_size=8))
_scalar = st.one_of(_word, _word, st.sampled_from([
    "true", "No", "null", "~", "=", "0x1F", "1_000", "3e5", "3f9a", ".5", "2025-01-02", "-abc", "12:30", "''",
    "'it''s'", "a b", "ok", "'x: #y'", "'true'", "'1'"]))
_line = st.one_of(
    st.builds(lambda i, k, v: " " * i + k + ": " + v, st.integers(0, 5), _word, _scalar),
    st.builds(lambda i, k: " " * i + k + ":", st.integers(0, 5), _word),
    st.sampled_from(["", "# comment", "  # indented comment", "---", "- item", "a: {b: c}", "a: b # c", "\t",
                     "key: 'quoted value'", "key:  spaced", "k: v ", "\ufeffk: v", "k: v\r"]),
)


_clean_key = st.builds(str.__add__, st.sampled_from("aBz_"), st.text("aZ09_-", max_size=5))
_clean_value = st.one_of(_safe, st.builds(lambda t: "'" + t.replace("'", "''") + "'", st.text("ab :#'\"-1", max_size=6)))
_tree = st.recursive(_clean_value, lambda children: st.dictionaries(_clean_key, children, min_size=1, max_size=3),
                     max_leaves=6)


def _emit(tree, depth=0):
    """Block-style lines for nested mappings, indented two spaces a level (the subset's shape)."""
    return [line for key, value in tree.items() for line in (
        [f"{'  ' * depth}{key}: {value}"] if isinstance(value, str) else [f"{'  ' * depth}{key}:", *_emit(value, depth + 1)])]


@settings(max_examples=120)
@given(st.one_of(st.lists(_line, max_size=8),
                 st.builds(lambda tree, extra, at: (lambda lines: lines[:at] + extra + lines[at:])(_emit(tree)),
                           st.dictionaries(_clean_key, _tree, min_size=1, max_size=3), st.lists(_line, max_size=1),
                           st.integers(0, 8))))
def test_the_yaml_subset_reader_agrees_with_yaml_or_declines(lines):
    import yaml

    text = "\n".join(lines) + "\n"
    fast = credentials.simple_mapping(text)
    if fast is None:
        return
    assert fast == (yaml.load(text, Loader=yaml.CSafeLoader) or {}), text  # what read_file falls back to


_field_value = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40)


@settings(max_examples=40)
@given(st.dictionaries(st.sampled_from(["default", "prod", "main_2", "on", "null"]),
                       st.dictionaries(st.sampled_from(["zoomex", "coinw", "binance", "cryptofuse"]),
                                       st.dictionaries(st.sampled_from(["api_key", "api_secret", "token"]),
                                                       _field_value, min_size=1), min_size=1)))
def test_the_yaml_subset_reader_reads_what_auth_set_writes(data):
    import yaml

    text = "# balcli credentials\n" + yaml.safe_dump(data, sort_keys=True, default_flow_style=False)
    fast = credentials.simple_mapping(text)
    assert fast is None or fast == data


def test_a_typical_credentials_file_is_read_without_yaml(tmp_path):
    path = tmp_path / "credentials.yaml"
    for exchange, fields in [("zoomex", {"api_key": "Xk3pQ9vLm2Rt", "api_secret": "8sDk2LmQp9ZxWv7Tn4Yb"}),
                             ("binance", {"api_key": "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91dui",
                                          "api_secret": "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fAT"}),
                             ("cryptofuse", {"client_id": "abc-123", "client_secret": "s3cr3t+/=="})]:
        credentials.store_file(exchange, "default", fields, path)
    assert credentials.simple_mapping(path.read_text()) == credentials.read_file(path)
    assert credentials.read_file(path)["default"]["binance"]["api_key"].startswith("vmPUZE")
