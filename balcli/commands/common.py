"""What every source command shares: the global options, the common options (declared once), the run
context (settings, credentials, one HTTP client, the sandbox), and handing rows to ``render``."""

import functools
import inspect
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Annotated, Any, NamedTuple

import typer

from balcli.errors import StdoutClosed, UsageError
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

    def chosen_format(self) -> OutputFormat | None:
        """The format the command line asked for (None: not given); conflicting requests are a usage error."""
        asked = {f for f, on in ((self.format, self.format is not None), (OutputFormat.json, self.json),
                                 (OutputFormat.csv, self.csv)) if on}
        if len(asked) > 1:
            names = ", ".join(sorted(f.value for f in asked))
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


_COMMON: list[tuple[str, Any]] = [
    ("format", Annotated[OutputFormat | None, typer.Option(
        "--format", "-o", help="Output format [env: BALCLI_FORMAT; default: table on a terminal, tsv otherwise].",
        show_default=False, case_sensitive=False)]),
    ("json", Annotated[bool, typer.Option("--json", help="Shorthand for -o json.")]),
    ("csv", Annotated[bool, typer.Option("--csv", help="Shorthand for -o csv.")]),
    ("fields", Annotated[str | None, typer.Option(
        "--fields", metavar="A,B,C", help="Choose and order the columns (comma-separated field names).")]),
    ("no_header", Annotated[bool, typer.Option("--no-header", help="csv/tsv without the header line.")]),
    ("base_url", Annotated[str | None, typer.Option(
        "--base-url", metavar="URL", help="Override the API host (testnet, proxy, sandbox).")]),
    ("timeout", Annotated[float | None, typer.Option(
        "--timeout", min=0.1, max=600, metavar="SECONDS", help="Per-request timeout [default: 10].",
        show_default=False, callback=finite)]),
    ("max_retries", Annotated[int | None, typer.Option(
        "--max-retries", min=0, max=20, metavar="N", help="Retries of a retryable failure [default: 4].",
        show_default=False)]),
]


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

    @classmethod
    def start(cls, ctx: typer.Context, common: CommonOptions, exchange: str, **overrides: Any) -> "Run":
        from balcli import config

        g: Globals = ctx.obj or Globals()
        run = cls(g, common, exchange)
        common.chosen_format()  # conflicting formats: usage error before anything else
        sandbox_url = None
        if g.sandbox:
            from balcli.sandbox import Sandbox

            run.sandbox = Sandbox()
            run.sandbox.start()
            ctx.call_on_close(run.sandbox.stop)
            sandbox_url = run.sandbox.base_url
        settings = config.load(config=g.config, profile=g.profile, sandbox_url=sandbox_url)
        flags = {f"{exchange}__base_url": _check_url(common.base_url) if common.base_url else None,
                 "timeout": common.timeout, "max_retries": common.max_retries}
        flags.update({f"{exchange}__{k}": v for k, v in overrides.items()})
        run.settings = settings.override(**flags)
        ctx.call_on_close(run.close)
        return run

    # settings

    def setting(self, key: str) -> Any:
        return self.settings.exchange(self.exchange, key)

    @property
    def base_url(self) -> str:
        return self.setting("base_url")

    def rate_limit(self, default: float) -> float:
        return self.setting("rate_limit") or default

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

            self._client = HttpClient(timeout=float(self.settings.timeout.value),  # float-ok: seconds
                                      max_retries=int(self.settings.max_retries.value),
                                      verbose=self.globals.verbose, on_wait=self.progress.wait,
                                      err=self.progress.stream(sys.stderr))
        return self._client

    @property
    def progress(self) -> "Progress":
        """Shown only when stderr is a terminal that understands cursor control (not ``TERM=dumb``), never under
        -v (the log lines say it all), and not when rows stream to the same terminal as they arrive (they would
        tangle with the progress line)."""
        if self._progress is None:
            streaming_to_tty = isatty(sys.stdout) and self.output_format() not in (OutputFormat.table,
                                                                                    OutputFormat.json)
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

        return default_format(isatty(sys.stdout))

    def render(self, pages: Iterable[list[dict]], view: View, *,
               footnotes: Callable[[], list[str]] | None = None) -> int:
        from balcli.render import render

        fmt = self.output_format()
        progress = self.progress

        def then_clear_progress() -> Iterator[list[dict]]:
            yield from pages
            progress.done()  # before the table or JSON is drawn on the same terminal

        stream = then_clear_progress()
        try:
            return render(stream, view, fmt, fields=self.fields(view),
                          header=not self.common.no_header, out=sys.stdout, err=sys.stderr,
                          color=use_color(sys.stdout), footnotes=footnotes)
        except BrokenPipeError:
            # Not an OSError past this point: the vendored click would turn one into a bare exit 1.
            raise StdoutClosed from None
        finally:
            # Closed here, not whenever the garbage collector gets to it: the page fetches still in flight
            # (`| head`, an error, Ctrl-C) are stopped and waited for before the run ends.
            stream.close()

    def fields(self, view: View) -> list[str] | None:
        from balcli.render import parse_fields

        return parse_fields(view, self.common.fields)


def validate_fields(common: CommonOptions, view: View) -> None:
    """Check --fields and the format choice before anything is sent."""
    from balcli.render import parse_fields

    common.chosen_format()
    parse_fields(view, common.fields)


def _check_url(url: str) -> str:
    from balcli.config import check_url

    try:
        return check_url(url)
    except ValueError as exc:
        raise UsageError(f"--base-url {url!r} is not a usable http(s) URL: it {exc}",
                         "give e.g. --base-url https://api.example.com or http://127.0.0.1:8080") from None


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

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.shown = False
        self.ticks = 0
        self.state = ""

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
        self._draw(f"{self.state + ' — ' if self.state else ''}waiting {seconds:.1f} s ({reason})")

    def done(self) -> None:
        if self.shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self.shown = False
