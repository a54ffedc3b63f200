"""``balcli history runs | show | trend | prune | path`` and ``balcli diff VIEW``: reading the local history that
``--record`` writes (the README's History section; the store is ``balcli.history``, imported only inside the
commands: sqlite3 costs start-up time)."""


import functools
import inspect
import sys
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import typer

from balcli.commands.common import _COMMON, CommonOptions, Globals, Run, validate_fields
from balcli.errors import ConfigError, UsageError
from balcli.schema import Field, View

# The views runs are recorded under (balcli.history.VIEWS, kept here as text so that --help imports no sqlite3).
DIFF_VIEWS = """broker (keys user_id, coin; amount total_balance), broker-total (coin), spot (coin; balance),
spot-complete (coin; total), snapshot-spot (date, asset; free + locked), snapshot-margin (date, asset; net_asset),
snapshot-futures (date, asset; wallet_balance), snapshot-futures-positions (date, symbol; position_amt),
invitees (uid; current_balance, in the run's --quote), oauth-balances (scope, currency; balance),
summary (source, scope, coin; amount), summary-by-coin (holder, coin; amount). `snapshot` means snapshot-spot;
a view's name with spaces (`"oauth balances"`) works too."""

RUNS = View("history runs", (
    Field("id", "int", "run number (grows with each recorded run)"),
    Field("started_at", "time", "ISO 8601 UTC"),
    Field("finished_at", "time", "ISO 8601 UTC"),
    Field("command", help="e.g. broker, oauth balances"),
    Field("view", help="what diff and trend take, e.g. broker, spot-complete"),
    Field("profile"),
    Field("status", help="complete | partial (--max-items: maybe cut short) | failed"),
    Field("rows", "int", "rows output (and stored, unless failed)"),
    Field("options", help="the options given (never a secret)"),
    Field("error", help="exit code and message of a failed run"),
), empty_note="no recorded runs")

TREND = View("history trend", (
    Field("run", "int", "run number"),
    Field("started_at", "time", "ISO 8601 UTC"),
    Field("coin"),
    Field("total", "amount", "exact sum of the coin's amounts in that run"),
    Field("rows", "int", "rows summed"),
    Field("change", "amount", "against the run before (empty for the first)"),
), empty_note="no complete runs to show")

_DIFF_TAIL = (
    Field("before", "amount", "amount in the earlier run (empty: new)"),
    Field("after", "amount", "amount in the later run (empty: gone)"),
    Field("change", "amount", "after - before, exact and signed"),
    Field("status", help="new | gone | changed"),
)

RUNS_HELP = f"""The recorded runs, oldest first: what was recorded, when, by whom (profile), with which options,
and whether it completed.

Rows: {RUNS.describe()}.

Examples:

\b
  balcli history runs --view broker --since 7d
  balcli history runs --json | jq -r '.[] | select(.status == "failed") | "\\(.id) \\(.error)"'
"""

SHOW_HELP = """A recorded run's rows, as the command printed them (every field), in any output format.

RUN is a run number (see `balcli history runs`); without it, the latest complete run (of --view, if given).

Examples:

\b
  balcli history show 42 --csv > broker-2026-11-29.csv
  balcli history show --view spot --json | jq -r '.[] | "\\(.coin) \\(.balance)"'
"""

TREND_HELP = f"""The total of one coin per recorded run of VIEW, oldest first; on a terminal, a sparkline too.

The runs are the complete runs with the same selection (profile and row-choosing options such as --coin,
--quote) as the latest one. For a snapshot view each run counts its latest day only.

Rows: {TREND.describe()}.

Examples:

\b
  balcli history trend spot-complete --coin USDT --since 30d
  balcli history trend broker --coin USDT --json | jq -r '.[] | "\\(.started_at) \\(.total)"'
"""

PRUNE_HELP = """Delete the runs started before the --keep window, with their rows (one transaction).

The file keeps its size (SQLite reuses the freed pages for the next runs); --vacuum also gives the space back
to the file system (it rewrites the file: run it when no cron job records).

Examples:

\b
  balcli history prune --keep 90d
  0 4 * * 0 balcli history prune --keep 90d --vacuum || mail -s 'balcli prune failed' ops
"""

PATH_HELP = """Print the history file's path (history_db > BALCLI_HISTORY_DB > <user data dir>/balcli/history.sqlite3).

Examples:

\b
  balcli history path
  sqlite3 "$(balcli history path)" 'select id, view, status, row_count from runs order by id desc limit 5'
"""

DIFF_HELP = f"""What changed between two recorded runs of VIEW: the changed, new and gone keys, with exact signed
changes; unchanged keys are left out. The table ends with the totals and, on a terminal, a sparkline of the
view's total over the runs in between.

By default the latest complete run of VIEW against the complete run before it with the same selection
(profile and row-choosing options: a `broker --coin USDT` run is not compared with a full one). --from/--to take
a run number or a WHEN (ISO date/datetime or an age such as 1d: the latest complete run started by then).

Views: {DIFF_VIEWS}

Rows: the view's key fields, then before, after, change, status.

Examples:

\b
  balcli diff broker --min-change 1000
  balcli diff broker --from 7d --coin USDT --json | jq -r '.[] | select(.status == "new") | .user_id'
  30 6 * * * balcli diff broker --min-change 1000 -o csv | mail -s 'balances that moved' ops
"""


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="The local history that --record writes: runs, rows, trends, retention.",
                        no_args_is_help=True, rich_markup_mode=None)
    group.command("runs", help=RUNS_HELP, short_help="The recorded runs.")(runs)
    group.command("show", help=SHOW_HELP, short_help="A recorded run's rows.")(show)
    group.command("trend", help=TREND_HELP, short_help="A coin's total per run, with a sparkline.")(trend)
    group.command("prune", help=PRUNE_HELP, short_help="Delete old runs.")(prune)
    group.command("path", help=PATH_HELP, short_help="Where the history file is.")(path)
    app.add_typer(group, name="history", short_help="The local history of --record runs: runs, show, trend, prune.")


def register_diff(app: typer.Typer) -> None:
    app.command("diff", help=DIFF_HELP, short_help="What changed between two recorded runs.")(diff)


# -- output options (the common ones without the network's) ----------------------------------------------------

_NETWORK = {"base_url", "timeout", "max_retries"}
_OUTPUT = [(name, ann) for name, ann in _COMMON if name not in _NETWORK]


def output_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add the output options (-o, --json, --csv, --fields, --no-header ...) as one ``common`` argument."""
    sig = inspect.signature(func)
    own = [p for p in sig.parameters.values() if p.name != "common"]
    extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=ann,
                               default=False if ann.__origin__ is bool else None) for name, ann in _OUTPUT]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        common = CommonOptions(**{name: kwargs.pop(name) for name, _ in _OUTPUT})
        return func(*args, common=common, **kwargs)

    wrapper.__signature__ = sig.replace(parameters=own + extra)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {**{k: v for k, v in func.__annotations__.items() if k != "common"}, **dict(_OUTPUT)}
    return wrapper


def _run(ctx: typer.Context, common: CommonOptions) -> Run:
    """A run context without an exchange: the settings (profile, format, history_db) and the output."""
    from balcli import config

    g: Globals = ctx.obj or Globals()
    common.chosen_format()
    run = Run(g, common, "", config.load(config=g.config, profile=g.profile))
    ctx.call_on_close(run.close)
    return run


def _store(ctx: typer.Context, run: Run, *, create: bool = False) -> Any:
    from balcli import history

    store = history.Store.open(run.settings.history_db.value, create=create)
    if store is not None:
        ctx.call_on_close(store.close)
    return store


def _no_history(run: Run, what: str) -> ConfigError:
    return ConfigError(f"no history at {run.settings.history_db.value}: {what}",
                       "record runs first (e.g. `balcli broker --record`), or point history_db / "
                       "BALCLI_HISTORY_DB at the file they were recorded in")


def _profile_filter(run: Run) -> str | None:
    """Runs of the profile named on the command line or in BALCLI_PROFILE; all profiles otherwise."""
    profile = run.settings.profile
    return str(profile.value) if profile.origin in ("flag", "env") else None


def _view_arg(text: str, *, diffable: bool = True) -> str:
    from balcli import history

    view = history.view_id(text)
    if view not in history.VIEWS:
        raise UsageError(f"unknown view {text!r}", "views: " + ", ".join(history.VIEWS))
    if diffable and not history.VIEWS[view].keys:
        raise UsageError(f"{view} is a log of entries, not balances: it has no key to compare runs by",
                         f"see its rows with `balcli history show --view {view}`")
    return view


def _when(text: str, option: str, *, end: bool) -> str:
    from datetime import datetime, timezone

    from balcli import history
    from balcli.timeparse import parse_when

    return history.iso(parse_when(text, option=option, end=end, now=datetime.now(timezone.utc)))


def _coin_arg(coin: str | None) -> str | None:
    if coin is None:
        return None
    if not coin.strip().isalnum():
        raise UsageError(f"--coin {coin!r} is not a coin code", "give a code such as USDT or BTC")
    return coin.strip().upper()


def _views_by_id() -> dict[str, View]:
    from balcli import history, views

    found: dict[str, View] = {}
    for value in vars(views).values():
        for v in value.values() if isinstance(value, dict) else [value]:
            if isinstance(v, View):
                found[history.view_id(v.name)] = v
    return found


def _view_of(view: str, first: list[dict]) -> View:
    """The View a run was rendered with; for a view this balcli does not define, one made from the rows."""
    known = _views_by_id().get(view)
    if known is not None:
        return known
    names = list(first[0]) if first else []
    return View(view, tuple(Field(n) for n in names))


# -- history runs / show / path / prune ------------------------------------------------------------------------

@output_options
def runs(
    ctx: typer.Context,
    view: Annotated[str | None, typer.Option("--view", metavar="VIEW", help="Only runs of this view.")] = None,
    since: Annotated[str | None, typer.Option(
        "--since", metavar="WHEN", help="Only runs started since WHEN (ISO date/datetime or an age, e.g. 7d).")] = None,
    *, common: CommonOptions,
) -> None:
    validate_fields(common, RUNS)
    view_id = _view_arg(view, diffable=False) if view is not None else None
    since_at = _when(since, "--since", end=False) if since is not None else None
    run = _run(ctx, common)
    store = _store(ctx, run)

    def pages() -> Iterator[list[dict]]:
        if store is None:
            return
        yield [{"id": r.id, "started_at": r.started_at, "finished_at": r.finished_at, "command": r.command,
                "view": r.view, "profile": r.profile, "status": r.status, "rows": r.row_count,
                "options": r.options_text(), "error": r.error}
               for r in store.runs(view=view_id, since=since_at, profile=_profile_filter(run))]

    run.render(pages(), RUNS)


@output_options
def show(
    ctx: typer.Context,
    run_id: Annotated[int | None, typer.Argument(metavar="[RUN]", min=1, help="Run number (default: the latest "
                                                 "complete run).", show_default=False)] = None,
    view: Annotated[str | None, typer.Option("--view", metavar="VIEW",
                                             help="Without RUN: the latest complete run of this view.")] = None,
    *, common: CommonOptions,
) -> None:
    view_id = _view_arg(view, diffable=False) if view is not None else None
    run = _run(ctx, common)
    store = _store(ctx, run)
    if store is None:
        raise _no_history(run, "nothing to show")
    if run_id is not None:
        chosen = store.run(run_id)
        if chosen is None:
            raise UsageError(f"there is no run {run_id} in {store.path}", "see `balcli history runs`")
    else:
        chosen = store.latest(view_id, profile=_profile_filter(run))
        if chosen is None:
            raise ConfigError(f"no complete{' ' + view_id if view_id else ''} run in {store.path}",
                              "see `balcli history runs`")
    if chosen.status == "failed":
        raise UsageError(f"run {chosen.id} failed ({chosen.error}): no rows were stored",
                         "see `balcli history runs` for the complete ones")
    pages = store.rows(chosen.id)
    first: list[dict] = next(pages, [])
    target = _view_of(chosen.view, first)
    run.fields(target)  # a bad --fields is a usage error

    def all_pages() -> Iterator[list[dict]]:
        yield first
        yield from pages

    note = [f"run {chosen.id}: {chosen.command} {chosen.options_text()}".rstrip() +
            f", {chosen.started_at}, {chosen.status}"]
    run.render(all_pages(), target, footnotes=lambda: note)


def path(ctx: typer.Context) -> None:
    run = _run(ctx, CommonOptions())
    location = run.settings.history_db.value
    sys.stdout.write(f"{location}\n")
    if not location.exists():
        sys.stderr.write("balcli: note: the file does not exist yet (the first --record run creates it)\n")


def prune(
    ctx: typer.Context,
    keep: Annotated[str, typer.Option("--keep", metavar="AGE", help="Keep the runs started within AGE (e.g. 90d, "
                                      "12w) or since a date (2026-01-01); delete the older ones.")],
    vacuum: Annotated[bool, typer.Option("--vacuum", help="Then shrink the file (rewrites it).")] = False,
) -> None:
    cutoff = _when(keep, "--keep", end=False)
    run = _run(ctx, CommonOptions())
    store = _store(ctx, run)
    if store is None:
        sys.stdout.write(f"nothing to prune: no history at {run.settings.history_db.value}\n")
        return
    removed, rows = store.prune(cutoff)
    if vacuum:
        store.vacuum()
    size = store.path.stat().st_size
    sys.stdout.write(f"pruned {removed} run{'s' if removed != 1 else ''} ({rows} rows) started before {cutoff}; "
                     f"{store.path} is {size} bytes\n")


# -- diff and trend ----------------------------------------------------------------------------------------------

def _diff_view(view: str, spec: Any) -> View:
    source = _views_by_id().get(view)
    keys = tuple(source.field(k) if source is not None and k in source.field_names else Field(k) for k in spec.keys)
    unit = spec.coin if spec.coin in spec.keys else None
    return View(f"diff {view}", keys + _DIFF_TAIL, sum_fields=("before", "after", "change"), unit_field=unit,
                empty_note="no changes")


@output_options
def diff(
    ctx: typer.Context,
    view: Annotated[str, typer.Argument(metavar="VIEW", help="The view to compare, e.g. broker, spot, invitees.",
                                        show_default=False)],
    from_: Annotated[str | None, typer.Option(
        "--from", metavar="RUN|WHEN", help="The earlier run: a run number or a WHEN (the latest complete run started "
        "by then) [default: the complete run before --to].")] = None,
    to: Annotated[str | None, typer.Option(
        "--to", metavar="RUN|WHEN", help="The later run [default: the latest complete run].")] = None,
    min_change: Annotated[str | None, typer.Option(
        "--min-change", metavar="AMOUNT", help="Only keys whose amount moved by at least AMOUNT (either way; new "
        "and gone keys count their whole amount).")] = None,
    coin: Annotated[str | None, typer.Option("--coin", help="Only this coin (invitees: the quote asset).")] = None,
    *, common: CommonOptions,
) -> None:
    from balcli import history
    from balcli.amounts import parse_amount

    view_id = _view_arg(view)
    spec = history.VIEWS[view_id]
    target = _diff_view(view_id, spec)
    validate_fields(common, target)
    threshold = None
    if min_change is not None:
        try:
            threshold = parse_amount(min_change.strip())
        except ValueError:
            threshold = None
        if threshold is None or threshold < 0:
            raise UsageError(f"--min-change {min_change!r} is not an amount", "give a non-negative number, e.g. 1000")
    coin_code = _coin_arg(coin)
    run = _run(ctx, common)
    store = _store(ctx, run)
    if store is None:
        raise _no_history(run, f"no {view_id} runs to compare")
    profile = _profile_filter(run)
    later = _pick(store, view_id, to, "--to", profile=profile)
    if later is None:
        raise ConfigError(f"no complete {view_id} run in {store.path}",
                          f"record one: `balcli {spec_command(view_id)} --record`")
    earlier = _pick(store, view_id, from_, "--from", profile=profile, before=later)
    if earlier is None:
        raise ConfigError(f"only one complete {view_id} run (run {later.id}) with its selection in {store.path}: "
                          "nothing to compare it with", "record another run, or name one with --from RUN")
    if earlier.id == later.id:
        raise UsageError(f"--from and --to are the same run ({later.id})", "name two different runs")
    if earlier.selection != later.selection:
        sys.stderr.write(f"balcli: warning: runs {earlier.id} and {later.id} were asked for different rows "
                         f"({earlier.options_text() or 'no options'} / {later.options_text() or 'no options'}): "
                         "keys only one of them selected show as new or gone\n")
    result = history.compare(store, earlier.id, later.id, coin=coin_code, min_change=threshold)
    counts = result.counts
    notes = [f"run {earlier.id} ({earlier.started_at}) -> run {later.id} ({later.started_at}): "
             f"{counts['changed']} changed, {counts['new']} new, {counts['gone']} gone, "
             f"{counts['unchanged']} unchanged"
             + (f", {counts['below']} below --min-change" if threshold is not None else "")]
    units = {r[spec.coin] for r in result.rows} if spec.coin in spec.keys else set()
    if len(units) > 1:
        notes.append("net change: " + ", ".join(f"{u} {t}" for u, t in sorted(result.net_by_coin.items())))
    unit = coin_code or (units.pop() if len(units) == 1 else None) or (
        later_quote(later) if spec.coin is None else None)
    if unit is not None and _is_terminal():
        totals = _trend_rows(store, view_id, unit, selection=later.selection, first_id=earlier.id, last_id=later.id)
        if len(totals) > 2:
            notes.append(f"{unit} total over runs {earlier.id}..{later.id}: "
                         + history.sparkline([parse_amount(t["total"]) for t in totals]))
    run.render([result.rows], target, footnotes=lambda: notes)


def spec_command(view: str) -> str:
    return {"broker-total": "broker --total", "spot-complete": "spot --complete", "oauth-balances": "oauth balances",
            "snapshot-spot": "snapshot", "snapshot-margin": "snapshot --type margin",
            "snapshot-futures": "snapshot --type futures", "snapshot-futures-positions": "snapshot --positions",
            "summary-by-coin": "summary --by coin"}.get(view, view)


def later_quote(run: Any) -> str | None:
    import json

    quote = json.loads(run.options).get("quote")
    return str(quote).upper() if quote else "USDT"


def _is_terminal() -> bool:
    from balcli.commands.common import isatty

    return isatty(sys.stdout)


def _pick(store: Any, view: str, text: str | None, option: str, *, profile: str | None,
          before: Any = None) -> Any:
    """The run ``--from``/``--to`` names (a number or a WHEN), or the default: the latest complete run (before
    ``before``, with its selection)."""
    selection = before.selection if before is not None else None
    before_id = before.id if before is not None else None
    if text is None:
        return store.latest(view, profile=profile, selection=selection, before_id=before_id)
    value = text.strip()
    if value.isdigit():
        chosen = store.run(int(value))
        if chosen is None:
            raise UsageError(f"{option} {text}: there is no run {value}", "see `balcli history runs`")
        if chosen.view != view:
            raise UsageError(f"{option} {text}: run {value} is a {chosen.view} run, not {view}",
                             f"see `balcli history runs --view {view}`")
        if chosen.status == "failed":
            raise UsageError(f"{option} {text}: run {value} failed, it has no rows", "name a complete run")
        if chosen.status == "partial":
            sys.stderr.write(f"balcli: warning: run {value} is partial (--max-items): keys it did not fetch show "
                             "as new or gone\n")
        return chosen
    when = _when(value, option, end=True)
    chosen = store.latest(view, profile=profile, selection=selection, before_id=before_id, started_by=when)
    if chosen is None:
        raise UsageError(f"{option} {text}: no complete {view} run started by {when}",
                         f"see `balcli history runs --view {view}`")
    return chosen


def _trend_rows(store: Any, view: str, coin: str, *, selection: str, first_id: int | None = None,
                last_id: int | None = None, since: str | None = None, profile: str | None = None) -> list[dict]:
    from balcli import history
    from balcli.amounts import exact_sum, format_decimal

    chosen = [r for r in store.runs(view=view, status="complete", since=since, profile=profile)
              if r.selection == selection and (first_id is None or r.id >= first_id)
              and (last_id is None or r.id <= last_id)]
    totals = store.totals([r.id for r in chosen], coin, latest_date=view.startswith("snapshot"))
    out, previous = [], None
    for r in chosen:
        amounts, count = totals[r.id]
        total = exact_sum(amounts)
        out.append({"run": r.id, "started_at": r.started_at, "coin": coin, "total": format_decimal(total),
                    "rows": count, "change": None if previous is None else history.signed(total - previous)})
        previous = total
    return out


@output_options
def trend(
    ctx: typer.Context,
    view: Annotated[str, typer.Argument(metavar="VIEW", help="e.g. broker, spot-complete, oauth-balances.",
                                        show_default=False)],
    coin: Annotated[str, typer.Option("--coin", help="The coin to total (invitees: the quote asset).")],
    since: Annotated[str | None, typer.Option(
        "--since", metavar="WHEN", help="Only runs started since WHEN (e.g. 30d).")] = None,
    *, common: CommonOptions,
) -> None:
    from balcli import history

    view_id = _view_arg(view, diffable=False)
    validate_fields(common, TREND)
    coin_code = _coin_arg(coin) or ""
    since_at = _when(since, "--since", end=False) if since is not None else None
    run = _run(ctx, common)
    store = _store(ctx, run)
    if store is None:
        raise _no_history(run, f"no {view_id} runs")
    profile = _profile_filter(run)
    latest = store.latest(view_id, profile=profile)
    rows = [] if latest is None else _trend_rows(store, view_id, coin_code, selection=latest.selection,
                                                 since=since_at, profile=profile)
    notes = []
    if len(rows) > 1:
        from balcli.amounts import parse_amount

        values = [parse_amount(r["total"]) for r in rows]
        low, high = min(values), max(values)
        notes.append(f"{history.sparkline(values)}  {coin_code}: low {history.signed(low)}, "
                     f"high {history.signed(high)}, {len(rows)} runs")
    run.render([rows], TREND, footnotes=lambda: notes)
