"""balcli summary against the sandbox on loopback: exact rows, holders, status lines, partial failures in every
way a source fails, -o prometheus through the reference parser, and the atomic --output/-O FILE."""

from __future__ import annotations

import csv
import errno
import io
import json
import os
from decimal import Decimal

import pytest

from balcli.exchanges import SOURCE_COMMANDS

SOURCES = ["broker", "spot", "invitees", "snapshot", "oauth"]


@pytest.fixture
def real_env(sandbox, sandbox_env, config_dir):
    """Every source pointed at the sandbox; Binance's client pacing lifted (several snapshot types in one run
    would otherwise wait 12 s each, as the real 5-a-minute budget requires)."""
    (config_dir / "config.yaml").write_text("profiles:\n  default:\n    binance: {rate_limit: 100}\n")
    return sandbox_env


@pytest.fixture
def env(real_env):
    """As ``real_env``, on the fake clock: rate-limit pacing costs no time (the sandbox, in this process, reads
    the same clock, so it sees the pacing it expects)."""
    return real_env


def status_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("balcli: ") and not line.startswith("balcli: error")]


def exact(rows, **match):
    return [r for r in rows if all(r[k] == v for k, v in match.items())]


# -- rows ------------------------------------------------------------------------------------------------

def test_rows_are_each_sources_exact_sums_with_one_status_line_each(sandbox, env, cli):
    r = cli("summary", "--json")
    assert r.code == 0, r.err
    rows = r.json()
    assert [s.split(":")[1].strip() for s in status_lines(r.err)] == SOURCES
    assert all(" ok, " in s for s in status_lines(r.err))
    assert "balcli: broker: ok, 300 customers in 6 pages, " in r.err
    assert list(rows[0]) == ["source", "scope", "holder", "coin", "amount", "count", "as_of"]
    assert [s for s in dict.fromkeys(r["source"] for r in rows)] == SOURCES

    broker = {t["coin"]: t for t in cli("broker", "--total", "--json").json()}
    got = {r["coin"]: r for r in exact(rows, source="broker")}
    assert {c: (g["amount"], g["count"], g["holder"]) for c, g in got.items()} == {
        c: (t["total_balance"], t["users"], "customers") for c, t in broker.items()}
    assert got["USDT"]["amount"] == "98765432109904472352.493314849000000002"  # 20 digits before the point, exact

    spot = cli("spot", "--complete", "--json").json()
    assert {r["coin"]: r["amount"] for r in exact(rows, source="spot")} == {s["coin"]: s["total"] for s in spot}
    assert exact(rows, source="spot", coin="DUST")[0]["amount"] == "0.000000000000000001"

    invitees = cli("invitees", "--json").json()
    total = sum(Decimal(i["current_balance"] or 0) for i in invitees)
    [inv] = exact(rows, source="invitees")
    assert (inv["scope"], inv["holder"], inv["coin"], Decimal(inv["amount"]), inv["count"]) == (
        "invitees", "customers", "USDT", total, len(invitees))

    latest = cli("snapshot", "--json").json()
    day = [s for s in latest if s["date"] == latest[-1]["date"]]
    snap = exact(rows, source="snapshot")
    assert {(r["scope"], r["coin"]): Decimal(r["amount"]) for r in snap} == {
        ("snapshot.spot", s["asset"]): Decimal(s["free"]) + Decimal(s["locked"]) for s in day}
    assert {r["as_of"] for r in snap} == {day[0]["update_time"]}

    oauth = cli("oauth", "balances", "--json").json()
    assert {(r["scope"], r["coin"], r["amount"]) for r in exact(rows, source="oauth")} == {
        (f"oauth.{o['scope']}", o["currency"], o["balance"]) for o in oauth}
    assert {r["holder"] for r in rows if r["source"] in ("spot", "snapshot", "oauth")} == {"own"}


def test_by_coin_never_adds_customers_money_to_the_houses_own(sandbox, env, cli):
    by_source = cli("summary", "--json").json()
    r = cli("summary", "--by", "coin", "--coin", "usdt", "--json")
    assert r.code == 0, r.err
    assert r.json() == [
        {"holder": "own", "coin": "USDT", "amount": str(sum(Decimal(x["amount"]) for x in by_source
                                                          if x["holder"] == "own" and x["coin"] == "USDT")),
         "sources": "spot+snapshot"},
        {"holder": "customers", "coin": "USDT", "amount": "98765432109907620596.258813429000000002",
         "sources": "broker+invitees"},
    ]


def test_sources_run_concurrently(sandbox, real_env, cli):
    """Each source's requests overlap the others' (the wall time is the slowest source, not the sum)."""
    sandbox.inject("latency", ms=150)
    assert cli("summary", "-o", "tsv").code == 0
    spans = {}
    for q in sandbox.requests:
        lo, hi = spans.get(q.api, (q.time, q.time))
        spans[q.api] = (min(lo, q.time), max(hi, q.time))
    _, broker_hi = spans["zoomex"]
    assert all(lo < broker_hi for api, (lo, _) in spans.items() if api != "zoomex"), spans


def test_unconfigured_sources_are_skipped_by_default(sandbox, env, cli, monkeypatch):
    for name in [n for n in env if n.startswith("BALCLI_CRYPTOFUSE_") and not n.endswith("BASE_URL")]:
        monkeypatch.delenv(name)
    r = cli("summary", "-o", "csv")
    assert r.code == 0, r.err
    assert "balcli: oauth: skipped: not configured" in status_lines(r.err)
    assert len(status_lines(r.err)) == 5
    assert "oauth" not in {row["source"] for row in csv.DictReader(io.StringIO(r.out))}
    assert sandbox.count(api="cryptofuse") == 0


def test_a_named_source_without_credentials_is_exit_3_before_any_request(sandbox, env, cli, monkeypatch):
    monkeypatch.delenv("BALCLI_BINANCE_API_KEY")
    monkeypatch.delenv("BALCLI_BINANCE_API_SECRET")
    r = cli("summary", "--sources", "spot,snapshot", "--json")
    assert (r.code, r.out) == (3, "")
    assert "balcli: error: no binance credentials" in r.err and "BALCLI_BINANCE_API_KEY" in r.err
    assert sandbox.requests == []


@pytest.mark.parametrize("args,message", [
    (["--sources", "broker,nasdaq"], "unknown source nasdaq"),
    (["--sources", ","], "no source"),
    (["--by", "exchange"], "exchange"),
    (["--coin", "US-DT"], "not a coin code"),
    (["--base-url", "http://127.0.0.1:1"], "--base-url"),
    (["--fields", "coin,sources"], "unknown field"),
])
def test_usage_errors_before_any_request(sandbox, env, cli, args, message):
    r = cli("summary", *args, "--json")
    assert (r.code, r.out) == (2, "") and message in r.err, r.err
    assert sandbox.requests == []


# -- a source failing, in each way --------------------------------------------------------------------------

FAILURES = {
    "refused": (4, lambda sb, mp: sb.inject("refused", api="binance")),
    "5xx": (6, lambda sb, mp: sb.inject("http_error", api="binance", status=503)),
    "rate-limited": (5, lambda sb, mp: sb.inject("rate_limit", api="binance", retry_after=1)),
}


@pytest.mark.parametrize("way", list(FAILURES))
@pytest.mark.parametrize("fmt", ["json", "csv", "ndjson", "table"])
def test_one_failed_source_makes_a_partial_summary_that_never_exits_0(sandbox, env, cli, monkeypatch,
                                                                      way, fmt):
    code, fail = FAILURES[way]
    fail(sandbox, monkeypatch)
    r = cli("summary", "-o", fmt, "--max-retries", "1")
    assert r.code == code, r.err
    lines = status_lines(r.err)
    assert len(lines) == 5 and lines[3].startswith(f"balcli: snapshot: failed (exit {code}): Binance")
    assert [ln.split(":")[1].strip() for ln in lines if " ok, " in ln] == ["broker", "spot", "invitees", "oauth"]
    assert "balcli: error: snapshot: Binance" in r.err and "\nhint: " in r.err
    if fmt == "json":
        assert r.out == ""  # all or nothing
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(r.out)))
        assert [s for s in dict.fromkeys(row["source"] for row in rows)] == ["broker", "spot", "invitees", "oauth"]
    elif fmt == "ndjson":
        rows = [json.loads(line) for line in r.out.splitlines()]
        assert "snapshot" not in {row["source"] for row in rows} and len(rows) > 20
    else:
        assert " broker " in r.out and " snapshot.spot " not in r.out
        assert f"snapshot: failed (exit {code}): its figures are missing" in r.out


@pytest.mark.parametrize("api,source", [("zoomex", "broker"), ("coinw_spot", "spot"), ("coinw_affiliate", "invitees"),
                                        ("binance", "snapshot"), ("cryptofuse", "oauth")])
def test_the_sandbox_makes_any_one_source_fail_on_its_own(sandbox, env, cli, no_sleep, api, source):
    sandbox.inject("refused", api=api)
    r = cli("summary", "-o", "tsv")
    assert r.code == 4, r.err
    lines = status_lines(r.err)
    assert [ln for ln in lines if " failed " in ln] == [ln for ln in lines if ln.startswith(f"balcli: {source}: failed (exit 4)")]
    assert sum(" ok, " in ln for ln in lines) == 4
    assert f"\t{source}\t" not in r.out.split("\n", 1)[1]


def test_refused_credentials_from_a_wrong_key(sandbox, env, cli, monkeypatch):
    monkeypatch.setenv("BALCLI_BINANCE_API_KEY", "not-a-key-the-sandbox-knows")
    r = cli("summary", "--sources", "snapshot,spot", "--json")
    assert (r.code, r.out) == (4, "") and "balcli: snapshot: failed (exit 4): Binance rejected the credentials" in r.err


def test_several_failed_sources_exit_with_the_highest_code(sandbox, env, cli, monkeypatch):
    sandbox.inject("http_error", api="binance", status=502)  # 6
    monkeypatch.setenv("BALCLI_CRYPTOFUSE_CLIENT_SECRET", "wrong-secret")  # 4
    r = cli("summary", "-o", "tsv", "--max-retries", "0")
    assert r.code == 6, r.err
    assert r.err.count("balcli: error: ") == 2
    assert r.err.index("balcli: error: oauth:") < r.err.index("balcli: error: snapshot:")  # the exit code's last
    assert "spot\tspot\town\tUSDT\t1257.768301140000000" in r.out


def test_snapshot_types_come_from_the_config(sandbox, env, cli, config_dir):
    (config_dir / "config.yaml").write_text("summary: {snapshot_types: [futures, margin]}\n"
                                            "profiles:\n  default:\n    binance: {rate_limit: 100}\n")
    r = cli("summary", "--sources", "snapshot", "--json")
    assert r.code == 0, r.err
    assert {row["scope"] for row in r.json()} == {"snapshot.futures", "snapshot.margin"}
    assert [dict(q.query)["type"] for q in sandbox.requests if q.api == "binance"] == ["FUTURES", "MARGIN"]
    assert "1 snapshot" not in r.err and "snapshot: ok, 2 snapshots in 2 pages" in r.err


def test_a_bad_snapshot_types_setting_is_exit_3_naming_the_key(env, cli, config_dir):
    (config_dir / "config.yaml").write_text("summary:\n  snapshot_types: [spot, options]\n")
    r = cli("summary", "--json")
    assert r.code == 3 and "config.yaml:2: summary.snapshot_types: must be a list" in r.err


# -- -o prometheus -------------------------------------------------------------------------------------------

def test_prometheus_output_parses_with_the_reference_parser(sandbox, env, cli):
    from prometheus_client.parser import text_string_to_metric_families

    rows = cli("summary", "--json").json()
    r = cli("summary", "-o", "prometheus")
    assert r.code == 0, r.err
    families = {f.name: f for f in text_string_to_metric_families(r.out)}
    assert set(families) == {"balcli_balance", "balcli_source_up", "balcli_source_duration_seconds",
                             "balcli_source_rows", "balcli_last_run_timestamp_seconds"}
    assert all(f.type == "gauge" and f.documentation for f in families.values())
    balances = {(s.labels["source"], s.labels["scope"], s.labels["holder"], s.labels["coin"]): s.value
                for s in families["balcli_balance"].samples}
    assert len(balances) == len(rows)
    assert balances[("spot", "spot", "own", "USDT")] == pytest.approx(1257.76830114)
    # the exact text is what balcli wrote; the parser's float is Prometheus' business
    assert 'balcli_balance{source="spot",scope="spot",holder="own",coin="DUST"} 0.000000000000000001\n' in r.out
    assert {s.labels["source"]: s.value for s in families["balcli_source_up"].samples} == dict.fromkeys(SOURCES, 1.0)


def test_prometheus_of_a_partial_summary_says_which_source_is_down(sandbox, env, cli):
    from prometheus_client.parser import text_string_to_metric_families

    sandbox.inject("http_error", api="cryptofuse", status=500)
    r = cli("summary", "-o", "prometheus", "--max-retries", "0")
    assert r.code == 6
    families = {f.name: f for f in text_string_to_metric_families(r.out)}
    assert {s.labels["source"]: s.value for s in families["balcli_source_up"].samples}["oauth"] == 0.0
    assert "oauth" not in {s.labels["source"] for s in families["balcli_balance"].samples}


def test_prometheus_label_values_are_escaped():
    from prometheus_client.parser import text_string_to_metric_families

    from balcli import prometheus

    weird = 'a "quoted" back\\slash\nnew line'
    out = io.StringIO()
    prometheus.write([prometheus.Metric("check_ok", "help with \\ and\nnewline", [({"name": weird, "rule": "x"}, "1")])],
                     out)
    [family] = text_string_to_metric_families(out.getvalue())
    assert family.samples[0].labels == {"name": weird, "rule": "x"}
    assert family.documentation == "help with \\ and\nnewline"


@pytest.mark.parametrize("argv", [["broker"], ["spot", "--complete"], ["oauth", "balances"], ["auth", "status"]])
def test_prometheus_elsewhere_is_a_usage_error_about_cardinality(sandbox, env, cli, argv):
    r = cli(*argv, "-o", "prometheus")
    assert (r.code, r.out) == (2, "") and "cardinality" in r.err
    r = cli(*argv, env={"BALCLI_FORMAT": "prometheus"})
    assert (r.code, r.out) == (2, "") and "cardinality" in r.err
    assert sandbox.requests == []


# -- --output/-O FILE ----------------------------------------------------------------------------------------

def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_output_replaces_the_file_only_when_the_run_succeeds(sandbox, env, cli, tmp_path):
    target = tmp_path / "broker.csv"
    target.write_text("old\n")
    os.chmod(target, 0o640)
    r = cli("broker", "-o", "csv", "-O", str(target))
    assert (r.code, r.out, r.err) == (0, "", "")
    assert target.read_text().startswith("user_id,coin,total_balance\n") and target.read_text().count("\n") > 300
    assert oct(os.stat(target).st_mode & 0o777) == oct(0o640)  # an existing file keeps its mode
    assert leftovers(tmp_path) == []


def test_a_new_output_file_gets_the_umask_mode(sandbox, env, cli, tmp_path):
    old = os.umask(0o027)
    try:
        r = cli("spot", "--json", "-O", str(tmp_path / "spot.json"))
    finally:
        os.umask(old)
    assert r.code == 0 and json.loads((tmp_path / "spot.json").read_text())
    assert oct(os.stat(tmp_path / "spot.json").st_mode & 0o777) == oct(0o640)


def test_a_failure_mid_run_leaves_the_file_as_it_was(sandbox, env, cli, tmp_path):
    """The second cursor page points back at itself (exit 7) after the first page's rows were written."""
    target = tmp_path / "broker.csv"
    target.write_bytes(b"yesterday\n")
    sandbox.inject("cursor_cycle", api="zoomex")
    r = cli("broker", "-o", "csv", "-O", str(target))
    assert r.code == 7, r.err
    assert sandbox.count(api="zoomex") >= 2  # some pages came (and were written to the temporary file)
    assert target.read_bytes() == b"yesterday\n" and leftovers(tmp_path) == []


def test_a_partial_summary_never_replaces_the_file(sandbox, env, cli, tmp_path):
    target = tmp_path / "balcli.prom"
    target.write_text("# the last good run\n")
    sandbox.inject("http_error", api="zoomex", status=503)
    r = cli("summary", "-o", "prometheus", "-O", str(target), "--max-retries", "0")
    assert (r.code, r.out) == (6, "")
    assert target.read_text() == "# the last good run\n" and leftovers(tmp_path) == []
    r = cli("summary", "-o", "prometheus", "-O", str(target), "--sources", "spot")  # now a good run
    assert r.code == 0 and 'balcli_source_up{source="spot"} 1' in target.read_text()


def test_a_full_disk_leaves_the_file_as_it_was(sandbox, env, cli, tmp_path, monkeypatch):
    target = tmp_path / "spot.csv"
    target.write_bytes(b"before\n")

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("balcli.files.os.fsync", no_space)
    r = cli("spot", "-o", "csv", "-O", str(target))
    assert r.code == 3 and f"balcli: error: cannot write {target}: No space left on device" in r.err
    assert target.read_bytes() == b"before\n" and leftovers(tmp_path) == []


def test_a_real_full_tmpfs_leaves_the_file_as_it_was(sandbox, env, cli, tmp_path):
    import subprocess

    mount = tmp_path / "tiny"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        target = mount / "broker.csv"
        target.write_bytes(b"before\n")
        r = cli("broker", "-o", "csv", "-O", str(target))  # ~25 kB of rows into 16 kB
        assert r.code == 3 and "No space left on device" in r.err, r.err
        assert target.read_bytes() == b"before\n" and leftovers(mount) == []
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_ctrl_c_leaves_the_file_as_it_was(sandbox, env, cli, tmp_path, monkeypatch):
    from balcli.sources import zoomex

    target = tmp_path / "broker.tsv"
    target.write_bytes(b"before\n")
    real = zoomex.customer_rows
    calls = []

    def interrupted(customer):
        calls.append(1)
        if len(calls) > 60:
            raise KeyboardInterrupt
        return real(customer)

    monkeypatch.setattr(zoomex, "customer_rows", interrupted)
    r = cli("broker", "-o", "tsv", "-O", str(target))
    assert r.code == 130
    assert target.read_bytes() == b"before\n" and leftovers(tmp_path) == []


@pytest.mark.parametrize("make,message", [
    (lambda p: str(p / "missing" / "x.csv"), "does not exist"),
    (lambda p: str(p), "is a directory"),
])
def test_an_unusable_output_path_is_exit_2_before_any_request(sandbox, env, cli, tmp_path, make, message):
    r = cli("spot", "-O", make(tmp_path))
    assert r.code == 2 and message in r.err
    assert sandbox.requests == []


def test_summary_is_listed_with_the_source_commands_in_the_registry():
    from balcli.exchanges import summary_sources

    assert list(summary_sources()) == list(SOURCE_COMMANDS)


def test_every_summary_contribution_resolves_and_belongs_to_its_exchange():
    from balcli.exchanges import load, summary_sources

    scopes = []
    for command, (exchange, part) in summary_sources().items():
        assert command in exchange.commands and part.holder in ("own", "customers")
        assert callable(load(part.rows)) and part.rows.startswith("balcli.sources.")
        scopes += part.scopes
    assert len(scopes) == len(set(scopes))  # a check rule's scope names one source
