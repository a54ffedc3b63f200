"""render: what a user sees on stdout/stderr in each format; scripts read back exactly what the API sent."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from decimal import Context, Decimal, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from balcli import render as render_mod
from balcli.errors import ExitCode, NetworkError, UsageError
from balcli.render import OutputFormat, default_format, parse_fields, render
from balcli.schema import Field, View

BROKER = View(
    "broker",
    (Field("user_id"), Field("coin"), Field("total_balance", "amount")),
    sum_fields=("total_balance",),
    unit_field="coin",
)
# Sums always mean something here (no unit column); an int column; its own empty note.
LEDGER = View(
    "ledger",
    (Field("account"), Field("entries", "int"), Field("amount", "amount"), Field("note")),
    sum_fields=("amount",),
    empty_note="no entries",
)
PLAIN = View("plain", (Field("coin"), Field("balance", "amount")))  # nothing to total

HUGE = "98765432109876543210.123456789"
DUST = "0.000000000000000001"

ROWS = [
    {"user_id": "1001", "coin": "USDT", "total_balance": "257.518301140000000"},
    {"user_id": "1002", "coin": "USDT", "total_balance": DUST},
    {"user_id": "1003", "coin": "USDT", "total_balance": HUGE},
]


def run(pages, view=BROKER, fmt="table", **kw):
    """render into fresh buffers: (stdout text, stderr text, rows written)."""
    out, err = io.StringIO(), io.StringIO()
    n = render(pages, view, OutputFormat(fmt), out=out, err=err, **kw)
    return out.getvalue(), err.getvalue(), n


def lines(text: str) -> list[str]:
    """Table lines without the trailing pad space (invisible on screen); the text must end with a newline."""
    assert text.endswith("\n")
    return [line.rstrip() for line in text[:-1].split("\n")]


def failing_after(*pages, exc=None):
    """A page iterator that yields ``pages`` then fails the way a network error (or Ctrl-C) would."""
    yield from pages
    raise exc if exc is not None else NetworkError("connection reset by peer")


ANSI = re.compile(r"\x1b\[")


# --- --fields --------------------------------------------------------------------------------------------


def test_fields_absent_means_all_fields_in_default_order():
    assert parse_fields(BROKER, None) is None
    assert parse_fields(BROKER, "") is None


def test_fields_keep_the_requested_order_and_tolerate_blanks():
    assert parse_fields(BROKER, "total_balance,user_id") == ["total_balance", "user_id"]
    assert parse_fields(BROKER, " coin , total_balance ,") == ["coin", "total_balance"]


def test_unknown_field_is_a_usage_error_naming_it_and_listing_the_valid_ones():
    with pytest.raises(UsageError) as info:
        parse_fields(BROKER, "coin,balance,uid")
    e = info.value
    assert e.exit_code == ExitCode.USAGE
    assert "balance, uid" in str(e)
    assert "user_id, coin, total_balance" in str(e)
    assert e.hint == "--fields takes a comma-separated list of: user_id, coin, total_balance"


def test_unknown_field_suggests_the_close_one():
    with pytest.raises(UsageError, match="did you mean total_balance"):
        parse_fields(BROKER, "total_balanse")


def test_repeated_field_is_a_usage_error():
    with pytest.raises(UsageError, match="coin more than once") as info:
        parse_fields(BROKER, "coin,user_id,coin")
    assert "user_id, coin, total_balance" in info.value.hint


def test_default_format_is_a_table_only_on_a_terminal():
    assert default_format(True) is OutputFormat.table
    assert default_format(False) is OutputFormat.tsv


# --- json -------------------------------------------------------------------------------------------------


def test_json_is_one_array_of_flat_objects_with_amounts_as_received():
    out, err, n = run([ROWS[:2], ROWS[2:]], fmt="json")
    assert out == (
        "[\n"
        '  {"user_id": "1001", "coin": "USDT", "total_balance": "257.518301140000000"},\n'
        '  {"user_id": "1002", "coin": "USDT", "total_balance": "0.000000000000000001"},\n'
        '  {"user_id": "1003", "coin": "USDT", "total_balance": "98765432109876543210.123456789"}\n'
        "]\n"
    )
    assert err == "" and n == 3
    assert json.loads(out)[0]["total_balance"] == "257.518301140000000"


def test_json_fields_order_int_and_null():
    page = [{"account": "a", "entries": 3, "amount": "1.10", "note": None}]
    out, _, _ = run([page], LEDGER, "json", fields=["note", "entries", "amount"])
    assert out == '[\n  {"note": null, "entries": 3, "amount": "1.10"}\n]\n'


def test_json_empty_result_is_an_empty_array_and_no_note():
    assert run([[], []], fmt="json") == ("[]\n", "", 0)


@pytest.mark.parametrize("exc", [NetworkError("timed out"), KeyboardInterrupt()])
def test_json_writes_nothing_when_a_page_fails(exc):
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(type(exc)):
        render(failing_after(ROWS[:2], exc=exc), BROKER, OutputFormat.json, out=out, err=err)
    assert out.getvalue() == ""


# --- ndjson -----------------------------------------------------------------------------------------------


def test_ndjson_is_one_compact_object_per_line():
    out, _, n = run([ROWS[:1], [], ROWS[1:2]], fmt="ndjson", fields=["coin", "total_balance"])
    assert out == (
        '{"coin":"USDT","total_balance":"257.518301140000000"}\n'
        '{"coin":"USDT","total_balance":"0.000000000000000001"}\n'
    )
    assert n == 2


def test_ndjson_empty_result_is_empty():
    assert run([], fmt="ndjson") == ("", "", 0)


class FlushLog(io.StringIO):
    """stdout that remembers what a reader at the other end of a pipe had seen at each flush."""

    def __init__(self):
        super().__init__()
        self.flushed: list[str] = []

    def flush(self):
        super().flush()
        self.flushed.append(self.getvalue())


@pytest.mark.parametrize("fmt", ["ndjson", "csv", "tsv"])
def test_streaming_formats_flush_each_page_before_fetching_the_next(fmt):
    out = FlushLog()
    seen_when_fetching = []

    def pages():
        for page in (ROWS[:1], ROWS[1:2], ROWS[2:]):
            yield page
            seen_when_fetching.append(out.flushed[-1] if out.flushed else "")

    render(pages(), BROKER, OutputFormat(fmt), out=out, err=io.StringIO())
    # after page k has been handed over, the reader has seen k rows (plus the header for csv/tsv)
    header = 0 if fmt == "ndjson" else 1
    assert [s.count("\n") for s in seen_when_fetching] == [header + 1, header + 2, header + 3]


@pytest.mark.parametrize("fmt", ["ndjson", "csv", "tsv"])
def test_streaming_formats_keep_whole_rows_when_a_page_fails(fmt):
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(NetworkError):
        render(failing_after(ROWS[:2]), BROKER, OutputFormat(fmt), out=out, err=err)
    text = out.getvalue()
    assert text.endswith("\n")
    assert "257.518301140000000" in text and DUST in text and HUGE not in text
    assert text.count("\n") == (2 if fmt == "ndjson" else 3)
    assert err.getvalue() == ""


@pytest.mark.parametrize("fmt", ["ndjson", "csv", "tsv"])
@pytest.mark.parametrize("before", [(), ([],)], ids=["no page", "an empty page"])
def test_streaming_formats_write_nothing_when_no_row_arrived_before_a_failure(fmt, before):
    # the csv/tsv header waits for the first rows (or the end of an empty result): a run that fails before
    # any row (a ban, a refused key, the first page failing) leaves stdout empty, never a lone header that
    # reads like an empty result in `> file.tsv`
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(NetworkError):
        render(failing_after(*before), BROKER, OutputFormat(fmt), out=out, err=err)
    assert out.getvalue() == "" and err.getvalue() == ""


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_the_header_goes_out_in_one_write_with_the_first_rows(fmt):
    out = FlushLog()
    render([[], ROWS[:1], ROWS[1:]], BROKER, OutputFormat(fmt), out=out, err=io.StringIO())
    assert [s.count("\n") for s in out.flushed] == [2, 4]  # header + row 1, then rows 2 and 3


# --- csv / tsv --------------------------------------------------------------------------------------------


def test_csv_header_rows_and_quoting():
    page = [
        {"account": "main, spot", "entries": 2, "amount": "1.50", "note": 'say "hi"'},
        {"account": "sub", "entries": 0, "amount": "0E-8", "note": None},
    ]
    out, _, n = run([page], LEDGER, "csv")
    assert out == (
        "account,entries,amount,note\n"
        '"main, spot",2,1.50,"say ""hi"""\n'
        "sub,0,0E-8,\n"
    )
    assert n == 2


def test_csv_no_header_and_fields():
    out, _, _ = run([ROWS], fmt="csv", fields=["total_balance", "user_id"], header=False)
    assert out == f"257.518301140000000,1001\n{DUST},1002\n{HUGE},1003\n"


def test_csv_empty_result_still_has_the_header():
    assert run([[]], fmt="csv") == ("user_id,coin,total_balance\n", "", 0)
    assert run([[]], fmt="csv", header=False) == ("", "", 0)


def test_csv_field_with_a_carriage_return_is_quoted():
    out, _, _ = run([[{"coin": "a\rb", "balance": "1"}]], PLAIN, "csv", header=False)
    assert out == '"a\rb","1"\n'
    assert list(csv.reader(io.StringIO(out, newline=""))) == [["a\rb", "1"]]


def test_tsv_escapes_tab_newline_backslash_and_keeps_empty_cells():
    page = [
        {"account": "a\tb", "entries": 1, "amount": "-0.10", "note": "line1\nline2 C:\\x"},
        {"account": "c", "entries": None, "amount": "2", "note": None},
    ]
    out, _, n = run([page], LEDGER, "tsv")
    assert out == (
        "account\tentries\tamount\tnote\n"
        "a\\tb\t1\t-0.10\tline1\\nline2 C:\\\\x\n"
        "c\t\t2\t\n"
    )
    assert n == 2


def test_tsv_no_header_fields_and_empty():
    out, _, _ = run([ROWS[:1]], fmt="tsv", fields=["coin"], header=False)
    assert out == "USDT\n"
    assert run([], fmt="tsv") == ("user_id\tcoin\ttotal_balance\n", "", 0)


# --- table ------------------------------------------------------------------------------------------------


def test_table_right_aligns_amounts_keeps_digits_and_totals_one_unit():
    out, err, n = run([ROWS[:2], ROWS[2:]])
    assert lines(out) == [
        " user_id   coin                             total_balance",
        "─" * 58,
        " 1001      USDT                       257.518301140000000",
        " 1002      USDT                      0.000000000000000001",
        " 1003      USDT            98765432109876543210.123456789",
        "─" * 58,
        " total     USDT   98765432109876543467.641757929000000001",
    ]
    assert err == "" and n == 3


def test_table_has_no_total_across_different_coins():
    rows = [*ROWS, {"user_id": "1004", "coin": "BTC", "total_balance": "1.00000000"}]
    out, _, _ = run([rows], fields=["coin", "total_balance"])
    assert lines(out) == [
        " coin                    total_balance",
        "─" * 39,
        " USDT              257.518301140000000",
        " USDT             0.000000000000000001",
        " USDT   98765432109876543210.123456789",
        " BTC                        1.00000000",
    ]
    assert "total" not in out.split("\n", 1)[1]


def test_table_total_label_goes_with_the_unit_when_that_is_the_first_column():
    out, _, _ = run([ROWS], fields=["coin", "total_balance"])
    assert lines(out)[-1] == " total USDT   98765432109876543467.641757929000000001"


def test_table_without_a_unit_column_always_totals_and_right_aligns_ints():
    page = [
        {"account": "spot", "entries": 12, "amount": "-1.50", "note": None},
        {"account": "margin", "entries": 3, "amount": "0.25", "note": "x"},
        {"account": "futures", "entries": None, "amount": None, "note": "pending"},
    ]
    out, _, _ = run([page], LEDGER)
    assert lines(out) == [
        " account   entries   amount   note",
        "─" * 38,
        " spot           12    -1.50",
        " margin          3     0.25   x",
        " futures                      pending",
        "─" * 38,
        " total                -1.25",
    ]


def test_table_shows_no_total_when_the_summed_column_is_not_selected():
    out, _, _ = run([ROWS], fields=["user_id", "coin"])
    assert lines(out) == [
        " user_id   coin",
        "─" * 16,
        " 1001      USDT",
        " 1002      USDT",
        " 1003      USDT",
    ]


def test_table_view_without_sums_has_no_footer():
    out, _, _ = run([[{"coin": "BTC", "balance": "0.00100000"}]], PLAIN)
    assert lines(out) == [" coin      balance", "─" * 19, " BTC    0.00100000"]


def test_table_empty_result_is_a_note_on_stderr_only():
    assert run([[], []]) == ("", "no balances\n", 0)
    assert run([], LEDGER, footnotes=lambda: ["0 pages"]) == ("", "no entries\n0 pages\n", 0)


def test_table_footnotes_go_under_the_table():
    out, err, _ = run([ROWS[:1]], footnotes=lambda: ["1 customer, 1 page"])
    assert lines(out)[-2:] == [" total     USDT   257.518301140000000", "1 customer, 1 page"]
    assert err == ""


def test_table_footnotes_are_asked_for_only_after_every_row():
    calls = []

    def pages():
        yield ROWS[:1]
        calls.append("page 2")
        yield ROWS[1:]

    run(pages(), footnotes=lambda: calls.append("footnotes") or [])
    assert calls == ["page 2", "footnotes"]


def test_table_writes_nothing_when_a_page_fails():
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(NetworkError):
        render(failing_after(ROWS), BROKER, OutputFormat.table, out=out, err=err)
    assert out.getvalue() == "" and err.getvalue() == ""


def test_table_cells_cannot_inject_markup_or_terminal_escapes():
    page = [{"coin": "[bold]X[/bold]", "balance": "1"}, {"coin": "\x1b[31mRED\nx", "balance": "2"}]
    out, _, _ = run([page], PLAIN)
    assert lines(out) == [
        " coin             balance",
        "─" * 26,
        " [bold]X[/bold]         1",
        " \\x1b[31mRED\\nx         2",
    ]


def test_no_ansi_without_colour_in_the_table():
    out, _, _ = run([ROWS], footnotes=lambda: ["note"])
    assert not ANSI.search(out)
    coloured, _, _ = run([ROWS], color=True, footnotes=lambda: ["note"])
    assert ANSI.search(coloured)
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == out  # the same text, only styled


def _big_rows(n: int) -> list[dict]:
    rows = [
        {"user_id": str(500000 + i), "coin": "USDT", "total_balance": f"{i * 7919 % 100003}.{i:03d}0000"}
        for i in range(n)
    ]
    rows[17]["total_balance"] = HUGE
    rows[18]["total_balance"] = DUST
    return rows


def rich_table(text_rows: list[list[str]], names: list[str], right: list[bool], footer: list[str] | None) -> str:
    """The look balcli's table writer keeps: rich's own Table (box.SIMPLE, no edge), as balcli drew it with rich
    before issue 14 (no wrapping or cropping: the console is as wide as the table)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    out = io.StringIO()
    console = Console(file=out, force_terminal=False, no_color=True, color_system=None, width=10_000,
                      markup=False, emoji=False, highlight=False)
    table = Table(box=box.SIMPLE, show_edge=False, show_footer=footer is not None, header_style="bold",
                  footer_style="bold")
    for i, name in enumerate(names):
        table.add_column(name, justify="right" if right[i] else "left", no_wrap=True,
                         footer=footer[i] if footer is not None else "")
    for cells in text_rows:
        table.add_row(*cells)
    console.print(table)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines())


@pytest.mark.parametrize("n", [1, 3, 1500])
def test_the_table_looks_like_riches_at_every_size(n):
    rows = _big_rows(max(n, 20))[:n] if n > 20 else [{"user_id": "1", "coin": "USDT", "total_balance": "1.50"},
                                                      {"user_id": "22", "coin": "USDT", "total_balance": DUST},
                                                      {"user_id": "333", "coin": "USDT", "total_balance": HUGE}][:n]
    pages = [rows[i : i + 50] for i in range(0, len(rows), 50)]
    out, _, count = run(pages)
    assert count == n
    with localcontext(Context(prec=1000)):  # the default 28 digits would round HUGE + DUST
        total = format(sum(Decimal(r["total_balance"]) for r in rows), "f")
    expected = rich_table([[r["user_id"], r["coin"], r["total_balance"]] for r in rows],
                          ["user_id", "coin", "total_balance"], [False, False, True], ["total", "USDT", total])
    assert lines(out)[-1].split() == ["total", "USDT", total]
    assert "\n".join(line.rstrip() for line in out.splitlines()) == expected  # byte for byte, but trailing blanks


def test_ten_thousand_row_table():
    out, _, n = run([_big_rows(10_000)])
    assert n == 10_000
    assert len(lines(out)) == 1 + 1 + 10_000 + 1 + 1
    assert "E" not in out


def test_importing_render_loads_neither_rich_nor_decimal_and_json_never_needs_rich():
    code = (
        "import sys, io\n"
        "from balcli.render import render, OutputFormat\n"
        "assert 'rich' not in sys.modules and 'decimal' not in sys.modules, sorted(sys.modules)\n"
        "from balcli.schema import View, Field\n"
        "v = View('v', (Field('coin'), Field('balance', 'amount')), sum_fields=('balance',))\n"
        "out = io.StringIO()\n"
        "render([[{'coin': 'BTC', 'balance': '1'}]], v, OutputFormat.json, out=out, err=io.StringIO())\n"
        "assert out.getvalue() == '[\\n  {\"coin\": \"BTC\", \"balance\": \"1\"}\\n]\\n', out.getvalue()\n"
        "assert 'rich' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_float_is_refused_rather_than_printed():
    with pytest.raises(TypeError, match="float"):
        run([[{"coin": "BTC", "balance": 0.1}]], PLAIN, "json")


# --- properties: scripts read back exactly what the API sent ---------------------------------------------

decimal_text = st.from_regex(r"-?(0|[1-9][0-9]{0,40})(\.[0-9]{1,40})?", fullmatch=True)
PAIR = View("pair", (Field("name"), Field("amount", "amount")), sum_fields=("amount",))


def _read_tsv(text: str) -> list[list[str]]:
    unescape = {"\\\\": "\\", "\\t": "\t", "\\n": "\n", "\\r": "\r"}
    return [
        [re.sub(r"\\[\\tnr]", lambda m: unescape[m.group()], cell) for cell in line.split("\t")]
        for line in text[:-1].split("\n")
    ]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text(), decimal_text), min_size=1, max_size=8))
def test_machine_formats_round_trip_any_text_and_any_decimal_string(pairs):
    rows = [{"name": name, "amount": amount} for name, amount in pairs]
    expected = [[name, amount] for name, amount in pairs]
    pages = [rows[:3], rows[3:]]

    out, _, _ = run(pages, PAIR, "json")
    assert [[r["name"], r["amount"]] for r in json.loads(out)] == expected

    out, _, _ = run(pages, PAIR, "ndjson")
    assert out.endswith("\n")
    assert [[json.loads(line)["name"], json.loads(line)["amount"]] for line in out.splitlines()] == expected

    out, _, _ = run(pages, PAIR, "csv")
    assert list(csv.reader(io.StringIO(out, newline=""))) == [["name", "amount"], *expected]

    out, _, _ = run(pages, PAIR, "tsv")
    assert _read_tsv(out) == [["name", "amount"], *expected]


@settings(max_examples=200, deadline=None)
@given(st.lists(decimal_text, min_size=1, max_size=20))
def test_table_total_is_the_exact_decimal_sum(amounts):
    out, _, _ = run([[{"name": f"r{i}", "amount": a} for i, a in enumerate(amounts)]], PAIR)
    label, total = lines(out)[-1].split()
    assert label == "total"
    assert re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", total)  # never exponent notation
    with localcontext(Context(prec=1000)):
        assert Decimal(total) == sum(Decimal(a) for a in amounts)


@pytest.mark.parametrize("memory", [10**9, 64])
def test_json_is_spooled_not_held_and_stays_all_or_nothing(monkeypatch, tmp_path, memory):
    import tempfile

    monkeypatch.setattr(render_mod, "JSON_SPOOL_MEMORY", memory)  # 64 bytes: the spool goes to a file
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    rows = _big_rows(120)
    out, _, n = run([rows[i : i + 50] for i in range(0, 120, 50)], fmt="json")
    assert n == 120 and json.loads(out) == rows and out.count("\n") == 122
    failed = io.StringIO()
    with pytest.raises(NetworkError):
        render(failing_after(rows[:50]), BROKER, OutputFormat.json, out=failed, err=io.StringIO())
    assert failed.getvalue() == "" and list(spool.iterdir()) == []  # nothing out, nothing left behind
