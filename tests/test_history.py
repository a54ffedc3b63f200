"""The local history (the README's History section): ``--record`` on the source commands, ``balcli history``, ``balcli diff`` and the
sandbox's ``--epoch`` that gives them something to show. Everything runs in-process against the sandbox; the
history file lives in the test's own ``XDG_DATA_HOME`` (conftest)."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from decimal import Decimal
from pathlib import Path

import pytest

from balcli import history
from balcli.sandbox.data import EPOCH_RULES, DemoData


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "xdg-data" / "balcli" / "history.sqlite3"


def record(cli, *args: str, epoch: int = 0):
    r = cli("--sandbox", *args, "--record", "-o", "json", env={"BALCLI_SANDBOX_EPOCH": str(epoch)})
    assert r.code == 0, r.err
    return r


def runs(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT id, command, view, status, row_count, error FROM runs ORDER BY id").fetchall()


# -- the sandbox moves -------------------------------------------------------------------------------------------

def test_an_epoch_moves_the_demo_data_by_the_documented_amounts():
    day0, day2 = DemoData(), DemoData(epoch=2)
    base = {uid: coins for uid, coins in day0.broker}
    moved = {uid: coins for uid, coins in day2.broker}
    gone = set(base) - set(moved)
    assert gone == {day0.broker[13][0], day0.broker[63][0]}  # the first 2 with i % 50 == 13
    joined = [(uid, moved[uid]) for uid in set(moved) - set(base)]
    last = int(day0.broker[-1][0])
    assert sorted(joined) == [(str(last + 1000 * k), [("USDT", f"{100 * k}.00")]) for k in range(1, 5)]
    uid7, coins7 = day0.broker[7]
    assert Decimal(moved[uid7][0][1]) - Decimal(coins7[0][1]) == 20 and moved[uid7][1:] == coins7[1:]
    assert moved[day0.broker[8][0]] == day0.broker[8][1]
    assert Decimal(day2.spot["USDT"]) - Decimal(day0.spot["USDT"]) == Decimal("25.0")
    assert [uid for uid, _ in day2.broker] == sorted(uid for uid, _ in day2.broker)  # still sorted by uid
    assert DemoData(epoch=1).broker == DemoData(epoch=1).broker  # deterministic


# -- record and diff across epochs -------------------------------------------------------------------------------

def expected_broker_diff(epoch_from: int, epoch_to: int) -> list[dict]:
    before = {(u, c): a for u, coins in DemoData(epoch=epoch_from).broker for c, a in coins}
    after = {(u, c): a for u, coins in DemoData(epoch=epoch_to).broker for c, a in coins}
    rows = []
    for key in sorted(set(before) | set(after)):
        b, a = before.get(key), after.get(key)
        if b is not None and a is not None and Decimal(a) == Decimal(b):
            continue
        status = "new" if b is None else "gone" if a is None else "changed"
        change = Decimal(a or 0) - Decimal(b or 0)
        rows.append({"user_id": key[0], "coin": key[1], "before": b, "after": a, "change": change, "status": status})
    return rows


def test_broker_record_then_diff_gives_the_exact_changes(cli, db_path):
    record(cli, "broker", epoch=0)
    record(cli, "broker", epoch=1)
    assert [r[1:5] for r in runs(db_path)] == [("broker", "broker", "complete", 622),
                                               ("broker", "broker", "complete", 619)]
    r = cli("diff", "broker", "--json")
    assert r.code == 0 and r.err == ""
    got = r.json()
    want = expected_broker_diff(0, 1)
    assert [{**g, "change": Decimal(g["change"])} for g in got] == want
    changed = [g for g in got if g["status"] == "changed"]
    assert {Decimal(g["change"]) for g in changed} == {EPOCH_RULES["broker_gain"]}
    assert len(changed) == 28  # every i % 10 == 7 customer with a coin
    assert [(g["user_id"], g["after"]) for g in got if g["status"] == "new"] == [
        (str(int(DemoData().broker[-1][0]) + 1000), "100.00"), (str(int(DemoData().broker[-1][0]) + 2000), "200.00")]
    assert {g["user_id"] for g in got if g["status"] == "gone"} == {DemoData().broker[13][0]}
    # exact: dust plus the gain keeps every digit
    assert {"before": "0.000000000000000001", "after": "10.000000000000000001",
            "change": "10.000000000000000000"}.items() <= next(
        g for g in got if g["before"] == "0.000000000000000001" and g["status"] == "changed").items()


def test_diff_min_change_coin_formats_and_footer(cli, db_path):
    record(cli, "broker", epoch=0)
    record(cli, "broker", epoch=1)
    r = cli("diff", "broker", "--min-change", "150", "--json")
    assert r.code == 0
    want = [w for w in expected_broker_diff(0, 1) if abs(w["change"]) >= 150]
    assert [(g["user_id"], g["coin"], g["status"]) for g in r.json()] == [
        (w["user_id"], w["coin"], w["status"]) for w in want]
    assert ("200.00", "new") in {(g["after"], g["status"]) for g in r.json()}
    assert "100.00" not in {g["after"] for g in r.json()}

    usdt = [w for w in expected_broker_diff(0, 1) if w["coin"] == "USDT"]
    r = cli("diff", "broker", "--coin", "usdt", "-o", "table")
    assert r.code == 0
    footer = r.out.strip().splitlines()[-2]  # the totals, then the run note
    net = sum((w["change"] for w in usdt), Decimal(0))
    assert footer.split()[:2] == ["total", "USDT"] and footer.split()[-1] == f"{net:f}"
    assert f"{sum(1 for w in usdt if w['status'] == 'changed')} changed, 2 new" in r.out

    csv_out = cli("diff", "broker", "--coin", "USDT", "--csv").out.splitlines()
    assert csv_out[0] == "user_id,coin,before,after,change,status" and len(csv_out) == len(usdt) + 1
    nd = cli("diff", "broker", "--coin", "USDT", "-o", "ndjson").out.splitlines()
    assert [json.loads(line)["user_id"] for line in nd] == [w["user_id"] for w in usdt]
    tsv = cli("diff", "broker", "--coin", "USDT", "-o", "tsv", "--fields", "user_id,change").out.splitlines()
    assert tsv[0] == "user_id\tchange" and len(tsv) == len(usdt) + 1


def test_spot_oauth_and_invitees_diffs_and_trend(cli):
    for epoch in (0, 1, 2):
        record(cli, "spot", epoch=epoch)
        record(cli, "oauth", "balances", epoch=epoch)
    record(cli, "invitees", epoch=0)
    record(cli, "invitees", epoch=1)
    spot = cli("diff", "spot", "--json").json()
    day1, day2 = DemoData(epoch=1).spot["USDT"], DemoData(epoch=2).spot["USDT"]
    assert spot == [{"coin": "USDT", "before": day1, "after": day2, "change": "12.500000000000000",
                     "status": "changed"}]
    oauth = cli("diff", "oauth-balances", "--from", "1", "--json")
    assert oauth.code == 2 and "spot run" in oauth.err  # run 1 is a spot run
    oauth = cli("diff", "oauth balances", "--json").json()
    assert [(o["scope"], o["currency"], o["change"]) for o in oauth] == [
        ("account", "USDTERC20", "100.000000"), ("sub_accounts", "ETH", "0.500000")]
    inv = cli("diff", "invitees", "--json").json()
    base = DemoData().invitees
    assert {i["uid"] for i in inv if i["status"] == "gone"} == {base[29].uid}
    assert [(i["uid"], i["after"]) for i in inv if i["status"] == "new"] == [(base[-1].uid + 777, "50.00000000")]
    assert {i["change"] for i in inv if i["status"] == "changed"} == {"5.00000000"}
    assert sum(1 for i in inv if i["status"] == "changed") == len([i for i in range(len(base)) if i % 25 == 11])

    trend = cli("history", "trend", "spot", "--coin", "USDT", "--json")
    assert trend.code == 0
    assert [(t["total"], t["change"]) for t in trend.json()] == [
        (DemoData(epoch=e).spot["USDT"], None if e == 0 else "12.500000000000000") for e in (0, 1, 2)]
    table = cli("history", "trend", "spot", "--coin", "USDT", "-o", "table")
    assert "▁▅█" in table.out and "3 runs" in table.out


def test_history_runs_show_and_options_without_secrets(cli, db_path):
    record(cli, "spot", "--coin", "USDT", "--coin", "btc", epoch=0)
    r = cli("history", "runs", "--json")
    assert r.code == 0
    (only,) = r.json()
    assert {k: only[k] for k in ("id", "command", "view", "profile", "status", "rows", "error")} == {
        "id": 1, "command": "spot", "view": "spot", "profile": "default", "status": "complete", "rows": 2,
        "error": None}
    assert only["options"] == "--coin USDT --coin btc --format json --sandbox"
    shown = cli("history", "show", "1", "--json")
    assert shown.code == 0 and shown.json() == [{"coin": "BTC", "balance": "0.0012"},
                                                {"coin": "USDT", "balance": "257.518301140000000"}]
    assert cli("history", "show", "--view", "spot", "--csv").out == "coin,balance\nBTC,0.0012\nUSDT,257.518301140000000\n"
    assert cli("history", "runs", "--view", "broker", "--json").json() == []
    assert cli("history", "runs", "--since", "1h", "--json").json()[0]["id"] == 1
    assert cli("history", "runs", "--since", "2099-01-01", "--json").json() == []
    assert cli("history", "path").out.strip() == str(db_path)


def test_no_secret_reaches_the_database(cli, sandbox, sandbox_env, db_path):
    from balcli.sandbox import DEMO_CREDENTIALS

    for args in (["broker", "--max-items", "5"], ["spot"], ["oauth", "balances"], ["oauth", "history"]):
        r = cli(*args, "--record", "--json")
        assert r.code == 0, r.err
    with sqlite3.connect(db_path) as db:
        dump = "\n".join(db.iterdump())
    secrets = [v for fields in DEMO_CREDENTIALS.values() for v in fields.values()] + list(sandbox_env.values())
    leaked = [s for s in secrets if len(s) >= 6 and s in dump and not s.startswith("http")]
    assert not leaked
    assert "Bearer" not in dump and "signature" not in dump.lower()
    assert sandbox.base_url.split("//")[1] not in dump or "base_url" not in dump  # no URL was given on the line
    assert "INSERT INTO \"rows\"" in dump  # the dump did see the rows


# -- what is never a complete run ----------------------------------------------------------------------------------

def test_a_failed_run_is_recorded_as_failed_and_never_compared(cli, sandbox, sandbox_env, db_path):
    assert cli("broker", "--record", "--json").code == 0
    sandbox.inject("cursor_cycle", api="zoomex")
    r = cli("broker", "--record", "-o", "ndjson", "--page-size", "20")
    assert r.code == 7 and len(r.out.splitlines()) > 20  # two pages were written before the cycle was seen
    (first, failed) = runs(db_path)
    assert first[3] == "complete" and failed[3] == "failed" and failed[5].startswith("exit 7: ")
    with sqlite3.connect(db_path) as db:
        assert db.execute("SELECT count(*) FROM rows WHERE run_id = ?", (failed[0],)).fetchone() == (0,)
    r = cli("diff", "broker")
    assert r.code == 3 and "only one complete broker run" in r.err
    assert cli("diff", "broker", "--from", str(failed[0])).code == 2
    assert cli("history", "show", str(failed[0])).code == 2


def test_a_run_that_fails_before_its_rows_is_recorded_as_failed(cli, db_path):
    r = cli("spot", "--record", "--json")  # no credentials anywhere
    assert r.code == 3 and r.out == ""
    ((_, command, view, status, count, error),) = runs(db_path)
    assert (command, view, status, count) == ("spot", "spot", "failed", 0) and error.startswith("exit 3: ")
    assert "no coinw credentials" in error  # the message as the user saw it


def test_a_max_items_run_is_partial_and_diff_skips_it(cli, db_path):
    record(cli, "broker", epoch=0)
    record(cli, "broker", "--max-items", "10", epoch=1)
    record(cli, "broker", epoch=1)
    assert [r[3] for r in runs(db_path)] == ["complete", "partial", "complete"]
    r = cli("diff", "broker", "--json")
    assert r.code == 0 and len(r.json()) == len(expected_broker_diff(0, 1))
    assert "run 1 " in cli("diff", "broker", "-o", "table").out  # compared with run 1, not the partial run 2


def test_diff_compares_runs_of_the_same_selection(cli):
    record(cli, "spot", epoch=0)
    record(cli, "spot", "--coin", "BTC", epoch=1)
    record(cli, "spot", epoch=1)
    r = cli("diff", "spot", "--json")
    assert r.code == 0 and [row["coin"] for row in r.json()] == ["USDT"]  # run 3 against run 1, not run 2
    r = cli("diff", "spot", "--from", "2", "--to", "3", "--json")
    assert r.code == 0 and "different rows" in r.err and {row["status"] for row in r.json()} == {"new"}


# -- the store: concurrency, corruption, versions -------------------------------------------------------------------

def test_two_recorders_writing_at_once_both_succeed(db_path):
    barrier = threading.Barrier(2)
    ids, errors = [], []

    def work(n: int) -> None:
        try:
            store = history.Store.open(db_path)
            rec = history.Recorder(store, command="broker", profile=f"p{n}", options={})
            rec.begin("broker")
            for page in range(20):
                rec.add([{"user_id": str(10**8 + page * 1000 + i), "coin": "USDT", "total_balance": f"{n}.5"}
                         for i in range(1000)])
            barrier.wait()
            ids.append(rec.finish("complete"))
            store.close()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and sorted(ids) == [1, 2]
    with sqlite3.connect(db_path) as db:
        assert db.execute("SELECT run_id, count(*) FROM rows GROUP BY run_id").fetchall() == [(1, 20000), (2, 20000)]
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_corrupt_history_is_exit_3_naming_it_and_left_alone(cli, db_path):
    db_path.parent.mkdir(parents=True)
    garbage = b"this is not an SQLite file, just bytes " * 200
    db_path.write_bytes(garbage)
    for args in (["--sandbox", "spot", "--record"], ["history", "runs"], ["diff", "spot"]):
        r = cli(*args)
        assert r.code == 3, (args, r.err)
        assert f"history database {db_path} is corrupt" in r.err and "Traceback" not in r.err
        assert r.out == ""  # the recording run stopped before it fetched anything
    assert db_path.read_bytes() == garbage


def test_a_directory_or_foreign_database_is_refused(cli, db_path, tmp_path):
    db_path.mkdir(parents=True)
    r = cli("history", "runs")
    assert r.code == 3 and "is a directory" in r.err
    other = tmp_path / "other.sqlite3"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE notes (x)")
    r = cli("--sandbox", "spot", "--record", env={"BALCLI_HISTORY_DB": str(other)})
    assert r.code == 3 and "not a balcli history" in r.err
    under_a_file = other / "history.sqlite3"  # its folder is a file: it cannot be made
    r = cli("--sandbox", "spot", "--record", env={"BALCLI_HISTORY_DB": str(under_a_file)})
    assert r.code == 3 and f"cannot create the history database {under_a_file}" in r.err and r.out == ""


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_history_is_exit_3(cli, db_path):
    record(cli, "spot")
    db_path.chmod(0)
    try:
        r = cli("history", "runs")
        assert r.code == 3 and str(db_path) in r.err
    finally:
        db_path.chmod(0o600)


def test_a_newer_schema_is_exit_3(cli, db_path):
    db_path.parent.mkdir(parents=True)
    with sqlite3.connect(db_path) as db:
        db.execute(f"PRAGMA user_version = {history.SCHEMA_VERSION + 1}")
    r = cli("--sandbox", "spot", "--record")
    assert r.code == 3 and f"schema version {history.SCHEMA_VERSION + 1}" in r.err and "upgrade balcli" in r.err
    assert r.out == ""


def test_a_first_schema_database_is_migrated_and_its_runs_compared(cli, db_path):
    db_path.parent.mkdir(parents=True)
    db = sqlite3.connect(db_path)
    history.MIGRATIONS[0](db)  # the schema of version 1, as the first balcli with --record wrote it
    db.execute("PRAGMA user_version = 1")
    for run_id, amount in ((1, "1.5"), (2, "2.25")):
        db.execute("INSERT INTO runs (id, command, view, profile, options, started_at, finished_at, row_count, "
                   "status) VALUES (?, 'spot', 'spot', 'default', '{\"coin\":[\"USDT\"]}', ?, ?, 1, 'complete')",
                   (run_id, f"2026-01-0{run_id}T03:00:00.000Z", f"2026-01-0{run_id}T03:00:01.000Z"))
        db.execute("INSERT INTO rows VALUES (?, 0, '[\"USDT\"]', 'USDT', ?, ?)",
                   (run_id, amount, json.dumps({"coin": "USDT", "balance": amount})))
    db.commit()
    db.close()
    r = cli("diff", "spot", "--json")
    assert r.code == 0, r.err
    assert r.json() == [{"coin": "USDT", "before": "1.5", "after": "2.25", "change": "0.75", "status": "changed"}]
    with sqlite3.connect(db_path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (history.SCHEMA_VERSION,)
        assert db.execute("SELECT DISTINCT selection FROM runs").fetchall() == [
            ('{"coin":["USDT"],"profile":"default"}',)]
        assert "runs_by_start" in {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}


# -- prune, usage errors ---------------------------------------------------------------------------------------

def test_prune_deletes_old_runs_and_their_rows(cli, db_path):
    record(cli, "spot", epoch=0)
    record(cli, "spot", epoch=1)
    with sqlite3.connect(db_path) as db:
        db.execute("UPDATE runs SET started_at = '2020-01-01T00:00:00.000Z' WHERE id = 1")
    r = cli("history", "prune", "--keep", "90d", "--vacuum")
    assert r.code == 0 and r.out.startswith(f"pruned 1 run ({len(DemoData().spot)} rows) started before ")
    assert [row[0] for row in runs(db_path)] == [2]
    with sqlite3.connect(db_path) as db:
        assert db.execute("SELECT DISTINCT run_id FROM rows").fetchall() == [(2,)]
    assert cli("history", "prune", "--keep", "soon").code == 2


@pytest.mark.parametrize("args,code,words", [
    (["diff", "nope"], 2, "unknown view 'nope'"),
    (["diff", "oauth-history"], 2, "no key"),
    (["diff", "broker", "--min-change", "-5"], 2, "--min-change"),
    (["diff", "broker", "--min-change", "lots"], 2, "--min-change"),
    (["diff", "broker", "--fields", "user_id,nope"], 2, "nope"),
    (["diff", "broker"], 3, "no history at"),
    (["history", "trend", "spot", "--coin", "US-DT"], 2, "--coin"),
    (["history", "show"], 3, "no history at"),
    (["--sandbox", "spot", "--record"], 3, "BALCLI_SANDBOX_EPOCH"),
])
def test_bad_input(cli, args, code, words):
    r = cli(*args, env={"BALCLI_SANDBOX_EPOCH": "yesterday"} if "--record" in args else None)
    assert r.code == code and words in r.err and r.out == "", r.err


def test_history_runs_on_a_machine_that_never_recorded_is_empty_and_creates_nothing(cli, db_path):
    r = cli("history", "runs", "--json")
    assert r.code == 0 and r.json() == [] and not db_path.exists()


# -- start-up cost -------------------------------------------------------------------------------------------------

def test_sqlite3_is_imported_only_where_the_history_is_used(sandbox, sandbox_env):
    from tests.test_performance import imports

    proc, names = imports("broker", "--json", "--max-items", "3")
    assert proc.returncode == 0 and "sqlite3" not in names and "balcli.history" not in names
    proc, names = imports("--help")
    assert proc.returncode == 0 and "sqlite3" not in names and "diff" in proc.stdout and "history" in proc.stdout
    proc, names = imports("broker", "--json", "--max-items", "3", "--record")
    assert proc.returncode == 0 and "sqlite3" in names


# -- summary ---------------------------------------------------------------------------------------------------------

def test_summary_record_then_diff(cli, db_path):
    record(cli, "summary", epoch=0)
    record(cli, "summary", epoch=1)
    rows = {(r["source"], r["scope"], r["coin"]): r for r in cli("diff", "summary", "--json").json()}
    assert {k: rows[k]["change"] for k in (("spot", "spot", "USDT"), ("oauth", "oauth.account", "USDTERC20"),
                                           ("oauth", "oauth.sub_accounts", "ETH"))} == {
        ("spot", "spot", "USDT"): "12.500000000000000", ("oauth", "oauth.account", "USDTERC20"): "100.000000",
        ("oauth", "oauth.sub_accounts", "ETH"): "0.500000"}
    usdt = sum((w["change"] for w in expected_broker_diff(0, 1) if w["coin"] == "USDT"), Decimal(0))
    assert Decimal(rows[("broker", "broker", "USDT")]["change"]) == usdt
    assert {r["status"] for r in rows.values()} == {"changed"}


def test_a_partial_summary_is_never_a_complete_run(cli, sandbox, sandbox_env, db_path):
    sandbox.inject("refused", api="binance")
    r = cli("summary", "--record", "-o", "csv")
    assert r.code == 4 and "broker" in r.out  # the other sources' rows were written
    ((_, command, view, status, _count, error),) = runs(db_path)
    assert (command, view, status) == ("summary", "summary", "failed") and error.startswith("exit 4: ")
    with sqlite3.connect(db_path) as db:
        assert db.execute("SELECT count(*) FROM rows").fetchone() == (0,)
