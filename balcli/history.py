"""The local history of recorded runs: one SQLite file, boring on purpose (the README's History section).

``--record`` stores a run's rows and the run itself; ``balcli history`` and ``balcli diff`` read them back. The file
is ``history_db`` in the config (env ``BALCLI_HISTORY_DB``), by default ``<user data dir>/balcli/history.sqlite3``
(``$XDG_DATA_HOME/balcli/`` or ``~/.local/share/balcli/``; the folder is made with mode 0700, the file 0600).

The schema (``PRAGMA user_version`` = ``SCHEMA_VERSION``), for people who query it with ``sqlite3`` or DuckDB:

``runs``: one row per recorded run
    ``id`` (integer, grows), ``command`` (``broker``, ``oauth balances``), ``view`` (``broker``, ``broker-total``,
    ``spot-complete``, ``snapshot-spot``, ``summary`` ... see ``VIEWS``), ``profile``, ``options`` (JSON object of
    the options given, never a secret), ``selection`` (JSON: the options that choose which rows come back, with
    the profile; ``diff`` compares runs of one selection), ``started_at`` / ``finished_at`` (ISO 8601 UTC),
    ``row_count``, ``status`` (``complete`` | ``partial`` (``--max-items``: maybe cut short) | ``failed``),
    ``error`` (``exit N: message`` of a failed run).
``rows``: the rows of ``complete`` and ``partial`` runs
    ``run_id``, ``seq`` (order in the output), ``key`` (JSON array of the view's key fields, e.g.
    ``["101479471","USDT"]``), ``coin`` (the row's coin or currency; invitees: the quote asset), ``amount`` (exact
    decimal text of the view's balance field, as the API sent it; NULL where there is none), ``data`` (the whole
    row as a JSON object, amounts as strings).

Concurrency: WAL, a busy timeout and one short write transaction per run (rows are staged in a TEMP table while the
run fetches, so two cron jobs recording at once both succeed). Migrations are numbered (``MIGRATIONS``); a file
of a newer schema than this balcli knows, a corrupt or an unreadable file is a ``ConfigError`` (exit 3) naming it.

``sqlite3`` is imported with this module, and this module only where a command uses the history.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from decimal import ROUND_HALF_EVEN, Context, Decimal
from pathlib import Path
from typing import Any, NamedTuple

from balcli.errors import ConfigError

FILE_NAME = "history.sqlite3"
_EXACT = Context(prec=2000, Emax=10**6, Emin=-(10**6))  # as balcli.amounts: no rounding of any balance
BUSY_TIMEOUT_S = 30.0  # a 250,000-row run is copied in well under a second; cron jobs wait rather than fail


# -- where the file lives ------------------------------------------------------------------------------------

def default_path(env: Mapping[str, str] = os.environ) -> Path:
    from balcli.config import user_data_dir

    return user_data_dir(env) / FILE_NAME


# -- what each view records ----------------------------------------------------------------------------------

class ViewSpec(NamedTuple):
    keys: tuple[str, ...]  # the fields that name a row across runs (diff joins on them); () = not diffable
    coin: str | None  # the field holding the coin (None: the run's quote option, for invitees)
    amount: tuple[str, ...]  # the balance field, or fields summed exactly (snapshot spot: free + locked)


# The view id is the view's name with "--" and spaces folded to "-" (``view_id``).
VIEWS: dict[str, ViewSpec] = {
    "broker": ViewSpec(("user_id", "coin"), "coin", ("total_balance",)),
    "broker-total": ViewSpec(("coin",), "coin", ("total_balance",)),
    "spot": ViewSpec(("coin",), "coin", ("balance",)),
    "spot-complete": ViewSpec(("coin",), "coin", ("total",)),
    "snapshot-spot": ViewSpec(("date", "asset"), "asset", ("free", "locked")),
    "snapshot-margin": ViewSpec(("date", "asset"), "asset", ("net_asset",)),
    "snapshot-futures": ViewSpec(("date", "asset"), "asset", ("wallet_balance",)),
    "snapshot-futures-positions": ViewSpec(("date", "symbol"), "symbol", ("position_amt",)),
    "invitees": ViewSpec(("uid",), None, ("current_balance",)),
    "oauth-balances": ViewSpec(("scope", "currency"), "currency", ("balance",)),
    "oauth-history": ViewSpec((), "currency", ("balance_after",)),  # a log, not balances: recorded, not diffed
    "summary": ViewSpec(("source", "scope", "coin"), "coin", ("amount",)),
    "summary-by-coin": ViewSpec(("holder", "coin"), "coin", ("amount",)),
}
# What people may type for a view (``balcli diff snapshot`` = the default type, as ``balcli snapshot`` gives).
ALIASES = {"snapshot": "snapshot-spot", "oauth": "oauth-balances", "positions": "snapshot-futures-positions"}


def view_id(name: str) -> str:
    """``"spot --complete"`` -> ``"spot-complete"``, ``"oauth balances"`` -> ``"oauth-balances"``."""
    text = "-".join(name.replace("--", " ").split()).lower()
    return ALIASES.get(text, text)


def spec_of(view: str) -> ViewSpec:
    """The recording rules of a view; a view balcli does not know (yet) is recorded whole and not diffed."""
    return VIEWS.get(view, ViewSpec((), None, ()))


# Options that shape the output, the transport or how many rows are fetched: not which rows the run asks for.
NOT_SELECTING = frozenset({"format", "json", "csv", "fields", "no_header", "base_url", "timeout", "max_retries",
                           "page_size", "max_items", "output", "tz", "record", "sandbox_epoch"})


def selection(profile: str, options: Mapping[str, Any]) -> str:
    """The runs ``diff`` may compare by default: same profile, same row-selecting options (``--coin``, ``--uid``,
    ``--quote``, ``--start``, ``--sandbox`` ...). Canonical JSON text."""
    chosen = {k: v for k, v in options.items() if k not in NOT_SELECTING}
    return json.dumps({"profile": profile, **chosen}, sort_keys=True, separators=(",", ":"))


def safe_options(params: Mapping[str, Any]) -> dict[str, Any]:
    """The options a run was given, as JSON-able values, without anything secret: names that say secret/token/key
    are dropped, and a URL keeps no user, password, query or fragment."""
    from balcli.redaction import is_secret_name

    out: dict[str, Any] = {}
    for name, value in params.items():
        if value is None or value is False or value == [] or is_secret_name(name):
            continue
        if hasattr(value, "value") and not isinstance(value, (str, int)):  # an Enum
            value = value.value
        elif isinstance(value, (list, tuple)):
            value = [getattr(v, "value", v) for v in value]
        elif not isinstance(value, (str, int, bool)):
            value = str(value)
        if isinstance(value, str) and "://" in value:
            value = _bare_url(value)
        out[name] = value
    return out


def _bare_url(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return "<url>"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


# -- the schema and its migrations --------------------------------------------------------------------------

def _v1(db: sqlite3.Connection) -> None:
    db.execute("""CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        command TEXT NOT NULL,
        view TEXT NOT NULL,
        profile TEXT NOT NULL,
        options TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        row_count INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL CHECK (status IN ('complete', 'partial', 'failed')),
        error TEXT)""")
    db.execute("""CREATE TABLE rows (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        key TEXT NOT NULL,
        coin TEXT,
        amount TEXT,
        data TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)) WITHOUT ROWID""")
    db.execute("CREATE INDEX runs_by_view ON runs (view, status, id)")


def _v2(db: sqlite3.Connection) -> None:
    """The selection of each run (which runs ``diff`` compares by default), filled in for the runs of v1; an index
    for ``history runs --since`` and ``prune``; and the covering index that lets ``diff`` join two runs by key in
    SQLite (two 200,000-row runs in well under a second) instead of loading both into Python."""
    db.execute("ALTER TABLE runs ADD COLUMN selection TEXT NOT NULL DEFAULT ''")
    for run_id, profile, options in db.execute("SELECT id, profile, options FROM runs").fetchall():
        db.execute("UPDATE runs SET selection = ? WHERE id = ?", (selection(profile, json.loads(options)), run_id))
    db.execute("CREATE INDEX runs_by_start ON runs (started_at)")
    db.execute("CREATE INDEX rows_by_key ON rows (run_id, key, amount, coin)")


MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_v1, _v2)  # migration n makes schema version n
SCHEMA_VERSION = len(MIGRATIONS)


# -- opening the file ----------------------------------------------------------------------------------------

def _broken(path: Path, exc: BaseException) -> ConfigError:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, sqlite3.DatabaseError) and ("not a database" in text or "malformed" in text):
        return ConfigError(f"history database {path} is corrupt ({text})",
                           f"move it aside (mv {path} {path}.broken) to start a new history, or set history_db "
                           "to another file; `sqlite3 FILE .recover` may save its rows")
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        return ConfigError(f"history database {path} stayed locked for {BUSY_TIMEOUT_S:g} s ({text})",
                           "another balcli is writing to it; try again, or check for a hung process")
    if isinstance(exc, sqlite3.OperationalError) and "readonly" in text:
        return ConfigError(f"history database {path} is read-only ({text})",
                           "check the permissions of the file and its folder")
    return ConfigError(f"cannot use the history database {path}: {text}",
                       "check the path (history_db / BALCLI_HISTORY_DB) and its permissions")


class Store:
    """An open history file (``open``), migrated to ``SCHEMA_VERSION``."""

    def __init__(self, path: Path, db: sqlite3.Connection) -> None:
        self.path = path
        self.db = db

    @classmethod
    def open(cls, path: Path, *, create: bool = True) -> Store | None:
        """The store at ``path``, migrated; None when it does not exist and ``create`` is false (a reader on a
        machine that never recorded). A file that is not a usable history is a ``ConfigError`` (exit 3)."""
        path = Path(path).expanduser()
        if not path.exists():
            if not create:
                return None
            try:
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))  # SQLite's -wal and -shm take this mode
            except OSError as exc:
                raise ConfigError(f"cannot create the history database {path}: {exc.strerror}",
                                  "check the path (history_db / BALCLI_HISTORY_DB) and its permissions") from None
        elif path.is_dir():
            raise ConfigError(f"history database {path} is a directory",
                              "set history_db / BALCLI_HISTORY_DB to a file path")
        if not os.access(path, os.R_OK):
            raise ConfigError(f"cannot read the history database {path}: permission denied",
                              "check the file's owner and mode (it should be yours, mode 600)")
        try:
            db = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise _broken(path, exc) from None
        store = cls(path, db)
        try:
            with _opening(path):  # one opener at a time: two switching a new file to WAL at once can deadlock
                db.execute("PRAGMA foreign_keys = ON")
                if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    db.execute("PRAGMA journal_mode = WAL")
                db.execute("PRAGMA synchronous = NORMAL")  # WAL: durable at checkpoints, never corrupt
                store._migrate()
        except ConfigError:
            db.close()
            raise
        except sqlite3.Error as exc:
            db.close()
            raise _broken(path, exc) from None
        return store

    def _version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        version = self._version()
        if version > SCHEMA_VERSION:
            raise self._newer(version)
        if version == SCHEMA_VERSION:
            return
        self.db.execute("BEGIN IMMEDIATE")  # one migrator at a time; the others wait, then find it done
        try:
            version = self._version()
            if version > SCHEMA_VERSION:
                raise self._newer(version)
            if version == 0 and self.db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                raise ConfigError(f"{self.path} is an SQLite database, but not a balcli history",
                                  "set history_db / BALCLI_HISTORY_DB to another file")
            for number in range(version + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[number - 1](self.db)
                self.db.execute(f"PRAGMA user_version = {number}")
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def _newer(self, version: int) -> ConfigError:
        return ConfigError(f"history database {self.path} has schema version {version}; this balcli knows "
                           f"versions up to {SCHEMA_VERSION}", "upgrade balcli (the file was written by a newer one)")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def guard(self) -> Any:
        """A context in which an SQLite error becomes a ``ConfigError`` naming the file."""
        store = self

        class _Guard:
            def __enter__(self) -> None:
                return None

            def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
                if isinstance(exc, sqlite3.Error):
                    raise _broken(store.path, exc) from None

        return _Guard()

    # -- reading --------------------------------------------------------------------------------------------

    def runs(self, *, view: str | None = None, since: str | None = None, status: str | None = None,
             profile: str | None = None) -> list[Run]:
        where: list[str] = []
        args: list[Any] = []
        for column, value in (("view", view), ("status", status), ("profile", profile)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if since is not None:
            where.append("started_at >= ?")
            args.append(since)
        sql = f"SELECT {RUN_COLUMNS} FROM runs{' WHERE ' + ' AND '.join(where) if where else ''} ORDER BY id"
        with self.guard():
            return [Run(*r) for r in self.db.execute(sql, args)]

    def run(self, run_id: int) -> Run | None:
        with self.guard():
            row = self.db.execute(f"SELECT {RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        return Run(*row) if row else None

    def latest(self, view: str | None = None, *, before_id: int | None = None, started_by: str | None = None,
               selection: str | None = None, profile: str | None = None, complete: bool = True) -> Run | None:
        where: list[str] = []
        args: list[Any] = []
        for column, value in (("view", view), ("selection", selection), ("profile", profile)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if complete:
            where.append("status = 'complete'")
        if before_id is not None:
            where.append("id < ?")
            args.append(before_id)
        if started_by is not None:
            where.append("started_at <= ?")
            args.append(started_by)
        sql = (f"SELECT {RUN_COLUMNS} FROM runs{' WHERE ' + ' AND '.join(where) if where else ''} "
               "ORDER BY id DESC LIMIT 1")
        with self.guard():
            row = self.db.execute(sql, args).fetchone()
        return Run(*row) if row else None

    def rows(self, run_id: int) -> Iterator[list[dict]]:
        """A run's rows as they were output, in pages of 5,000."""
        with self.guard():
            cursor = self.db.execute("SELECT data FROM rows WHERE run_id = ? ORDER BY seq", (run_id,))
            loads = json.loads
            while True:
                chunk = cursor.fetchmany(5000)
                if not chunk:
                    return
                yield [loads(d) for (d,) in chunk]

    def changed(self, before_id: int, after_id: int, coin: str | None = None, *,
                only_new: bool = False) -> list[tuple]:
        """Rows of run ``after_id`` that run ``before_id`` lacks or holds with another amount text: ``(key, amount
        before, amount after, coin, new?)``; with ``only_new``, the rows it lacks: ``(key, amount, coin)``."""
        where = " AND upper(b.coin) = :coin" if coin is not None else ""
        if only_new:
            sql = ("SELECT b.key, b.amount, b.coin FROM rows b WHERE b.run_id = :after" + where +
                   " AND NOT EXISTS (SELECT 1 FROM rows a WHERE a.run_id = :before AND a.key = b.key)")
        else:
            sql = ("SELECT b.key, a.amount, b.amount, b.coin, a.key IS NULL FROM rows b LEFT JOIN rows a "
                   "ON a.run_id = :before AND a.key = b.key WHERE b.run_id = :after" + where +
                   " AND (a.key IS NULL OR a.amount IS NOT b.amount)")
        args = {"before": before_id, "after": after_id, "coin": None if coin is None else coin.upper()}
        with self.guard():
            return self.db.execute(sql, args).fetchall()

    def count(self, run_id: int, coin: str | None = None) -> int:
        sql = "SELECT count(*) FROM rows WHERE run_id = ?" + (" AND upper(coin) = ?" if coin is not None else "")
        with self.guard():
            return int(self.db.execute(sql, (run_id,) if coin is None else (run_id, coin.upper())).fetchone()[0])

    def totals(self, run_ids: list[int], coin: str, *, latest_date: bool = False) -> dict[int, tuple[list[str], int]]:
        """run id -> (the amounts of ``coin``, how many rows) for each run; with ``latest_date`` only the rows of
        the run's latest ``date`` (a snapshot run holds many days)."""
        out: dict[int, tuple[list[str], int]] = {}
        with self.guard():
            for run_id in run_ids:
                rows = self.db.execute("SELECT amount, data FROM rows WHERE run_id = ? AND upper(coin) = ?",
                                       (run_id, coin.upper())).fetchall()
                if latest_date and rows:
                    dated = [(json.loads(d).get("date") or "", a) for a, d in rows]
                    last = max(day for day, _ in dated)
                    amounts = [a for day, a in dated if day == last and a is not None]
                    out[run_id] = (amounts, sum(1 for day, _ in dated if day == last))
                else:
                    out[run_id] = ([a for a, _ in rows if a is not None], len(rows))
        return out

    # -- writing --------------------------------------------------------------------------------------------

    def prune(self, before: str) -> tuple[int, int]:
        """Delete the runs started before ``before`` (ISO UTC) and their rows, in one transaction."""
        with self.guard():
            self.db.execute("BEGIN IMMEDIATE")
            try:
                ids = [r for (r,) in self.db.execute("SELECT id FROM runs WHERE started_at < ?", (before,))]
                rows = 0
                for run_id in ids:
                    rows += self.db.execute("DELETE FROM rows WHERE run_id = ?", (run_id,)).rowcount
                self.db.execute("DELETE FROM runs WHERE started_at < ?", (before,))
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        return len(ids), rows

    def vacuum(self) -> None:
        with self.guard():
            self.db.execute("VACUUM")


RUN_COLUMNS = ("id, command, view, profile, options, selection, started_at, finished_at, row_count, status, "
               "error")  # the columns of Run, in its field order


class Run(NamedTuple):
    id: int
    command: str
    view: str
    profile: str
    options: str
    selection: str
    started_at: str
    finished_at: str | None
    row_count: int
    status: str
    error: str | None


    def options_text(self) -> str:
        """``--coin USDT --sandbox`` style, for people."""
        parts = []
        for name, value in json.loads(self.options).items():
            flag = "--" + name.replace("_", "-")
            if value is True:
                parts.append(flag)
            elif isinstance(value, list):
                parts.extend(f"{flag} {v}" for v in value)
            else:
                parts.append(f"{flag} {value}")
        return " ".join(parts)


def iso(when: datetime) -> str:
    """ISO 8601 UTC with milliseconds (``2026-11-30T03:00:01.250Z``): the stored form, which sorts as it reads."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def now_iso() -> str:
    return iso(datetime.now(timezone.utc))


# -- comparing runs ------------------------------------------------------------------------------------------

class Comparison(NamedTuple):
    rows: list[dict]  # key fields, before, after, change, status; sorted by key
    counts: dict[str, int]  # changed, new, gone, unchanged, below (--min-change)
    net_by_coin: dict[str, str]  # coin -> exact net change of the rows shown


def compare(store: Store, before_id: int, after_id: int, *, coin: str | None = None,
            min_change: Decimal | None = None) -> Comparison:
    """The keys whose amount differs between two runs (numerically: ``1.50`` and ``1.5`` are equal), and the keys
    only one of them has. SQLite finds the rows whose amount text differs (through the ``rows_by_key`` index);
    only those reach Python and ``Decimal``."""
    from balcli.amounts import format_decimal

    run = store.run(after_id)
    spec = spec_of(run.view if run else "")
    zero = Decimal(0)
    add, sub = _EXACT.add, _EXACT.subtract
    found: list[tuple[str, str | None, str | None, Decimal, str, str | None]] = []
    counts = {"changed": 0, "new": 0, "gone": 0, "unchanged": 0, "below": 0}
    for key, then, now, unit, is_new in store.changed(before_id, after_id, coin):
        if is_new:
            found.append((key, None, now, _dec(now), "new", unit))
            continue
        change = sub(_dec(now), _dec(then))
        if change == zero:  # "1.50" and "1.5"
            continue
        found.append((key, then, now, change, "changed", unit))
    for key, then, unit in store.changed(after_id, before_id, coin, only_new=True):
        found.append((key, then, None, -_dec(then), "gone", unit))
    later_rows = store.count(after_id, coin)
    counts["unchanged"] = later_rows - sum(1 for f in found if f[4] != "gone")
    rows: list[dict] = []
    net: dict[str, Decimal] = {}
    loads = json.loads
    for key, old, now, change, status, unit in found:
        if min_change is not None and abs(change) < min_change:
            counts["below"] += 1
            continue
        counts[status] += 1
        row = dict(zip(spec.keys, loads(key)))
        row.update(before=old, after=now, change=format_decimal(change), status=status)
        rows.append(row)
        net[unit or ""] = add(net.get(unit or "", zero), change)
    rows.sort(key=lambda r: tuple(_sort_key(r[k]) for k in spec.keys))
    return Comparison(rows, counts, {c: format_decimal(v) for c, v in net.items()})


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, int) and not isinstance(value, bool):
        return (0, value)
    return (1, "" if value is None else str(value))


def _dec(text: str | None) -> Decimal:
    return Decimal(text) if text else Decimal(0)


def signed(value: Decimal) -> str:
    from balcli.amounts import format_decimal

    return format_decimal(value)


_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[Decimal], width: int = 100) -> str:
    """One block character per value (the last ``width``), scaled between the lowest and the highest exactly."""
    values = values[-width:]
    if not values:
        return ""
    low, high = min(values), max(values)
    if high == low:
        return _BARS[0] * len(values)
    top = len(_BARS) - 1
    return "".join(_BARS[int(_EXACT.divide((v - low) * top, high - low).to_integral_value(ROUND_HALF_EVEN))]
                   for v in values)


# -- recording a run -----------------------------------------------------------------------------------------

class Recorder:
    """Stores one run: opened before the first request (a bad history file stops the run before it starts),
    fed each page as it is rendered (into a TEMP table: no lock on the file while the run fetches), then
    written in one short transaction by ``finish``."""

    def __init__(self, store: Store, *, command: str, profile: str, options: dict[str, Any]) -> None:
        self.store = store
        self.command = command
        self.profile = profile
        self.options = options
        self.started_at = now_iso()
        self.count = 0
        self.rendered = False  # set by Run.render once every page went out
        self.view: str | None = None
        self._spec: ViewSpec | None = None
        self._quote: str | None = None
        with store.guard():
            store.db.execute("CREATE TEMP TABLE IF NOT EXISTS staging (seq INTEGER PRIMARY KEY, key TEXT NOT NULL, "
                             "coin TEXT, amount TEXT, data TEXT NOT NULL)")
            store.db.execute("DELETE FROM temp.staging")

    def begin(self, view_name: str) -> None:
        self.view = view_id(view_name)
        self._spec = spec_of(self.view)
        quote = self.options.get("quote")
        self._quote = str(quote).upper() if self._spec.coin is None and self._spec.keys else None
        if self.view == "invitees" and self._quote is None:
            self._quote = "USDT"  # the command's default quote

    def add(self, page: list[dict]) -> None:
        if not page:
            return
        spec = self._spec or ViewSpec((), None, ())
        encode = _ENCODE
        keys, coin_field, amount_fields = spec.keys, spec.coin, spec.amount
        quote = self._quote
        single = amount_fields[0] if len(amount_fields) == 1 else None
        staged = []
        seq = self.count
        for row in page:
            if keys:
                values = [row.get(k) for k in keys]
                # The common case (ids and coin codes) without the encoder: ["101479471","USDT"] is valid JSON.
                plain = all(type(v) is str and v.isalnum() and v.isascii() for v in values)
                key = '["' + '","'.join(map(str, values)) + '"]' if plain else encode(values)
            else:
                key = str(seq)
            coin = row.get(coin_field) if coin_field else quote
            amount = row.get(single) if single else _amount(row, amount_fields)
            if type(amount) is not str and amount is not None:
                amount = _amount(row, amount_fields)
            staged.append((seq, key, None if coin is None else str(coin), amount or None, encode(row)))
            seq += 1
        with self.store.guard():
            self.store.db.executemany("INSERT INTO temp.staging VALUES (?, ?, ?, ?, ?)", staged)
        self.count = seq

    def finish(self, status: str, error: str | None = None) -> int:
        """Write the run (and, unless it failed, its rows) in one transaction; return its id."""
        db = self.store.db
        finished = now_iso()
        with self.store.guard():
            db.execute("BEGIN IMMEDIATE")
            try:
                cur = db.execute(
                    "INSERT INTO runs (command, view, profile, options, selection, started_at, finished_at, "
                    "row_count, status, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (self.command, self.view or view_id(self.command), self.profile,
                     json.dumps(self.options, sort_keys=True), selection(self.profile, self.options),
                     self.started_at, finished, self.count, status, error))
                run_id = int(cur.lastrowid or 0)
                if status != "failed":
                    db.execute("INSERT INTO rows (run_id, seq, key, coin, amount, data) "
                               "SELECT ?, seq, key, coin, amount, data FROM temp.staging ORDER BY seq", (run_id,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("DELETE FROM temp.staging")
        return run_id


@contextlib.contextmanager
def _opening(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on a lock file beside the database while a connection sets it up (journal mode,
    migrations); without a usable lock file (a read-only folder, Windows), no lock: SQLite's own still holds."""
    try:
        import fcntl

        fd = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    except (ImportError, OSError):
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _make_encoder() -> Callable[[Any], str]:
    """Compact JSON of one row, amounts as strings (a Decimal becomes plain decimal text). The C encoder is made
    once, not once a row as ``json.dumps`` does: a 250,000-row run saves a few seconds."""
    from json import encoder

    make = getattr(encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - an interpreter without the C speedups
        return json.JSONEncoder(separators=(",", ":"), default=_json_default).encode
    fast = make(None, _json_default, encoder.encode_basestring_ascii, None, ":", ",", True, False, True)
    return lambda value: "".join(fast(value, 0))


def _json_default(value: Any) -> str:
    from decimal import Decimal

    if isinstance(value, Decimal):
        from balcli.amounts import format_decimal

        return format_decimal(value)
    raise TypeError(f"cannot store a {type(value).__name__} in the history")


_ENCODE = _make_encoder()


def _amount(row: Mapping[str, Any], fields: tuple[str, ...]) -> str | None:
    """The row's balance as exact decimal text: the field as sent, or the exact sum of several."""
    if not fields:
        return None
    if len(fields) == 1:
        value = row.get(fields[0])
        if value is None or value == "":
            return None
        return value if isinstance(value, str) else str(value) if isinstance(value, int) else _json_default(value)
    from balcli.amounts import exact_sum, format_decimal

    values = [row.get(f) for f in fields]
    present = [v for v in values if v is not None and v != ""]
    if not present:
        return None
    try:
        return format_decimal(exact_sum(present))
    except ValueError:
        return None
