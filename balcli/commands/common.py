"""What every source command shares: the global options, the common options (declared once), the run
context (settings, credentials, one HTTP client, the sandbox), and handing rows to ``render``."""

import contextlib
import functools
import inspect
import os
import sys
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Annotated, Any, NamedTuple, TextIO

import typer

from balcli.errors import StdoutClosed, UsageError
from balcli.options import MAX_RETRIES, TIMEOUT
from balcli.render import OutputFormat
from balcli.schema import View


class Globals:
    """The root options (``balcli [--profile ...] COMMAND``), handed to every command as ``ctx.obj``."""

    __slots__ = ("config", "debug", "profile", "sandbox", "verbose")

    def __init__(self, profile: str | None = None, config: str | None = None, sandbox: bool = False,
                 verbose: int = 0, debug: bool = False) -> None:
        self.profile, self.config, self.sandbox = profile, config, sandbox
        self.verbose, self.debug = verbose, debug

    def __repr__(self) -> str:
        return (f"Globals(profile={self.profile!r}, config={self.config!r}, sandbox={self.sandbox!r}, "
                f"verbose={self.verbose!r}, debug={self.debug!r})")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Globals) and all(getattr(self, k) == getattr(other, k)
                                                  for k in self.__slots__)


# -- the common options, declared once ---------------------------------------------------------------

class CommonOptions(NamedTuple):  # not a dataclass: 10x cheaper to define at start-up
    format: OutputFormat | None = None
    json: bool = False
    csv: bool = False
    fields: str | None = None
    no_header: bool = False
    base_url: str | None = None
    timeout: float | None = None
    max_retries: int | None = None
    output: str | None = None
    wide: bool = False

    def chosen_format(self) -> OutputFormat | None:
        """The format the command line asked for (None: not given); conflicting requests are a usage error."""
        asked = {f for f, on in ((self.format, self.format is not None), (OutputFormat.json, self.json),
                                 (OutputFormat.csv, self.csv)) if on}
        if len(asked) > 1:
            names = ", ".join(sorted(f.value for f in asked if f is not None))
            raise UsageError(f"conflicting output formats requested: {names}",
                             "give one of --format/-o, --json or --csv")
        return next(iter(asked), None)


def finite(value: float | None) -> float | None:
    """Refuse NaN in a float option (a ``callback``): click's range check lets it through, since every
    comparison with NaN is false, and ``--timeout nan`` would reach the transport (exit 1, not 2)."""
    import math

    if value is not None and math.isnan(value):
        raise typer.BadParameter(f"{value} is not a number")
    return value


# Command path (``oauth history``) -> the view its rows have, given the parameters parsed so far: what ``--fields``
# offers on TAB. Each command module adds its own when it registers (``field_views``).
FIELD_VIEWS: dict[str, Callable[[dict[str, Any]], View]] = {}


def field_views(path: str, view: View | Callable[[dict[str, Any]], View]) -> None:
    FIELD_VIEWS[path] = view if callable(view) and not isinstance(view, View) else (lambda _params: view)


def complete_fields(ctx: typer.Context, incomplete: str) -> list[str]:
    """``--fields <TAB>``: the view's field names, also after a comma (``coin,<TAB>``), without those chosen."""
    try:
        chooser = FIELD_VIEWS.get(ctx.command_path.partition(" ")[2])
        if chooser is None:
            return []
        names = chooser(dict(ctx.params)).field_names
    except Exception:  # noqa: BLE001 - completion must never print an error into the user's prompt
        return []
    head, comma, last = incomplete.rpartition(",")
    chosen = set(head.split(",")) if comma else set()
    return [f"{head}{comma}{name}" for name in names if name.startswith(last) and name not in chosen]


_COMMON: list[tuple[str, Any]] = [
    ("format", Annotated[OutputFormat | None, typer.Option(
        "--format", "-o", help="Output format [env: BALCLI_FORMAT; default: table on a terminal, tsv otherwise].",
        show_default=False, case_sensitive=False)]),
    ("json", Annotated[bool, typer.Option("--json", help="Shorthand for -o json.")]),
    ("csv", Annotated[bool, typer.Option("--csv", help="Shorthand for -o csv.")]),
    ("fields", Annotated[str | None, typer.Option(
        "--fields", metavar="A,B,C", help="Choose and order the columns (comma-separated field names).",
        autocompletion=complete_fields)]),
    ("no_header", Annotated[bool, typer.Option("--no-header", help="csv/tsv without the header line.")]),
    ("wide", Annotated[bool, typer.Option("--wide", help="table: every column, even wider than the terminal "
                                          "(else the columns that fit are shown and the others named).")]),
    ("base_url", Annotated[str | None, typer.Option(
        "--base-url", metavar="URL", help="Override the API host (testnet, proxy, sandbox).")]),
    ("timeout", Annotated[float | None, typer.Option(
        "--timeout", min=TIMEOUT.low, max=TIMEOUT.high, metavar="SECONDS",
        help=f"{TIMEOUT.help} [default: {TIMEOUT.default:g}].",
        show_default=False, callback=finite)]),
    ("max_retries", Annotated[int | None, typer.Option(
        "--max-retries", min=MAX_RETRIES.low, max=MAX_RETRIES.high, metavar="N",
        help=f"{MAX_RETRIES.help} [default: {MAX_RETRIES.default}].", show_default=False)]),
    ("output", Annotated[str | None, typer.Option(
        "--output", "-O", metavar="FILE", help="Write the result to FILE instead of stdout, atomically: FILE is "
        "replaced only when the run succeeds, else it keeps its old content.")]),
]

# Why -o prometheus is refused outside summary and check (README "Monitoring output: `-o prometheus`").
PROMETHEUS_ONLY = ("-o prometheus is for `balcli summary` and `balcli check` only: one series per customer, coin "
                   "or day would explode a monitoring system's cardinality")


def common_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add the common options to a command's signature and hand them to it as one ``common`` argument."""
    sig = inspect.signature(func)
    own = [p for p in sig.parameters.values() if p.name != "common"]
    extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=ann,
                               default=False if ann.__origin__ is bool else None)
             for name, ann in _COMMON]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        common = CommonOptions(**{name: kwargs.pop(name) for name, _ in _COMMON})
        return func(*args, common=common, **kwargs)

    wrapper.__signature__ = sig.replace(parameters=own + extra)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {**{k: v for k, v in func.__annotations__.items() if k != "common"},
                               **dict(_COMMON)}
    return wrapper


_RECORD = "balcli.record"  # ctx.meta key: the command line asked for --record


def recordable(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--record`` to a source command (put it above ``@common_options``). ``Run.start`` opens the history
    (a bad file stops the run before any request), ``Run.render`` tees every page it renders into the recorder,
    and the run is stored when the command returns: ``complete`` only when it rendered and returned without an
    error (a failure raised after the rows were written, such as a partial summary's, still counts), ``partial``
    with --max-items, else ``failed`` without its rows (``balcli.history``)."""
    sig = inspect.signature(func)
    option = inspect.Parameter("record", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=Annotated[
        bool, typer.Option("--record", help="Also store the rows in the local history (balcli history, balcli "
                           "diff), once the run completed [config: history_db].")])

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not kwargs.pop("record", False):
            return func(*args, **kwargs)
        ctx = kwargs.get("ctx") or next(a for a in args if isinstance(a, typer.Context))
        ctx.meta[_RECORD] = True
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            _finish_recording(ctx, exc)
            raise
        _finish_recording(ctx, None, result)
        return result

    wrapper.__signature__ = sig.replace(parameters=[*sig.parameters.values(), option])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {**func.__annotations__, "record": option.annotation}
    return wrapper


# -- the run context ----------------------------------------------------------------------------------

class Run:
    """Everything one command invocation needs; built from the Typer context and the common options."""

    def __init__(self, globals: Globals, common: CommonOptions, exchange: str, settings: Any = None,
                 sandbox: Any = None) -> None:
        self.globals = globals
        self.common = common
        self.exchange = exchange
        self.settings = settings
        self.sandbox = sandbox
        self._client: Any = None
        self._progress: Any = None
        self.recorder: Any = None  # a balcli.history.Recorder when --record was given

    @classmethod
    def start(cls, ctx: typer.Context, common: CommonOptions, exchange: str, *, monitoring: bool = False,
              **overrides: Any) -> "Run":
        """``monitoring``: the command can write ``-o prometheus`` (summary, check); every other command refuses
        it, from the command line, BALCLI_FORMAT or the config, before any request."""
        from balcli import config

        g: Globals = ctx.obj or Globals()
        run = cls(g, common, exchange)
        common.chosen_format()  # conflicting formats: usage error before anything else
        check_output(common)
        sandbox_url = None
        if g.sandbox:
            from balcli.sandbox import Sandbox

            run.sandbox = Sandbox(epoch=sandbox_epoch())
            run.sandbox.start()
            ctx.call_on_close(run.sandbox.stop)
            sandbox_url = run.sandbox.base_url
        settings = config.load(config=g.config, profile=g.profile, sandbox_url=sandbox_url)
        flags = {f"{exchange}__base_url": _check_url(common.base_url) if common.base_url else None,
                 "timeout": common.timeout, "max_retries": common.max_retries}
        flags.update({f"{exchange}__{k}": v for k, v in overrides.items()})
        run.settings = settings.override(**flags)
        if not monitoring and run.output_format() is OutputFormat.prometheus:
            raise UsageError(PROMETHEUS_ONLY, "use -o prometheus with `balcli summary` or `balcli check`; "
                             "here give table, json, ndjson, csv or tsv")
        ctx.call_on_close(run.close)
        if ctx.meta.get(_RECORD):
            run.recorder = _recorder(ctx, run)
        return run

    # settings

    def setting(self, key: str) -> Any:
        return self.settings.exchange(self.exchange, key)

    @property
    def base_url(self) -> str:
        return self.setting("base_url")

    def link(self, exchange: str | None = None, creds: Any = None) -> Any:
        """What a source needs for ``exchange`` (default: the command's): the client, the exchange's effective
        settings, its credentials and where an OAuth token may be cached (nowhere in --sandbox runs: the
        in-process sandbox issues tokens that die with it)."""
        from balcli import config, credentials
        from balcli.sources import Link

        exchange = exchange or self.exchange
        profile = self.settings.profile.value
        cache = None if self.sandbox is not None else credentials.token_cache_path(
            config.user_config_dir(), profile, exchange)
        section = {key: s.value for key, s in self.settings.exchanges[exchange].items()}
        creds = creds if creds is not None else self.credentials(exchange)
        return Link(self.client, section, creds.fields, cache)

    # credentials

    def credentials(self, exchange: str | None = None) -> Any:
        from balcli import credentials

        exchange = exchange or self.exchange
        if self.sandbox is not None:
            from balcli.sandbox import DEMO_CREDENTIALS

            return credentials.Credentials(exchange, DEMO_CREDENTIALS[exchange], "sandbox", "sandbox demo")
        return credentials.resolve(exchange, self.settings.profile.value, self.settings.credentials_file.value,
                                   note=credentials.stderr_note(self.globals.verbose))

    # transport

    @property
    def client(self) -> Any:
        if self._client is None:
            from balcli.http import HttpClient

            progress = self.progress
            on_wait = progress.wait
            if self.globals.verbose:  # -v: every wait is logged when it starts (no progress line then)
                def on_wait(seconds: float, reason: str) -> None:
                    self._client.log(f"waiting {seconds:.1f} s ({reason})")

            self._client = HttpClient(timeout=float(self.settings.timeout.value),  # float-ok: seconds
                                      max_retries=int(self.settings.max_retries.value),
                                      verbose=self.globals.verbose, on_wait=on_wait,
                                      # on a terminal a wait counts down (sleeps in slices of at most 1 s)
                                      sleep=progress.sleep if progress.enabled else None,
                                      err=progress.stream(sys.stderr), hints=TRANSPORT_HINTS)
        return self._client

    @property
    def progress(self) -> "Progress":
        """Shown only when stderr is a terminal that understands cursor control (not ``TERM=dumb``), never under
        -v (the log lines say it all), and not when rows stream to the same terminal as they arrive (they would
        tangle with the progress line)."""
        if self._progress is None:
            streaming_to_tty = (not self.common.output and isatty(sys.stdout)
                                and self.output_format() not in (OutputFormat.table, OutputFormat.json))
            self._progress = Progress(enabled=isatty(sys.stderr) and os.environ.get("TERM") != "dumb"
                                      and self.globals.verbose == 0 and not streaming_to_tty)
        return self._progress

    def close(self) -> None:
        if self._progress is not None:
            self._progress.done()
        if self._client is not None:
            self._client.close()

    # output

    def output_format(self) -> OutputFormat:
        chosen = self.common.chosen_format()
        if chosen is not None:
            return chosen
        if self.settings.format.value:
            return OutputFormat(self.settings.format.value)
        from balcli.render import default_format

        return default_format(not self.common.output and isatty(sys.stdout))

    @contextlib.contextmanager
    def output(self) -> Iterator[TextIO]:
        """Where the result goes: stdout, or with ``--output/-O FILE`` a temporary file beside FILE that replaces
        it only when the block ends without an exception (``balcli.files``). A command that can fail after its
        rows are written (summary, check) raises inside the block so that FILE keeps its old content."""
        if not self.common.output:
            try:
                yield sys.stdout
            except BrokenPipeError:
                # Not an OSError past this point: the vendored click would turn one into a bare exit 1.
                raise StdoutClosed from None
            except OSError as exc:  # a full disk (/dev/full), a quota, an I/O error: the output is incomplete
                from balcli.errors import ConfigError

                _drop_stdout()
                raise ConfigError(f"cannot write the output: {exc.strerror or type(exc).__name__}",
                                  "check free space and where stdout goes; the output written so far is "
                                  "incomplete") from None
            return
        from balcli.errors import ConfigError
        from balcli.files import atomic_output

        try:
            with atomic_output(self.common.output) as stream:
                yield stream
        except OSError as exc:  # a full disk, a quota, a folder that went away: FILE keeps its old content
            raise ConfigError(f"cannot write {self.common.output}: {exc.strerror or exc}",
                              "free some space or pick another --output FILE; the file keeps its previous "
                              "content") from None

    def render(self, pages: Iterable[list[dict]], view: View, *,
               footnotes: Callable[[], list[str]] | None = None, out: TextIO | None = None,
               filters: dict[str, Any] | None = None) -> int:
        """Write the rows; ``out`` is a stream from ``output()`` (default: a block of its own around this).
        ``filters``: the command's row filters (option -> value as given; None, False or empty when not used);
        when they matched nothing, one stderr note names them (stdout, exit 0 unchanged)."""
        if out is None:
            with self.output() as stream:
                return self.render(pages, view, footnotes=footnotes, out=stream, filters=filters)
        from balcli.render import render

        fmt = self.output_format()
        progress = self.progress
        unmatched = filter_note(filters)
        if unmatched and fmt is OutputFormat.table:  # instead of the view's "no balances", not after it
            view = view._replace(empty_note=unmatched)

        def then_clear_progress() -> Generator[list[dict], None, None]:
            yield from self.recording(pages, view)
            progress.done()  # before the table or JSON is drawn on the same terminal

        rows = then_clear_progress()
        try:
            count = render(rows, view, fmt, fields=self.fields(view),
                           header=not self.common.no_header, out=out, err=sys.stderr,
                           color=out is sys.stdout and use_color(sys.stdout), footnotes=footnotes,
                           wide=self.common.wide)
        finally:
            # Closed here, not whenever the garbage collector gets to it: the page fetches still in flight
            # (`| head`, an error, Ctrl-C) are stopped and waited for before the run ends.
            rows.close()
        if unmatched and count == 0 and fmt is not OutputFormat.table:
            out.flush()
            sys.stderr.write(unmatched + "\n")
            sys.stderr.flush()
        return count

    def recording(self, pages: Iterable[list[dict]], view: View) -> Iterator[list[dict]]:
        """``pages``, teed into the history when --record was given: every row whole (not --fields). ``render``
        uses it; output that does not go through ``render`` (``-o prometheus``) passes its pages through it. The
        run is stored when the command returns (``recordable``): complete only if it returned without error."""
        recorder = self.recorder
        if recorder is None:
            yield from pages
            return
        recorder.begin(view.name)
        for page in pages:
            recorder.add(page)
            yield page
        recorder.rendered = True

    def fields(self, view: View) -> list[str] | None:
        from balcli.render import parse_fields

        return parse_fields(view, self.common.fields)


def filter_note(filters: dict[str, Any] | None) -> str | None:
    """``balcli: note: no rows matched --coin NOPE`` for the filters in use (None when none is)."""
    used = []
    for option, value in (filters or {}).items():
        if value is None or value is False or value == [] or value == "":
            continue
        if value is True:
            used.append(option)
        else:
            used.extend(f"{option} {v}" for v in (value if isinstance(value, (list, tuple)) else [value]))
    return f"balcli: note: no rows matched {' '.join(used)}" if used else None


_RECORDER = "balcli.recorder"  # ctx.meta key: the run's balcli.history.Recorder


def _finish_recording(ctx: typer.Context, exc: BaseException | None, result: Any = None) -> None:
    """Store the run the command made (if it got as far as opening the history)."""
    from balcli.errors import BalcliError, ConfigError, ExitCode, StdoutClosed

    recorder = ctx.meta.pop(_RECORDER, None)
    if recorder is None:
        return
    if exc is None and isinstance(result, int) and result != 0:
        error: str | None = f"exit {result}"
    elif exc is None and not recorder.rendered:
        error = "no rows were rendered"
    elif isinstance(exc, BalcliError):
        error = f"exit {int(exc.exit_code)}: {exc}"
    elif isinstance(exc, (BrokenPipeError, StdoutClosed)):
        error = "stdout closed before the end"
    elif isinstance(exc, KeyboardInterrupt):
        error = f"exit {int(ExitCode.INTERRUPTED)}: interrupted"
    elif exc is not None:
        error = f"exit {int(ExitCode.INTERNAL)}: internal error ({type(exc).__name__})"
    else:
        error = None
    if error is not None:
        try:
            recorder.finish("failed", error)
        except BalcliError as problem:  # the history's own problem must not hide the run's error
            sys.stderr.write(f"balcli: warning: the failed run was not recorded: {problem}\n")
        return
    status = "partial" if recorder.options.get("max_items") else "complete"
    try:
        run_id = recorder.finish(status)
    except ConfigError as problem:
        raise ConfigError(f"the output is complete, but recording the run failed: {problem.message}",
                          problem.hint) from None
    if ctx.obj is not None and getattr(ctx.obj, "verbose", False):
        sys.stderr.write(f"balcli: recorded run {run_id} ({status}, {recorder.count} rows) in "
                         f"{recorder.store.path}\n")


def _recorder(ctx: typer.Context, run: Run) -> Any:
    """Open the history before the first request: a corrupt, unreadable or newer file stops the run (exit 3)
    before anything is fetched."""
    from balcli import history

    store = history.Store.open(run.settings.history_db.value)  # create=True: never None
    assert store is not None
    ctx.call_on_close(store.close)
    given = {name: value for name, value in ctx.params.items()  # the options given, not every default
             if name != "record" and getattr(ctx.get_parameter_source(name), "name", "DEFAULT") != "DEFAULT"}
    options = history.safe_options(given)
    if run.globals.sandbox:
        options["sandbox"] = True
        epoch = sandbox_epoch()
        if epoch:
            options["sandbox_epoch"] = epoch
    command = " ".join(ctx.command_path.split()[1:]) or ctx.info_name or run.exchange
    recorder = history.Recorder(store, command=command, profile=str(run.settings.profile.value), options=options)
    ctx.meta[_RECORDER] = recorder
    return recorder


def sandbox_epoch() -> int:
    """``BALCLI_SANDBOX_EPOCH``: the day the ``--sandbox`` demo data has moved on to (the README's sandbox
    section); 0 when unset."""
    text = os.environ.get("BALCLI_SANDBOX_EPOCH", "").strip()
    if not text:
        return 0
    if not text.isdigit() or int(text) > 100_000:
        from balcli.errors import ConfigError

        raise ConfigError(f"BALCLI_SANDBOX_EPOCH={text!r} is not a day number",
                          "give a whole number of days from 0 to 100000, or unset it")
    return int(text)


# The transport's hints, naming the options that change what it does.
TRANSPORT_HINTS = {
    "bad_request": "check --base-url / base_url, and the credentials for stray characters (`balcli auth status`)",
    "timeout": "raise --timeout, or check the network and the API's status",
    "unreachable": "check the network, proxies (HTTPS_PROXY) and --base-url",
}


def validate_fields(common: CommonOptions, view: View, *, monitoring: bool = False) -> None:
    """Check --fields, the format choice and --output before anything is sent."""
    from balcli.render import parse_fields

    if common.chosen_format() is OutputFormat.prometheus and not monitoring:
        raise UsageError(PROMETHEUS_ONLY, "use -o prometheus with `balcli summary` or `balcli check`; "
                         "here give table, json, ndjson, csv or tsv")
    parse_fields(view, common.fields)
    check_output(common)


def check_output(common: CommonOptions) -> None:
    """``--output FILE`` must be writable where balcli puts its temporary file (FILE's folder)."""
    if common.output is None:
        return
    from balcli.files import check_target

    if not common.output.strip():
        raise UsageError("--output needs a file name", "give e.g. --output /var/lib/balcli/summary.csv")
    problem = check_target(common.output)
    if problem:
        raise UsageError(f"--output {common.output}: {problem}",
                         "give a file in an existing, writable folder")


def _check_url(url: str) -> str:
    from balcli.config import check_url

    try:
        return check_url(url)
    except ValueError as exc:
        from balcli.redaction import redact_url

        raise UsageError(f"--base-url {redact_url(url)!r} is not a usable http(s) URL: it {exc}",
                         "give e.g. --base-url https://api.example.com or http://127.0.0.1:8080") from None


def _drop_stdout() -> None:
    """Point fd 1 at /dev/null and drop what Python still holds for it: the exit flush must not fail again
    (that would turn the clear error into exit 120)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def is_uid(text: str) -> bool:
    """A UID as exchanges write them: 1 to 20 ASCII digits (``isdigit`` also takes ``²`` and Arabic-Indic
    digits, and ``int`` refuses more than 4,300 digits)."""
    value = text.strip()
    return value.isascii() and value.isdigit() and len(value) <= 20


def isatty(stream: Any) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def use_color(stream: Any) -> bool:
    return isatty(stream) and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


class Progress:
    """A one-line progress display on stderr (pages, rows, rate-limit waits), only when stderr is a terminal."""

    SPIN = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
    TICK = 1.0  # seconds: a wait is redrawn at least this often

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.shown = False
        self.ticks = 0
        self.state = ""
        self.reason = ""

    def _draw(self, text: str) -> None:
        if not self.enabled:
            return
        self.ticks += 1
        sys.stderr.write(f"\r\x1b[K{self.SPIN[self.ticks % len(self.SPIN)]} {text}")
        sys.stderr.flush()
        self.shown = True

    def page(self, pages: int, rows: int, total: int | None, unit: str = "rows") -> None:
        of = f" of {total}" if total is not None else ""
        self.state = f"{pages} page{'s' if pages != 1 else ''}, {rows}{of} {unit}"
        self._draw(self.state)

    def pager(self, unit: str) -> Callable[[int, int, int | None], None]:
        """An ``on_page`` callback that counts ``unit`` (e.g. broker's customers) instead of rows."""
        return lambda pages, rows, total: self.page(pages, rows, total, unit)

    def stream(self, err: Any) -> Any:
        """``err`` for other writers (warnings, -v logs): each write first clears the progress line, so that the
        message starts on a clean line; the next page draws the progress again below it."""
        progress = self

        class _Clearing:
            def write(self, text: str) -> int:
                progress.done()
                return err.write(text)

            def __getattr__(self, name: str) -> Any:
                return getattr(err, name)

        return _Clearing() if self.enabled else err

    def wait(self, seconds: float, reason: str) -> None:
        """A wait starts (the transport's ``on_wait``); ``sleep`` then counts it down."""
        self.reason = reason
        self._draw_wait(seconds)

    def _draw_wait(self, remaining: float) -> None:
        left = f"{remaining:.0f} s" if remaining >= 10 else f"{remaining:.1f} s"
        self._draw(f"{self.state + ' — ' if self.state else ''}waiting {left} ({self.reason})")

    def sleep(self, seconds: float) -> None:
        """The transport's sleep on a terminal: in slices of at most a second, redrawing the time left after each,
        so that a minute's wait after a 429 counts down instead of looking hung."""
        import time

        end = time.monotonic() + seconds
        remaining = seconds
        while remaining > 0:
            time.sleep(min(self.TICK, remaining))
            remaining = end - time.monotonic()
            if remaining > 0.05:
                self._draw_wait(remaining)

    def done(self) -> None:
        if self.shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self.shown = False
