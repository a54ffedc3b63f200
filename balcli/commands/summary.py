"""``balcli summary``: what do we hold, everywhere, right now? Every selected source at once (README "Commands").

What each source contributes is declared next to its own code (``summary_rows`` in ``balcli/sources/<x>.py``)
and named by the registry (``Exchange.summary``); this module only iterates the registry. ``gather`` is shared
with ``balcli check``.
"""

import enum
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Annotated, Any

import typer

from balcli.commands.common import CommonOptions, Run, common_options, field_views, recordable, validate_fields
from balcli.errors import BalcliError, UsageError
from balcli.exchanges import NAMES, SOURCE_COMMANDS, Contribution, Exchange, summary_sources
from balcli.views import SUMMARY, SUMMARY_BY_COIN

HELP = f"""What we hold, everywhere, right now: every selected source queried at once (each under its own rate
limit), summed exactly per source, scope and coin.

holder is own (the house's money: spot, snapshot, oauth) or customers (held for customers: broker,
invitees); --by coin sums per holder and coin, never adding customers' money to the house's own.
snapshot gives the latest day of each type in the config's summary: {{snapshot_types: [spot]}}.

Default --sources: every source whose credentials resolve; the others are reported as skipped. One status
line per source goes to stderr. When a source fails the others still finish: csv/tsv/ndjson keep the rows of
the sources that succeeded, json writes nothing, the table marks the failed sources under it, and the exit
code is the failed source's (the highest when several failed): a partial summary never exits 0.

Rows: {SUMMARY.describe()}. With --by coin: {SUMMARY_BY_COIN.describe()}.
-o prometheus writes metrics for node_exporter's textfile collector (with -O FILE: atomically).

Examples:

\b
  balcli summary --by coin --coin USDT
  balcli summary --sources spot,snapshot --json | jq -r '.[] | "\\(.scope) \\(.coin) \\(.amount)"'
  */10 * * * * balcli summary -o prometheus -O /var/lib/node_exporter/textfile/balcli.prom
"""


class By(str, enum.Enum):
    source = "source"
    coin = "coin"


def register(app: typer.Typer) -> None:
    app.command(help=HELP, short_help="Every source at once: exact sums per source, scope and coin.")(summary)
    field_views("summary", lambda params: SUMMARY_BY_COIN if getattr(params.get("by"), "value", params.get("by"))
                == "coin" else SUMMARY)


@recordable
@common_options
def summary(
    ctx: typer.Context,
    sources: Annotated[str | None, typer.Option(
        "--sources", metavar="A,B", show_default=False,
        help=f"Sources to query, comma-separated, from {','.join(SOURCE_COMMANDS)} [default: every source "
             "whose credentials resolve].")] = None,
    coin: Annotated[list[str] | None, typer.Option(
        "--coin", metavar="COIN", help="Only this coin (any case); repeat for several.")] = None,
    by: Annotated[By, typer.Option("--by", case_sensitive=False,
                                   help="One row per source, scope and coin, or per holder and coin.")] = By.source,
    *, common: CommonOptions,
) -> None:
    view = SUMMARY_BY_COIN if by is By.coin else SUMMARY
    validate_fields(common, view, monitoring=True)
    named = parse_sources(sources)
    coins = parse_coins(coin)
    no_base_url(common)

    run = Run.start(ctx, common, NAMES[0], monitoring=True)
    snapshot_scopes = tuple(f"snapshot.{t}" for t in run.settings.snapshot_types)
    plan, skipped = plan_sources(run, named, lambda cmd, part: snapshot_scopes if cmd == "snapshot"
                                 else part.scopes)
    fmt = run.output_format().value
    outcomes: list[Outcome] = []

    def pages() -> Iterator[list[dict]]:
        yield from summary_pages(run, plan, skipped, outcomes, by=by, coins=coins)
        if fmt == "json":
            raise_failures(outcomes)  # all-or-nothing: before the first byte

    def footnotes() -> list[str]:
        return [f"{o.command}: failed (exit {o.exit_code}): its figures are missing" for o in outcomes
                if not o.ok]

    with run.output() as out:
        if fmt == "prometheus":
            from balcli import prometheus

            for _ in run.recording(pages(), view):  # every source, with its status line (and --record)
                pass
            rows = [r for o in outcomes if o.ok for r in o.rows if coins is None or r["coin"] in coins]
            prometheus.write(summary_metrics(outcomes, rows), out)
        else:
            run.render(pages(), view, footnotes=footnotes, out=out)
        raise_failures(outcomes)  # inside the block: -O FILE keeps its old content


def summary_pages(run: Run, plan: list["Planned"], skipped: list[str], outcomes: list["Outcome"], *,
                  by: By = By.source, coins: set[str] | None = None) -> Iterator[list[dict]]:
    """The run's rows, one page per source as the sources finish (``--by coin``: one page at the end), with each
    source's status line on stderr. ``outcomes`` receives every source's ``Outcome``: the caller tells a complete
    run from a partial one by them (``raise_failures``) after the last page: a page of rows never says that."""
    status = StatusLines(run, every=True)
    for cmd in skipped:
        status.skipped(cmd)
    for outcome in gather(run, plan):
        outcomes.append(outcome)
        status.line(outcome)
        if outcome.ok and by is By.source:
            yield [r for r in outcome.rows if coins is None or r["coin"] in coins]
    if by is By.coin:
        yield by_coin([o for o in outcomes if o.ok], coins)


# -- choosing the sources --------------------------------------------------------------------------------

def parse_sources(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    known = tuple(summary_sources())
    unknown = [n for n in names if n not in known]
    if not names or unknown:
        raise UsageError(f"--sources {text!r}: {'unknown source ' + ', '.join(unknown) if unknown else 'no source'}",
                         f"give a comma-separated list of: {', '.join(known)}")
    return list(dict.fromkeys(names))


def parse_coins(coins: list[str] | None) -> set[str] | None:
    if not coins:
        return None
    for c in coins:
        if not c.strip().isalnum():
            raise UsageError(f"--coin {c!r} is not a coin code", "give a code such as USDT or BTC")
    return {c.strip().upper() for c in coins}


def no_base_url(common: CommonOptions) -> None:
    if common.base_url:
        raise UsageError("--base-url names one host, and this command reads several exchanges",
                         "set each exchange's base_url in the config or BALCLI_<EXCHANGE>_BASE_URL")


class Planned:
    """A source to query: its command, exchange, contribution, scopes and credentials."""

    __slots__ = ("command", "contribution", "creds", "exchange", "scopes")

    def __init__(self, command: str, exchange: Exchange, contribution: Contribution, scopes: tuple[str, ...],
                 creds: Any) -> None:
        self.command, self.exchange, self.contribution = command, exchange, contribution
        self.scopes, self.creds = scopes, creds


def plan_sources(run: Run, named: Iterable[str] | None, scopes_of: Any) -> tuple[list[Planned], list[str]]:
    """The sources to query (``named``; None: every source whose credentials resolve) and those skipped as not
    configured. A named source without credentials is exit 3 here, before any request; a source whose
    credentials are broken (an insecure file) is planned with its error and reported as failed."""
    from balcli import credentials
    from balcli.errors import ConfigError

    registry = summary_sources()
    plan: list[Planned] = []
    skipped: list[str] = []
    profile = run.settings.profile.value
    for cmd, (exchange, part) in registry.items():
        if named is not None and cmd not in named:
            continue
        scopes = tuple(scopes_of(cmd, part))
        if not scopes:
            continue
        if named is not None or run.sandbox is not None:
            creds: Any = run.credentials(exchange.name)  # exit 3 when missing
        else:
            try:
                creds = credentials.find(exchange.name, profile, run.settings.credentials_file.value,
                                         note=credentials.stderr_note(run.globals.verbose))
            except ConfigError as exc:
                creds = exc
            if creds is None:
                skipped.append(cmd)
                continue
        plan.append(Planned(cmd, exchange, part, scopes, creds))
    # keep the registry's order
    return plan, skipped


# -- querying them at once -------------------------------------------------------------------------------

class Outcome:
    """One source's result: its summary rows (with source and holder), or the error that stopped it."""

    __slots__ = ("command", "error", "holder", "items", "pages", "rows", "seconds", "unit")

    def __init__(self, planned: Planned) -> None:
        self.command = planned.command
        self.holder = planned.contribution.holder
        self.unit = planned.contribution.unit
        self.rows: list[dict] = []
        self.error: BalcliError | None = None
        self.seconds = 0.0
        self.pages = 0
        self.items = 0

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def exit_code(self) -> int:
        return int(self.error.exit_code) if self.error is not None else 0

    @property
    def source_rows(self) -> int:
        return sum(r["count"] for r in self.rows)


def gather(run: Run, plan: list[Planned]) -> Iterator[Outcome]:
    """Run every planned source in its own thread, all at once (one shared HttpClient, each source under its
    own limiter bucket): wall time is about the slowest source. Outcomes come in the plan's order. A bug in a
    source (not a BalcliError) is raised here, after every thread has ended."""
    import threading

    from balcli.exchanges import load

    outcomes = [Outcome(p) for p in plan]
    bugs: list[BaseException] = []
    client = run.client  # built once, before the threads
    # Each source's code is imported here, before the threads: imported in them, the import lock would hold a
    # source's first request back after its rate limiter let it go, bunching it with the next one at the server.
    rows_of = {p.command: load(p.contribution.rows) for p in plan}

    def work(planned: Planned, outcome: Outcome) -> None:
        started = time.monotonic()

        def on_page(pages: int, items: int, total: int | None) -> None:
            outcome.pages, outcome.items = pages, items
            run.progress.page(sum(o.pages for o in outcomes), sum(o.items for o in outcomes), None,
                              f"items from {len(outcomes)} sources")

        try:
            if isinstance(planned.creds, BalcliError):
                raise planned.creds
            link = run.link(planned.exchange.name, planned.creds)
            for page in rows_of[planned.command](link, planned.scopes, warn=client.warn, on_page=on_page):
                outcome.rows += [{"source": planned.command, "scope": r["scope"], "holder": outcome.holder,
                                  "coin": r["coin"], "amount": r["amount"], "count": r["count"],
                                  "as_of": r["as_of"]} for r in page]
        except BalcliError as exc:
            outcome.error = exc
        except BaseException as exc:  # noqa: BLE001 - a bug: re-raised in the main thread
            bugs.append(exc)
        finally:
            outcome.seconds = time.monotonic() - started

    # Daemon threads: Ctrl-C in the main thread ends the run at once instead of waiting for slow sources.
    threads = [threading.Thread(target=work, args=(p, o), name=f"balcli-{p.command}", daemon=True)
               for p, o in zip(plan, outcomes)]
    for t in threads:
        t.start()
    for t, outcome in zip(threads, outcomes):
        while t.is_alive():
            t.join(0.1)  # short joins: KeyboardInterrupt reaches the main thread
        if bugs:
            for other in threads:
                other.join()
            raise bugs[0]
        yield outcome
    run.progress.done()


class StatusLines:
    """Exactly one line per source on stderr: ``balcli: broker: ok, 300 customers in 6 pages, 2.4 s``.
    ``every=False`` (check): only failed sources, unless -v."""

    def __init__(self, run: Run, every: bool) -> None:
        self.run = run
        self.every = every or run.globals.verbose > 0

    def _write(self, text: str) -> None:
        run = self.run
        run.progress.done()
        sys.stderr.write(f"balcli: {run.client.redact(text) if run._client is not None else text}\n")
        sys.stderr.flush()

    def skipped(self, command: str) -> None:
        if self.every:
            self._write(f"{command}: skipped: not configured")

    def line(self, o: Outcome) -> None:
        if o.error is not None:
            self._write(f"{o.command}: failed (exit {o.exit_code}): {o.error}")
        elif self.every:
            unit = o.unit if o.items != 1 else o.unit.rstrip("s")
            self._write(f"{o.command}: ok, {o.items} {unit} in {o.pages} page{'s' if o.pages != 1 else ''}, "
                        f"{o.seconds:.1f} s")


class SourceFailed(BalcliError):
    """A source of a summary or check failed: its own message and hint, its own exit code."""

    def __init__(self, command: str, error: BalcliError) -> None:
        super().__init__(f"{command}: {error}", error.hint)
        self.exit_code = error.exit_code


def raise_failures(outcomes: list[Outcome]) -> None:
    """Every failed source's error on stderr; the run exits with the highest of their codes."""
    failed = sorted((o for o in outcomes if not o.ok), key=lambda o: o.exit_code)
    if not failed:
        return
    for o in failed[:-1]:
        assert o.error is not None
        sys.stderr.write(f"balcli: error: {o.command}: {o.error}\n" + (f"hint: {o.error.hint}\n" if o.error.hint
                                                                       else ""))
    last = failed[-1]
    assert last.error is not None
    raise SourceFailed(last.command, last.error)


# -- rows and metrics ------------------------------------------------------------------------------------

HOLDER_ORDER = {"own": 0, "customers": 1}


def by_coin(outcomes: list[Outcome], coins: set[str] | None) -> list[dict]:
    """Per holder and coin: the exact sum over the sources, and which sources (``broker+invitees``)."""
    from balcli.amounts import exact_sum, format_decimal

    sums: dict[tuple[str, str], Any] = {}
    names: dict[tuple[str, str], list[str]] = {}
    for o in outcomes:
        for r in o.rows:
            if coins is not None and r["coin"] not in coins:
                continue
            key = (r["holder"], r["coin"])
            sums[key] = exact_sum((sums.get(key, 0), r["amount"]))
            if r["source"] not in names.setdefault(key, []):
                names[key].append(r["source"])
    return [{"holder": holder, "coin": coin, "amount": format_decimal(sums[(holder, coin)]),
             "sources": "+".join(names[(holder, coin)])}
            for holder, coin in sorted(sums, key=lambda k: (HOLDER_ORDER.get(k[0], 9), k[0], k[1]))]


def source_metrics(outcomes: list[Outcome]) -> list[Any]:
    from balcli.prometheus import Metric, number

    return [
        Metric("source_up", "1 when the source answered completely in the last run, 0 when it failed",
               [({"source": o.command}, number(o.ok)) for o in outcomes]),
        Metric("source_duration_seconds", "how long the source took in the last run",
               [({"source": o.command}, f"{o.seconds:.3f}") for o in outcomes]),
        Metric("source_rows", "how many of the source's rows were summed in the last run",
               [({"source": o.command}, str(o.source_rows)) for o in outcomes if o.ok]),
    ]


def last_run_metric() -> Any:
    from balcli.prometheus import Metric

    return Metric("last_run_timestamp_seconds", "when balcli wrote these metrics (Unix time)",
                  [({}, f"{time.time():.3f}")])


def summary_metrics(outcomes: list[Outcome], rows: list[dict]) -> list[Any]:
    from balcli.prometheus import Metric

    balance = Metric("balance", "exact balance per source, scope, holder and coin (holder: own or customers; "
                     "never add customers to own)",
                     [({"source": r["source"], "scope": r["scope"], "holder": r["holder"], "coin": r["coin"]},
                       r["amount"]) for r in rows])
    return [balance, *source_metrics(outcomes), last_run_metric()]
