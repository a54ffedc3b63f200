"""A filter that matched nothing (issue 13, item 8): exit 0 and stdout as before (an empty result is a result),
and one stderr note naming the filter, in every format. A run with rows keeps stderr empty."""

from __future__ import annotations

import pytest

from balcli.sandbox import Sandbox
from tests.conftest import sandbox_environment


@pytest.fixture(scope="module")
def shared():
    with Sandbox() as sb:
        yield sb


@pytest.fixture
def env(shared, monkeypatch):
    for k, v in sandbox_environment(shared).items():
        monkeypatch.setenv(k, v)


@pytest.mark.integration
@pytest.mark.parametrize(("args", "note", "out"), [
    (["broker", "--max-items", "2", "--coin", "NOPE", "--json"], "--coin NOPE", "[]\n"),
    (["broker", "--max-items", "2", "--coin", "NOPE", "-o", "tsv"], "--coin NOPE", "user_id\tcoin\ttotal_balance\n"),
    (["broker", "--max-items", "2", "--uid", "1", "--total", "-o", "csv"], "--uid 1", "coin,users,total_balance\n"),
    (["broker", "--max-items", "2", "--coin", "NOPE", "-o", "ndjson"], "--coin NOPE", ""),
    (["broker", "--max-items", "2", "--coin", "NOPE", "-o", "table"], "--coin NOPE", ""),
    (["spot", "--coin", "XX", "--coin", "YY", "-o", "tsv"], "--coin XX --coin YY", "coin\tbalance\n"),
    (["invitees", "--uid", "1", "--json"], "--uid 1", "[]\n"),
    (["oauth", "history", "--type", "deposits", "-o", "tsv", "--no-header"], "--type deposits", ""),
])
def test_no_match_is_one_note_exit_0(cli, env, args, note, out):
    r = cli(*args)
    assert (r.code, r.out) == (0, out)
    assert r.err == f"balcli: note: no rows matched {note}\n"


@pytest.mark.integration
def test_rows_keep_stderr_empty(cli, env):
    r = cli("broker", "--coin", "USDT", "--json", "--max-items", "3")
    assert r.code == 0 and r.json() and r.err == ""
