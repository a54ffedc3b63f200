"""The behaviours behind balcli's speed (issue 7), tested as behaviours, never as timings:

- each command path imports only what it needs (``--version``, ``--help``, ``<cmd> --help``, TAB completion, and a
  one-page ``broker --json`` with the credentials in the environment and no config file);
- a run builds only the command it runs;
- rows repeated across pages are dropped with a key memory that stays small and exact;
- one keep-alive connection per run, and no more than the pool for concurrent page fetches.

In-order concurrent page fetching with a bounded number of requests in flight is tested in test_pagination.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from balcli import credentials
from balcli.app import COMMANDS, command_in
from balcli.pagination import KeyIndex, SeenKeys

THIRD_PARTY_HEAVY = {"requests", "urllib3", "rich", "keyring", "yaml", "pydantic"}
TRANSPORT = {"balcli.http", "balcli.signing", "balcli.pagination", "balcli.sources", "balcli.config",
             "balcli.credentials"}
TAB = {"_BALCLI_COMPLETE": "complete_bash", "COMP_WORDS": "balcli sn", "COMP_CWORD": "1"}


# Runs balcli's main() and, at exit, lists every module that was loaded (importlib.import_module is not seen by
# ``-X importtime``; sys.modules sees everything).
PROBE = """import atexit, sys
atexit.register(lambda: sys.__stderr__.write("\\nMODULES " + " ".join(sorted(sys.modules)) + "\\n"))
from balcli.cli import main
main()
"""


def imports(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run balcli with ARGS in a fresh interpreter; return the process (stderr without the module list) and
    every module loaded by the end of the run."""
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=60)
    err, _, listing = proc.stderr.rpartition("\nMODULES ")
    assert listing, proc.stderr[-2000:]
    proc.stderr = err
    return proc, set(listing.split())


def top_level(names: set[str]) -> set[str]:
    return {n.split(".")[0] for n in names}


def command_modules(names: set[str]) -> set[str]:
    return {n for n in names if n.startswith("balcli.commands.") and n not in ("balcli.commands.common", "balcli.commands.usage")}


# -- what each command path imports -------------------------------------------------------------------------

def test_version_imports_neither_typer_nor_any_balcli_command():
    proc, names = imports("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("balcli ")
    assert not top_level(names) & (THIRD_PARTY_HEAVY | {"typer"})
    assert not {n for n in names if n.startswith("balcli.") and n not in ("balcli.cli", "balcli.errors")}


def test_help_builds_every_command_without_the_transport():
    proc, names = imports("--help")
    assert proc.returncode == 0
    assert all(name in proc.stdout for name in COMMANDS)
    assert not top_level(names) & THIRD_PARTY_HEAVY
    assert not names & TRANSPORT, names & TRANSPORT
    assert not any(n.startswith("balcli.sources.") for n in names)


@pytest.mark.parametrize("argv,module,field_list", [
    (["broker", "--help"], "broker", "user_id, coin, total_balance"),
    (["spot", "--help"], "spot", "coin, balance"),
    (["snapshot", "--help"], "snapshot", "date, update_time, asset, free, locked, total_asset_of_btc"),
    (["invitees", "--help"], "invitees", "uid, total_deposit, total_withdrawal"),
    (["oauth", "history", "--help"], "oauth", "timestamp, currency, type, amount, balance_after"),
    (["-v", "--profile", "main", "broker", "--help"], "broker", "user_id, coin, total_balance"),
])
def test_a_command_help_imports_that_command_only_and_no_transport(argv, module, field_list):
    proc, names = imports(*argv)
    assert proc.returncode == 0 and field_list in " ".join(proc.stdout.split())
    assert command_modules(names) == {f"balcli.commands.{module}"}
    assert not top_level(names) & THIRD_PARTY_HEAVY
    assert not names & TRANSPORT, names & TRANSPORT


def test_tab_completion_lists_commands_without_the_transport():
    proc, names = imports(env=TAB)
    assert proc.returncode == 0
    assert "snapshot" in proc.stdout.split() and "spot" not in proc.stdout.split()
    assert not top_level(names) & THIRD_PARTY_HEAVY
    assert not names & TRANSPORT


def test_a_usage_error_is_found_before_the_transport_is_imported():
    proc, names = imports("broker", "--fields", "user_id,nope")
    assert proc.returncode == 2 and "nope" in proc.stderr
    assert not top_level(names) & THIRD_PARTY_HEAVY
    assert "balcli.http" not in names


def test_one_page_broker_json_with_env_credentials_needs_no_keyring_yaml_or_rich(sandbox, sandbox_env, isolated):
    assert not isolated.exists()  # no config file anywhere
    proc, names = imports("broker", "--json", "--max-items", "3")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(proc.stdout)
    first = [user_id for user_id, _ in sandbox.data.broker[:3]]
    assert sorted({r["user_id"] for r in rows}) == sorted(first)
    assert sandbox.count(api="zoomex") == 1  # one page
    assert "requests" in top_level(names)
    assert not top_level(names) & {"keyring", "yaml", "rich", "pydantic"}, top_level(names) & {"keyring", "yaml", "rich"}
    assert command_modules(names) == {"balcli.commands.broker"}


def test_a_new_config_file_brings_yaml_and_a_table_needs_no_rich(sandbox, sandbox_env, config_dir):
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "config.yaml").write_text("defaults: {timeout: 10}\n")
    proc, names = imports("broker", "-o", "table", "--max-items", "3")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines()[0].split() == ["user_id", "coin", "total_balance"]
    assert "yaml" in top_level(names)  # parsed once; then from the cache folder (test below)
    assert "rich" not in top_level(names)  # one plain writer draws every table; rich only measures wide characters
    assert "keyring" not in top_level(names)


@pytest.fixture
def headless(monkeypatch, tmp_path):
    """A headless Linux box (cron, SSH): no D-Bus session bus, no X; the zoomex credentials in the 0600 file."""
    if not sys.platform.startswith("linux") or credentials._other_keyring_backends():
        pytest.skip("keyring's cheap answer is for Linux without third-party backends")
    for name in ("DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "WAYLAND_DISPLAY", "PYTHON_KEYRING_BACKEND",
                 "BALCLI_ZOOMEX_API_KEY", "BALCLI_ZOOMEX_API_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))


def store_in_file(config_dir, sandbox):
    from balcli.sandbox import DEMO_CREDENTIALS

    credentials.store_file("zoomex", "default", DEMO_CREDENTIALS["zoomex"], config_dir / "credentials.yaml")


def test_every_credentials_path_of_a_one_page_run_stays_cheap(sandbox, sandbox_env, headless, config_dir):
    """The budget (issue 14) holds on every path: keyring is not imported when no backend can exist, the
    credentials file written by `auth set` is read without yaml, and a config file read before comes from the
    cache folder."""
    store_in_file(config_dir, sandbox)
    (config_dir / "config.yaml").write_text("defaults: {timeout: 10}\n")
    for run in ("first", "second"):
        proc, names = imports("-v", "broker", "--json", "--max-items", "3")
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert {r["user_id"] for r in json.loads(proc.stdout)} == {u for u, _ in sandbox.data.broker[:3]}
        assert "keyring" not in top_level(names)
        assert ("yaml" in top_level(names)) == (run == "first")  # the config file is parsed once
    assert sandbox.count(api="zoomex") == 2


def test_a_keyring_backend_chosen_in_the_environment_still_wins_over_the_file(sandbox, sandbox_env, headless,
                                                                            config_dir, tmp_path):
    """README "Credentials"'s order env > keyring > file holds when keyring has a backend only keyring knows of."""
    from balcli.sandbox import DEMO_CREDENTIALS

    credentials.store_file("zoomex", "default", {"api_key": "wrong-key-0000000001", "api_secret": "wrong"},
                           config_dir / "credentials.yaml")
    ring = tmp_path / "ring.json"
    ring.write_text(json.dumps({"balcli/default/zoomex": json.dumps(DEMO_CREDENTIALS["zoomex"])}))
    root = str(Path(__file__).resolve().parent.parent)
    env = {"PYTHON_KEYRING_BACKEND": "tests.file_keyring.FileKeyring", "TEST_KEYRING_FILE": str(ring),
           "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    proc, names = imports("-v", "broker", "--json", "--max-items", "1", env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]  # the file's key would be refused (exit 4)
    assert "keyring" in top_level(names) and sandbox.count(api="zoomex", status=200) == 1


# -- only the command that runs is built -----------------------------------------------------------------------

@pytest.mark.parametrize("args,expected", [
    (["broker", "--json"], "broker"),
    (["-p", "main", "spot"], "spot"),
    (["--profile", "x", "--config", "/c.yaml", "--sandbox", "-vv", "--debug", "oauth", "history"], "oauth"),
    (["--profile=x", "--config=/c.yaml", "config", "show"], "config"),
    (["-v", "-v", "sandbox", "serve"], "sandbox"),
    (["--help"], None),
    (["--version"], None),
    ([], None),
    (["brokr"], None),  # unknown: the full app says "No such command" with the right suggestion
    (["-pmain", "broker"], None),  # a form not read here: the full app parses it
    (["--", "broker"], None),
    (["--unknown", "broker"], None),
])
def test_command_in(args, expected):
    assert command_in(args) == expected


def test_an_unknown_command_still_gets_suggestions(cli):
    r = cli("brokr")
    assert r.code == 2 and "brokr" in r.err


def test_root_options_before_the_command_still_work(sandbox, sandbox_env, cli):
    r = cli("-v", "broker", "--json", "--max-items", "2")
    assert r.code == 0 and len({row["user_id"] for row in json.loads(r.out)}) == 2
    assert "GET /private/v1/broker/asset-balance 200" in r.err


# -- the key memory of deduplication ---------------------------------------------------------------------------

keys = st.one_of(
    st.integers(min_value=-5, max_value=2**64),
    st.from_regex(r"\A[0-9]{1,20}\Z"),
    st.text(max_size=4),
    st.tuples(st.integers(0, 3), st.text(max_size=2)),
    st.sampled_from(["0", "00", "007", "7", "١٢٣", "²", "-1", "+1", " 1", True, False, None]),
)


@given(st.lists(keys, max_size=300))
def test_seen_keys_answers_exactly_as_a_set_would(sequence):
    seen, reference = SeenKeys(), set()
    for key in sequence:
        ref_key = (type(key), key)  # a set would merge 1, True and 1.0; rows keep their key's type
        assert seen.add(key) is (ref_key not in reference), key
        reference.add(ref_key)
    assert len(seen) == len(reference)


@given(st.lists(st.tuples(keys, st.integers(0, 2**31 - 1)), max_size=300))
def test_key_index_answers_exactly_as_a_dict_would(puts):
    index, reference = KeyIndex(), {}
    for key, value in puts:
        ref_key = (type(key), key)
        assert index.get(key) == reference.get(ref_key), key
        index.put(key, value)
        reference[ref_key] = value
        assert index.get(key) == value
    assert len(index) == len(reference)
    assert all(index.get(key) == reference[(type(key), key)] for key, _ in puts)


def test_key_index_keeps_broker_uids_in_12_bytes_a_slot_through_growth():
    index = KeyIndex()
    uids = [str(101479471 + 7 * i) for i in range(50_000)]
    for n, uid in enumerate(uids):
        index.put(uid, n % 5)
    assert [index.get(u) for u in uids] == [n % 5 for n in range(50_000)] and index.get("101479472") is None
    assert index._table.itemsize + index._values.itemsize == 12 and not index._other_values


@pytest.mark.parametrize("key", ["101479471", "0101", 7, ("x", 1)])  # in the table, or in the fallback set
def test_a_key_only_added_to_a_key_index_reads_as_0(key):
    index = KeyIndex()
    assert index.get(key) is None and index.add(key) and index.get(key) == 0 and not index.add(key)


def test_seen_keys_grows_past_its_first_table_and_keeps_every_key():
    seen = SeenKeys()
    uids = [str(101479471 + 7 * i) for i in range(20_000)]
    assert all(seen.add(u) for u in uids)
    assert not any(seen.add(u) for u in uids)
    assert len(seen) == 20_000
    assert seen.add("101479472")  # a neighbour never seen


def test_seen_keys_keeps_numeric_keys_in_8_bytes_each():
    seen = SeenKeys()
    for i in range(50_000):
        seen.add(str(10**8 + i))
    table = seen._table  # the open-addressing table: 8 bytes a slot, at most half full before it doubles
    assert table.itemsize == 8 and 50_000 * 2 <= len(table) <= 50_000 * 4
    assert not seen._other


# -- connections -----------------------------------------------------------------------------------------------

def test_a_sequential_multi_page_run_uses_one_connection(sandbox, sandbox_env, cli):
    r = cli("broker", "-o", "ndjson", "--page-size", "20", "--max-items", "100")
    assert r.code == 0 and sandbox.count(api="zoomex", status=200) == 5
    assert sandbox.connections == 1 and len({req.connection for req in sandbox.requests}) == 1


def test_concurrent_page_fetches_stay_within_the_pool(sandbox, sandbox_env, cli):
    sandbox.latency_ms = 450  # longer than the 5/s spacing: pages overlap, so the pool is used concurrently
    r = cli("invitees", "-o", "ndjson", "--page-size", "50")
    assert r.code == 0
    assert [json.loads(line)["uid"] for line in r.out.splitlines()] == sorted(i.uid for i in sandbox.data.invitees)
    pages = sandbox.count(api="coinw_affiliate", status=200)
    assert pages == -(-len(sandbox.data.invitees) // 50) and sandbox.count(rate_limited=True) == 0
    assert 1 < sandbox.connections <= 4  # concurrent, but never more than the pool (4 per host)
