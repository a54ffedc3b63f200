"""Rows -> table | json | ndjson | csv | tsv on stdout (README "Output formats"). Never touches the network.

``render`` takes an iterable of *pages* (lists of row dicts whose keys are a view's field names) so that the
streaming formats can write and flush each page as it arrives. Iterating the pages may raise (a network
``BalcliError``, ``KeyboardInterrupt``); every format lets that propagate after doing its own right thing:

========  ==========================================================================================
format    on a failure while pages are still arriving
========  ==========================================================================================
json      nothing at all on stdout (all-or-nothing: every page is fetched before the first byte)
ndjson    the whole rows of the pages already received, each ending in a newline
csv/tsv   the header and the whole rows of the pages already received, each ending in a newline; nothing
          at all if no row arrived (the header goes out with the first rows, or at the end of an
          empty result)
table     nothing on stdout (a table is for reading as a whole; a partial total would mislead)
========  ==========================================================================================

Values are ``str`` (amounts exactly as the API sent them: ``"257.518301140000000"`` stays so), ``int`` or
``None``. No value is ever converted to ``float``; a float handed to render is a bug and raises ``TypeError``.

Import cost matters (``balcli --version`` and ``-o json`` must start fast), so only cheap standard-library
modules are imported here; rich and ``balcli.amounts`` (``decimal``) are imported only when a table is drawn.
"""

from __future__ import annotations

import csv
import enum
import io
import json
from typing import TYPE_CHECKING, TextIO

from balcli.options import FORMATS

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from balcli.schema import Field, View


class OutputFormat(str, enum.Enum):
    table = "table"
    json = "json"
    ndjson = "ndjson"
    csv = "csv"
    tsv = "tsv"
    prometheus = "prometheus"  # summary and check only: written by balcli.prometheus, not by render()


# One home for the format names (balcli.options.FORMATS): the config file, BALCLI_FORMAT and -o take the same.
if tuple(f.value for f in OutputFormat) != FORMATS:  # pragma: no cover - a definition error, caught by any run
    raise ImportError("OutputFormat and balcli.options.FORMATS disagree")


def default_format(stdout_isatty: bool) -> OutputFormat:
    """A table for a person at a terminal; tab-separated values for pipes, files and cron (README "Output formats")."""
    return OutputFormat.table if stdout_isatty else OutputFormat.tsv


def parse_fields(view: View, spec: str | None) -> list[str] | None:
    """``--fields a,b,c`` -> the chosen names in order; ``None`` (all fields, default order) when absent.

    Blanks around names and empty items (a trailing comma) are ignored. Unknown or repeated names are a usage
    error that names them and lists the view's valid fields in their default order.
    """
    if spec is None or not spec.strip():
        return None
    names = [part.strip() for part in spec.split(",") if part.strip()]
    valid = view.field_names
    hint = "--fields takes a comma-separated list of: " + ", ".join(valid)
    from balcli.errors import UsageError

    if not names:
        raise UsageError(f"--fields {spec!r} names no field", hint)
    unknown = [n for n in names if n not in valid]
    if unknown:
        import difflib

        guesses = [g for n in unknown for g in difflib.get_close_matches(n, valid, n=1)]
        message = (
            f"unknown field{'s' if len(unknown) > 1 else ''} for --fields: {', '.join(unknown)}"
            f" (valid: {', '.join(valid)})"
        )
        if len(unknown) == 1 and guesses:
            message += f"; did you mean {guesses[0]}?"
        raise UsageError(message, hint)
    repeated = sorted({n for n in names if names.count(n) > 1}, key=names.index)
    if repeated:
        raise UsageError(
            f"--fields names {', '.join(repeated)} more than once (valid: {', '.join(valid)})", hint
        )
    return names


def render(
    pages: Iterable[list[dict]],
    view: View,
    fmt: OutputFormat | str,
    *,
    fields: list[str] | None = None,
    header: bool = True,
    out: TextIO,
    err: TextIO,
    color: bool = False,
    footnotes: Callable[[], list[str]] | None = None,
    wide: bool = False,
) -> int:
    """Write the rows of ``pages`` to ``out`` in ``fmt``; return the number of rows written.

    A table on a terminal fits its width (``choose_columns``): the columns that fit, in field order, and a note
    on ``err`` naming the hidden ones; ``wide`` shows every column however wide.

    ``fields`` comes from :func:`parse_fields` (``None``: all fields). ``header`` applies to csv/tsv only.
    ``color`` (decided by the caller from isatty and ``NO_COLOR``) applies to the table only; without it no
    ANSI escape is written. ``footnotes()`` is called after the rows are consumed, for the table only; its
    lines go under the table (for an empty result, to ``err`` after the empty note: stdout stays empty).
    """
    fmt = OutputFormat(fmt)
    cols = view.select(fields)
    names = [f.name for f in cols]
    if fmt is OutputFormat.json:
        return _write_json(pages, names, out)
    if fmt is OutputFormat.ndjson:
        return _write_ndjson(pages, names, out)
    if fmt is OutputFormat.csv:
        return _write_csv(pages, names, out, header)
    if fmt is OutputFormat.tsv:
        return _write_tsv(pages, names, out, header)
    if fmt is OutputFormat.prometheus:
        raise ValueError("render() does not write prometheus: the command writes it with balcli.prometheus")
    return _write_table(pages, view, cols, out, err, color, footnotes, wide)


# --- values ---------------------------------------------------------------------------------------------


def _odd_value(value: object, name: str) -> object:
    """A value that is not str/int/None: a Decimal becomes plain decimal text; anything else is a bug."""
    if isinstance(value, bool):
        return value
    from decimal import Decimal

    if isinstance(value, Decimal):
        from balcli.amounts import format_decimal

        return format_decimal(value)
    if isinstance(value, float):  # float-ok: rejected, never formatted
        raise TypeError(f"field {name!r} holds a float ({value!r}); amounts must stay exact strings")
    raise TypeError(f"field {name!r} holds an unsupported {type(value).__name__}: {value!r}")


_PLAIN_TYPES = (str, int, type(None))


def _json_row(row: dict, names: Sequence[str]) -> dict:
    """The selected fields in order: str stays a JSON string, int a number, None null."""
    out = {}
    for n in names:
        v = row.get(n)
        out[n] = v if type(v) in _PLAIN_TYPES else _odd_value(v, n)
    return out


def _text(value: object, name: str) -> str:
    """A cell as text: None -> empty; amounts verbatim (never float, never exponent notation)."""
    if type(value) is str:
        return value  # type: ignore[return-value]
    if value is None:
        return ""
    if type(value) is int:
        return str(value)
    odd = _odd_value(value, name)
    return ("true" if odd else "false") if isinstance(odd, bool) else str(odd)


# --- json / ndjson ----------------------------------------------------------------------------------------


# Up to this much JSON text stays in memory; a larger result spools to an unnamed temporary file.
JSON_SPOOL_MEMORY = 1024 * 1024


def _write_json(pages: Iterable[list[dict]], names: Sequence[str], out: TextIO) -> int:
    # All-or-nothing (README "Output formats"): every page is fetched before the first byte, so a failure
    # midway leaves stdout empty. The rows are not held: each is serialised as its page arrives into a spool
    # (memory, then an unnamed temporary file that the system removes however the run ends), copied out only on
    # success.
    # One row object per line inside the array, e.g.
    #   [
    #     {"coin": "BTC", "balance": "1.50"},
    #     {"coin": "ETH", "balance": "0.000000000000000001"}
    #   ]
    # Valid JSON for jq and every parser, yet a person (or grep, or diff) reads one row per line; a fully
    # indented dump would take N+2 lines per row, a compact one a single unreadable line. ASCII-escaped
    # (json's default) so the bytes are encodable whatever stdout's locale is; parsers decode it identically.
    import shutil
    import tempfile

    dumps = json.dumps
    count = 0
    with tempfile.SpooledTemporaryFile(max_size=JSON_SPOOL_MEMORY, mode="w+", encoding="ascii",
                                       newline="") as spool:
        for page in pages:
            if not page:
                continue
            spool.write("".join(("[\n  " if count + i == 0 else ",\n  ") + dumps(_json_row(row, names))
                                for i, row in enumerate(page)))
            count += len(page)
        if not count:
            out.write("[]\n")
            out.flush()
            return 0
        spool.write("\n]\n")
        spool.seek(0)
        shutil.copyfileobj(spool, out, 1 << 16)
    out.flush()
    return count


def _write_ndjson(pages: Iterable[list[dict]], names: Sequence[str], out: TextIO) -> int:
    # Compact separators: one object per line is for machines (jq -c style); each page is one write and one
    # flush so a pipe sees rows as pages arrive and a failure between pages leaves only whole lines.
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    count = 0
    for page in pages:
        if not page:
            continue
        out.write("".join(dumps(_json_row(row, names)) + "\n" for row in page))
        out.flush()
        count += len(page)
    return count


# --- csv / tsv ----------------------------------------------------------------------------------------------


def _write_csv(pages: Iterable[list[dict]], names: Sequence[str], out: TextIO, header: bool) -> int:
    # RFC 4180 quoting by the csv module, "\n" line ends, None -> empty cell (None and "" read back alike).
    # The csv module quotes a field holding "\n" but not one holding a lone "\r" when the line end is "\n",
    # and a reader would split the record there; such rows are written with every field quoted instead.
    # The header goes out with the first rows (or alone at the end of an empty result), never before: a run
    # that fails before its first rows leaves stdout empty, not a header that reads like an empty result.
    buf = io.StringIO()
    minimal = csv.writer(buf, lineterminator="\n")
    quoted = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL)
    count = 0
    for page in pages:
        if not page:
            continue
        buf.seek(0)
        buf.truncate()
        if header and not count:
            minimal.writerow(names)
        for row in page:
            cells = [_text(row.get(n), n) for n in names]
            (quoted if any("\r" in c for c in cells) else minimal).writerow(cells)
        out.write(buf.getvalue())
        out.flush()
        count += len(page)
    if header and not count:
        minimal.writerow(names)
        out.write(buf.getvalue())
        out.flush()
    return count


# TSV: one record per line, fields separated by a tab, None -> empty cell. Any string round-trips: a backslash
# is written as \\, a tab as \t, a newline as \n and a carriage return as \r (the convention of PostgreSQL's
# COPY text format and of `mysql --batch`), so a field never holds a raw tab or line break. To read a field
# back: split the line on tabs, then replace \\ \t \n \r by the characters they stand for in one left-to-right
# pass. Amounts, coins and ids never contain these characters, so they read as-is with cut, awk or `read`.
_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _tsv_line(cells: Iterable[str]) -> str:
    return "\t".join(c.translate(_TSV_ESCAPES) for c in cells) + "\n"


def _write_tsv(pages: Iterable[list[dict]], names: Sequence[str], out: TextIO, header: bool) -> int:
    # The header as for csv: with the first rows, or alone at the end of an empty result.
    head = _tsv_line(names) if header else ""
    count = 0
    for page in pages:
        if not page:
            continue
        out.write(("" if count else head) + "".join(_tsv_line(_text(row.get(n), n) for n in names) for row in page))
        out.flush()
        count += len(page)
    if head and not count:
        out.write(head)
        out.flush()
    return count


# --- table --------------------------------------------------------------------------------------------------

# A wide default when stdout is not a terminal: a table is never wrapped or truncated, whatever its width.
_WIDE = 1000

# Control characters would break the layout (a newline) or drive the terminal (ESC): shown escaped.
_CONTROL_ESCAPES = {
    **{c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))},
    0x09: "\\t",
    0x0A: "\\n",
    0x0D: "\\r",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}

# Cells of a row are kept joined by this character, which no cell can hold (_cell escapes every control
# character): one string a row instead of a list and its strings (100,000 rows: about 9 MB instead of 40).
_SEP = "\x1f"


def _cell(value: object, name: str) -> str:
    text = _text(value, name)
    return text if text.isprintable() else text.translate(_CONTROL_ESCAPES)


def _width(text: str) -> int:
    if text.isascii():
        return len(text)
    from rich.cells import cell_len  # wide (CJK) and zero-width characters, measured as rich does

    return cell_len(text)


class _Footer:
    """The totals row, built as rows go by (no row is kept for it): each summed column holds the exact sum of
    its non-empty cells (empty if one is not a number); the unit column holds the shared unit; the label
    ``total`` goes in the first column that is not summed (``total USDT`` when that is the unit column). No
    footer where a sum means nothing: no summed column shown, or rows in different units."""

    def __init__(self, view: View, cols: Sequence[Field]) -> None:
        self.cols = cols
        self.unit_field = view.unit_field
        self.summed = [f.name for f in cols if f.name in view.sum_fields]
        self.totals: dict[str, object] = dict.fromkeys(self.summed)  # None: no value yet; False: not a number
        self.units: set[object] = set()

    def add(self, row: dict) -> None:
        if not self.summed:
            return
        if self.unit_field is not None and len(self.units) < 2:
            self.units.add(row.get(self.unit_field))
        from balcli.amounts import exact_sum

        for name in self.summed:
            value, total = row.get(name), self.totals[name]
            if value is None or value == "" or total is False:
                continue
            try:
                self.totals[name] = exact_sum((value,) if total is None else (total, value))
            except ValueError:  # a cell that is not a number: no total rather than a wrong one
                self.totals[name] = False

    def cells(self) -> list[str] | None:
        if not self.summed or (self.unit_field is not None and len(self.units) != 1):
            return None
        from balcli.amounts import format_decimal

        unit = next(iter(self.units)) if self.units else None
        cells = []
        for f in self.cols:
            if f.name in self.totals:
                total = self.totals[f.name]
                cells.append("" if total is None or total is False else format_decimal(total))  # type: ignore[arg-type]
            elif f.name == self.unit_field:
                cells.append(_cell(unit, f.name))
            else:
                cells.append("")
        for i, f in enumerate(self.cols):
            if f.name not in self.totals:
                cells[i] = " ".join(part for part in ("total", cells[i]) if part)
                break
        return cells


def _write_table(
    pages: Iterable[list[dict]],
    view: View,
    cols: Sequence[Field],
    out: TextIO,
    err: TextIO,
    color: bool,
    footnotes: Callable[[], list[str]] | None,
    wide: bool = False,
) -> int:
    # One pass over the rows keeps each as one compact string and the column widths and totals up to date;
    # the dicts go as soon as their page is read. Nothing is written before the last page (a failure midway
    # leaves stdout empty: a partial total would mislead).
    names = [f.name for f in cols]
    widths = [_width(n) for n in names]
    body: list[str] = []
    footer = _Footer(view, cols)
    for page in pages:
        for row in page:
            cells = [_cell(row.get(n), n) for n in names]
            for i, text in enumerate(cells):
                w = len(text) if text.isascii() else _width(text)
                if w > widths[i]:
                    widths[i] = w
            body.append(_SEP.join(cells))
            footer.add(row)
    notes = footnotes() if footnotes is not None else []
    if not body:
        # stdout stays empty so `balcli ... | wc -l` says 0; the note and any footnotes are for the person.
        err.write("".join(line + "\n" for line in (view.empty_note, *notes)))
        err.flush()
        return 0
    totals = footer.cells()
    if totals is not None:
        widths = [max(w, _width(t)) for w, t in zip(widths, totals)]
    right = [f.kind in ("amount", "int") for f in cols]
    prose = [f.kind == "prose" for f in cols]
    given = widths
    columns = None if wide else terminal_columns(out)
    if columns is not None:
        shown, given = choose_columns(widths, columns, prose)
        if len(shown) < len(names):
            hidden = [n for i, n in enumerate(names) if i not in shown]
            err.write(f"balcli: note: {len(hidden)} column{'s' if len(hidden) > 1 else ''} hidden to fit "
                      f"{columns} columns: {', '.join(hidden)} (--wide shows every column; --fields picks)\n")
            err.flush()
            names, right, prose = [names[i] for i in shown], [right[i] for i in shown], [prose[i] for i in shown]
            widths = [widths[i] for i in shown]
            body = [_SEP.join(cells.split(_SEP)[i] for i in shown) for cells in body]
            totals = [totals[i] for i in shown] if totals is not None else None
    out = _NoTrailingSpaces(out)  # type: ignore[assignment]  # writes like a TextIO (write/flush)
    if any(g < w for g, w in zip(given, widths)):
        # A prose column (a sentence: doctor's detail) narrowed to fit: rich wraps it at words (few rows here).
        _rich_table(names, right, [cells.split(_SEP) for cells in body], totals, out, color, given, widths)
    else:
        write_table(names, right, widths, body, totals, out, color)
    if notes:
        dim, reset = ("\x1b[2m", "\x1b[0m") if color else ("", "")
        out.write("".join(f"{dim}{_cell(line, 'footnote')}{reset}\n" for line in notes))
    out.flush()
    return len(body)


PROSE_MIN = 24  # a prose column (a sentence, e.g. doctor's detail) keeps at least this width, wrapped at words


def choose_columns(widths: Sequence[int], available: int,
                   prose: Sequence[bool] = ()) -> tuple[list[int], list[int]]:
    """The columns of a table that fit ``available`` terminal columns, in field order (at least the first), and
    the width each gets: a column is never cut or wrapped mid-value, except a prose column (free text), which may
    shrink to ``PROSE_MIN`` and wrap at word boundaries. Layout as drawn: one space of padding each side of a
    cell and one between columns (``sum + 3 * n - 1``)."""
    prose = list(prose) or [False] * len(widths)

    def least(i: int) -> int:
        return min(widths[i], PROSE_MIN) if prose[i] else widths[i]

    shown: list[int] = []
    for i in range(len(widths)):
        trial = [*shown, i]
        if shown and sum(least(j) for j in trial) + 3 * len(trial) - 1 > available:
            break
        shown = trial
    given = [least(j) for j in shown]
    spare = available - (sum(given) + 3 * len(given) - 1)
    for k, j in enumerate(shown):
        if prose[j] and spare > 0:
            extra = min(widths[j] - given[k], spare)
            given[k] += extra
            spare -= extra
    return shown, given


def terminal_columns(out: TextIO) -> int | None:
    """The width of the terminal ``out`` writes to (``COLUMNS`` first, as ``shutil`` reads it); None when ``out``
    is not a terminal or its width is unknown (a file or a pipe: every column, however wide)."""
    import os

    try:
        if not out.isatty():
            return None
        env = os.environ.get("COLUMNS", "")
        columns = int(env) if env.isdigit() else os.get_terminal_size(out.fileno()).columns
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None
    return columns if columns > 0 else None


def _rstrip(line: str) -> str:
    if "\x1b" not in line:
        return line.rstrip(" ")
    import re  # coloured: the pad spaces sit before the closing style codes

    return re.sub(r" +((?:\x1b\[[0-9;]*m)*)$", r"\1", line)


class _NoTrailingSpaces:
    """Writes each line without the padding rich and the plain writer leave at its end (invisible on screen, but
    noise in a file and in diffs)."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._partial = ""

    def write(self, text: str) -> int:
        if "\n" not in text:
            self._partial += text
            return len(text)
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        self._out.write("".join(_rstrip(line) + "\n" for line in lines))
        return len(text)

    def flush(self) -> None:
        if self._partial:
            self._out.write(self._partial)
            self._partial = ""
        self._out.flush()

    def __getattr__(self, name: str) -> object:
        return getattr(self._out, name)


def _console_width(out: TextIO, needed: int) -> int:
    width = _WIDE
    try:
        if out.isatty():
            import os

            width = os.get_terminal_size(out.fileno()).columns
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        pass
    # Never narrower than the table: rich would squeeze and crop columns; the terminal may wrap lines instead,
    # which keeps every digit (and `less -S` shows them unwrapped).
    return max(width, needed)


def _rich_table(
    names: Sequence[str],
    right: Sequence[bool],
    body: list[list[str]],
    footer: Sequence[str] | None,
    out: TextIO,
    color: bool,
    max_widths: Sequence[int],
    natural: Sequence[int],
) -> None:
    """A table through rich, for the rare one whose prose column must wrap at words to fit the terminal."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    widths = list(max_widths)
    needed = sum(widths) + 3 * len(widths) - 1  # padding 1 each side, one divider between columns
    console = Console(
        file=out,
        force_terminal=color,
        no_color=not color,
        color_system="auto" if color else None,
        width=_console_width(out, needed),
        markup=False,
        emoji=False,
        highlight=False,
    )
    table = Table(
        box=box.SIMPLE if _utf8_box(out) else box.Box(str(box.SIMPLE).replace("─", "-"), ascii=True),
        show_edge=False,
        show_footer=footer is not None,
        header_style="bold",
        footer_style="bold",
    )
    for i, name in enumerate(names):
        folded = widths[i] < natural[i]  # a prose column given less than its width: wrapped at words
        table.add_column(
            name,
            justify="right" if right[i] else "left",
            max_width=widths[i] if folded else None,
            no_wrap=not folded,  # with the console at least as wide as the table, nothing folds or crops
            # (overflow="ignore" would be the obvious choice but makes rich drop the right justification)
            footer=footer[i] if footer is not None else "",
        )
    for cells in body:
        table.add_row(*cells)
    console.print(table)


def _utf8_box(out: TextIO) -> bool:
    # The same test rich makes: an encoding that is not UTF-* gets ASCII rules.
    return (getattr(out, "encoding", None) or "utf-8").lower().startswith("utf")


def write_table(
    names: Sequence[str],
    right: Sequence[bool],
    widths: Sequence[int],
    body: Iterable[str | Sequence[str]],
    footer: Sequence[str] | None,
    out: TextIO,
    color: bool,
) -> None:
    """The table's text, line by line: the look of rich's ``Table(box=box.SIMPLE, show_edge=False)`` (a bold
    header, a rule, cells padded one space each side and three between columns, amounts right-aligned, a rule
    and a bold footer), byte for byte without colour (a test holds it against rich), at any size.

    ``body`` holds the rows' cells, as sequences or as strings joined by ``_SEP``; ``widths`` are the
    columns' display widths (at least every cell's, footer included). Measured on the 2-core CI machine:
    10,000 rows x 3 columns in 35-50 ms (rich's Table took 2.5 s, and 0.4 s for 1,000 rows).
    """

    def pad(text: str, i: int) -> str:
        gap = widths[i] - _width(text)
        return " " * gap + text if right[i] else text + " " * gap

    def line(cells: Sequence[str], bold: bool = False) -> str:
        text = " " + "   ".join(pad(c, i) for i, c in enumerate(cells)) + " "
        return f"\x1b[1m{text}\x1b[0m\n" if bold and color else text + "\n"

    rule = ("─" if _utf8_box(out) else "-") * (sum(widths) + 3 * len(widths) - 1) + "\n"
    out.write(line(names, bold=True) + rule)
    chunk: list[str] = []  # written in chunks: no giant string, few calls
    for cells in body:
        chunk.append(line(cells.split(_SEP) if isinstance(cells, str) else cells))
        if len(chunk) == 2000:
            out.write("".join(chunk))
            chunk.clear()
    out.write("".join(chunk))
    if footer is not None:
        out.write(rule + line(footer, bold=True))
