"""The Typer application: global options and the command groups. Imported only to run a command line."""

from typing import Annotated

import typer

from balcli import __version__
from balcli.commands.common import Globals
from balcli.errors import ExitCode, UsageError
from balcli.exchanges import SOURCE_COMMANDS

HELP = """Inspect exchange balances: Zoomex broker customers, CoinW spot and affiliate invitees, Binance
daily snapshots and Cryptofuse OAuth balances. Exact to the last decimal, every page, scriptable.

Results go to stdout (table on a terminal, TSV in a pipe; --json/--csv/-o for others); progress, warnings
and errors go to stderr. Exit codes: 0 ok, 2 usage, 3 config/credentials, 4 rejected credentials,
5 rate limited/banned, 6 network/server, 7 unusable answer, 8 `check`: a rule breached, 130 interrupted.
"""


def _complete_profile(incomplete: str) -> list[str]:
    """Profile names from the config file, for TAB (quietly nothing when there is no readable file)."""
    from balcli import config

    try:
        return [name for name in config.profile_names() if name.startswith(incomplete)]
    except Exception:  # noqa: BLE001 - completion must never print an error into the user's prompt
        return []


def _version(value: bool) -> None:
    if value:
        typer.echo(f"balcli {__version__}")
        raise typer.Exit()


def root(
    ctx: typer.Context,
    profile: Annotated[str | None, typer.Option(
        "--profile", "-p", metavar="NAME",
        help="Config profile [env: BALCLI_PROFILE; default: the file's default_profile, else 'default'].",
        show_default=False, autocompletion=_complete_profile)] = None,
    config: Annotated[str | None, typer.Option(
        "--config", metavar="PATH",
        help="Config file [env: BALCLI_CONFIG; default: <user config dir>/balcli/config.yaml].",
        show_default=False)] = None,
    sandbox: Annotated[bool, typer.Option(
        "--sandbox", envvar="BALCLI_SANDBOX", help="Run against the embedded sandbox exchange with demo "
        "credentials [env: BALCLI_SANDBOX=1].")] = False,
    verbose: Annotated[int, typer.Option(
        "--verbose", "-v", count=True, help="-v: one line per HTTP request on stderr; -vv: with bodies "
        "(secrets always redacted).")] = 0,
    debug: Annotated[bool, typer.Option("--debug", help="Full traceback for unexpected errors.")] = False,
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    ctx.obj = Globals(profile=profile, config=config, sandbox=sandbox, verbose=verbose, debug=debug)


# Command name -> the module under balcli.commands that registers it, in the order --help lists them: the
# registry's source commands (each module named as its command), then the management commands.
COMMANDS = {**{name: name for name in SOURCE_COMMANDS}, "summary": "summary", "check": "check",
            "diff": "diff", "history": "history", "auth": "auth", "config": "config_cmd", "doctor": "doctor",
            "sandbox": "sandbox_cmd"}
# Root options that take a value (``--profile NAME``): what follows them is not the command name.
_VALUE_OPTIONS = frozenset({"--profile", "-p", "--config"})
_FLAG_OPTIONS = frozenset({"--sandbox", "--verbose", "--debug"})


def command_in(args: list[str]) -> str | None:
    """The command a command line runs (``broker`` in ``balcli -p main broker --json``), or None when there is
    none, it is unknown, or the root options cannot be read with certainty (then every command is built)."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in _VALUE_OPTIONS:
            i += 2
        elif arg in _FLAG_OPTIONS or arg.startswith(("--profile=", "--config=")) or (
                len(arg) > 1 and arg[0] == "-" and arg[1] != "-" and set(arg[1:]) == {"v"}):
            i += 1
        elif arg.startswith("-"):
            return None  # --help, --version, "--", a short-option cluster or an unknown option: build all
        else:
            return arg if arg in COMMANDS else None
    return None


def build_app(args: list[str] | None = None) -> typer.Typer:
    """The root app. Given the command line, only the command it runs is registered: building every
    command's parameters costs about 15 ms of each run (``--help``, TAB completion and unknown commands
    get them all)."""
    app = typer.Typer(
        name="balcli",
        help=HELP,
        no_args_is_help=True,
        # rich-formatted help costs ~55 ms of start-up; plain help reads just as well in a terminal.
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        pretty_exceptions_show_locals=False,
        context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    )
    app.callback()(root)
    import importlib

    name = command_in(args) if args is not None else None
    for module in [COMMANDS[name]] if name is not None else COMMANDS.values():
        importlib.import_module(f"balcli.commands.{module}").register(app)
    return app


def run_app(app: typer.Typer, args: list[str]) -> int:
    """Run the app without Typer's own exit handling, so that ``cli.run`` is the only exit funnel."""
    from balcli._typer_compat import Abort, ClickException, click_exceptions, get_command
    from balcli.commands import usage

    command = get_command(app)
    usage.tidy(command)
    try:
        rv = command.main(args=usage.hoist(command, args), prog_name="balcli", standalone_mode=False)
    except click_exceptions.NoArgsIsHelpError as exc:  # a bare `balcli` / `balcli auth`: the help (exit 2)
        exc.show()
        return int(ExitCode.USAGE)
    except click_exceptions.UsageError as exc:  # parser errors in balcli's two-line form (README "Exit codes")
        raise usage.translate(exc, usage.command_path(command, args)) from None
    except ClickException as exc:
        exc.show()
        return int(ExitCode.USAGE) if exc.exit_code == 2 else int(exc.exit_code)
    except Abort:
        raise KeyboardInterrupt from None
    if isinstance(rv, int) and rv == ExitCode.INTERRUPTED:
        raise KeyboardInterrupt
    return int(rv or 0)


__all__ = ["UsageError", "build_app", "run_app"]
