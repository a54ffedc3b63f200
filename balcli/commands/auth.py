"""``balcli auth set | status | remove``: store, inspect and remove exchange credentials (README "Credentials").

Where credentials come from is decided in ``balcli.credentials`` (env > keyring > file); this module only asks
for them (hidden prompts, or ``--stdin`` for scripts), says where they went, and checks them with the sources'
own endpoint functions so that a check fails with the same message and exit code as the real command.
"""

import enum
import sys
from typing import Annotated, Any

import typer

from balcli.commands.common import CommonOptions, Globals, Run, common_options, field_views, isatty, validate_fields
from balcli.errors import BalcliError, ConfigError, ExitCode, UsageError
from balcli.exchanges import EXCHANGES, FIELD_LABELS, NAMES
from balcli.schema import Field, View

Exchange = enum.Enum("Exchange", {name: name for name in NAMES}, type=str)  # type: ignore[misc]


class Store(str, enum.Enum):
    keyring = "keyring"
    file = "file"


LABELS = {e.name: e.label for e in EXCHANGES.values()}
PROMPTS = FIELD_LABELS
EXCHANGE_HELP = ", ".join(NAMES[:-1]) + f" or {NAMES[-1]}."

VIEW = View("auth status", (
    Field("exchange"),
    Field("source", help="env, keyring, file, sandbox, none, or error"),
    Field("key", help="the API key (or client id, or token) masked: abcd…wxyz"),
    Field("location", help="the environment, keyring entry or file the credentials come from"),
    Field("status", "prose", "configured / not configured / the problem; with --check: ok or the exact error"),
    Field("exit_code", "int", help="with --check: 0 when the check passed, else the exit code the command "
          "would end with; also set for a local credentials problem (3)"),
), empty_note="no exchanges")

SET_HELP = """Store the credentials of one exchange in the OS keyring or the credentials file.

Every field is asked with a hidden prompt (nothing is echoed). For scripts, --stdin reads the fields one per
line instead, in this order: zoomex, coinw, binance: API key, API secret; cryptofuse: client id, client
secret (or with --token, a single bearer token). Without --stdin and without a terminal the command fails
rather than waiting for input.

--store keyring (the default when a keyring backend exists) or --store file (<config dir>/credentials.yaml,
mode 0600, in a 0700 directory; other profiles' and exchanges' entries are kept). On a headless server with
no keyring, use --store file or, for cron, the environment variables (balcli auth status lists them).
The profile (--profile / BALCLI_PROFILE / default_profile) selects the keyring entry <profile>/<exchange>
and the file section.

Examples:

\b
  balcli auth set zoomex
  printf '%s\\n%s\\n' "$KEY" "$SECRET" | balcli auth set binance --stdin --store file
  balcli -p testnet auth set zoomex
  balcli auth set cryptofuse --token
"""

STATUS_HELP = """Where each exchange's credentials come from (env / keyring / file / none), the key masked.

Resolution order, first hit wins: environment variables, the OS keyring (entry balcli/<profile>/<exchange>),
the credentials file. Name exchanges to show (and check) only those.

--check makes one cheap signed call per exchange and shows ok or the exact error. Without EXCHANGE it
checks every exchange that has credentials. The exit code, for cron pre-flight checks: 3 when a named
exchange has no credentials (or, with none named, when no exchange has any), else the highest exit code
among the failed checks (4: the API refused the credentials); 0 only when every check it made passed.

Rows: """ + VIEW.describe() + """.

Examples:

\b
  balcli auth status
  balcli auth status --check --json | jq -r '.[] | select(.exit_code > 0) | .exchange'
  balcli auth status --check zoomex binance || exit
  balcli auth status --check >/dev/null || echo 'credentials broken' | mail -s balcli ops
"""

REMOVE_HELP = """Remove an exchange's stored credentials of the current profile (keyring and file).

Environment variables are not touched (unset them yourself). Removing nothing is an error (exit 3), so a
typo in the exchange or the profile does not pass unnoticed.

Examples:

\b
  balcli auth remove zoomex
  balcli -p testnet auth remove zoomex --store file
"""


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Store, inspect and remove exchange credentials.", no_args_is_help=True)
    group.command("set", help=SET_HELP, short_help="Store an exchange's credentials (hidden prompts).")(auth_set)
    group.command("status", help=STATUS_HELP, short_help="Where credentials come from; --check tests them.")(
        auth_status)
    group.command("remove", help=REMOVE_HELP, short_help="Remove an exchange's stored credentials.")(auth_remove)
    app.add_typer(group, name="auth")
    field_views("auth status", VIEW)


def _settings(ctx: typer.Context) -> Any:
    from balcli import config

    g: Globals = ctx.obj or Globals()
    return config.load(config=g.config, profile=g.profile)


def _note(text: str) -> None:
    print(f"balcli: {text}", file=sys.stderr, flush=True)


# -- auth set ---------------------------------------------------------------------------------------------

def auth_set(
    ctx: typer.Context,
    exchange: Annotated[Exchange, typer.Argument(help=EXCHANGE_HELP,
                                                 case_sensitive=False, show_default=False)],
    stdin: Annotated[bool, typer.Option("--stdin", help="Read the fields from stdin, one per line "
                                        "(for scripts); never prompt.")] = False,
    store: Annotated[Store | None, typer.Option(
        "--store", case_sensitive=False, show_default=False,
        help="keyring or file [default: keyring when a backend exists].")] = None,
    token: Annotated[bool, typer.Option("--token", help="cryptofuse only: store a bearer token instead of a "
                                        "client id + secret.")] = False,
) -> None:
    from balcli import credentials

    g: Globals = ctx.obj or Globals()
    ex = exchange.value
    if g.sandbox:
        raise UsageError("--sandbox uses the sandbox's demo credentials; there is nothing to store",
                         f"run `balcli auth set {ex}` without --sandbox")
    field_sets = EXCHANGES[ex].field_sets
    if token and ("token",) not in field_sets:
        takes = " and ".join(PROMPTS[f] for f in field_sets[0])
        with_token = ", ".join(e.name for e in EXCHANGES.values() if ("token",) in e.field_sets)
        raise UsageError(f"--token is only for {with_token} ({ex} takes an {takes})",
                         f"run `balcli auth set {ex}` without --token")
    fields = ("token",) if token else field_sets[0]
    if not stdin and not isatty(sys.stdin):
        formats = "\\n".join("%s" for _ in fields)
        names = " ".join(f'"${f.upper()}"' for f in fields)
        raise UsageError(f"no terminal to prompt on for the {ex} credentials; not reading them silently",
                         f"pass them one per line with --stdin, e.g. printf '{formats}\\n' {names} | "
                         f"balcli auth set {ex}{' --token' if token else ''} --stdin")
    settings = _settings(ctx)
    profile = settings.profile.value
    path = settings.credentials_file.value
    note = credentials.stderr_note(g.verbose)

    # Decide (and check) where they go before asking for any secret.
    if store is None:
        if not credentials.keyring_available(note):
            err = credentials.no_keyring_error(ex)
            raise ConfigError("no usable keyring backend to store the credentials in; say where with --store",
                              err.hint)
        store = Store.keyring
    elif store is Store.keyring and not credentials.keyring_available(note):
        raise credentials.no_keyring_error(ex)
    if store is Store.file and path.exists():
        credentials.check_private(path)

    values = _read_stdin(ex, fields) if stdin else _prompt(ex, fields)
    if store is Store.keyring:
        where = credentials.store_keyring(ex, profile, values)
    else:
        where = credentials.store_file(ex, profile, values, path)
        shadow = _keyring_entry(ex, profile, note)
        if shadow:
            _note(f"note: the keyring also holds {shadow}, which is used before the file; "
                  f"remove it with `balcli auth remove {ex} --store keyring`")
    stored = credentials.Credentials(ex, values, store.value, where)
    _note(f"stored {ex} credentials ({'token' if token else 'key'} {stored.masked_key()}) "
          f"for profile {profile!r} in {where}")
    _forget_cached_token(profile, ex)
    shadowing = credentials.env_names_set(ex)
    if shadowing:
        _note(f"warning: {', '.join(shadowing)} {'is' if len(shadowing) == 1 else 'are'} set and "
              "take precedence over what was just stored; unset them to use it")


def _forget_cached_token(profile: str, ex: str) -> None:
    """New or removed credentials: an access token cached for the old ones must not be reused."""
    from balcli import config, credentials

    credentials.forget_token(credentials.token_cache_path(config.user_config_dir(), profile, ex))


def _keyring_entry(ex: str, profile: str, note: Any) -> str | None:
    from balcli import credentials

    try:
        found = credentials.from_keyring(ex, profile, note)
    except ConfigError:  # an unreadable entry still shadows the file
        return f"keyring {credentials.SERVICE}/{credentials.keyring_user(profile, ex)}"
    return found.location if found else None


def _checked(ex: str, field: str, value: str, where: str) -> str:
    from balcli import credentials

    value = value.strip()
    what = f"{LABELS[ex]} {PROMPTS[field]}"
    if not value:
        raise UsageError(f"the {what} is empty ({where})", "give every field; nothing was stored")
    problem = credentials.value_problem(value)
    if problem:
        raise UsageError(f"the {what} {problem} ({where})",
                         "check for a pasted line break or a wrong field; nothing was stored")
    return value


def _read_stdin(ex: str, fields: tuple[str, ...]) -> dict[str, str]:
    lines = sys.stdin.read().splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    order = ", ".join(PROMPTS[f] for f in fields)
    if len(lines) < len(fields):
        missing = PROMPTS[fields[len(lines)]]
        raise UsageError(f"--stdin: expected {len(fields)} lines ({order}) but got {len(lines)}; "
                         f"the {missing} is missing", "give one field per line; nothing was stored")
    if len(lines) > len(fields):
        raise UsageError(f"--stdin: expected {len(fields)} lines ({order}) but got {len(lines)}",
                         "give exactly one field per line; nothing was stored")
    return {f: _checked(ex, f, line, f"stdin line {i}") for i, (f, line) in enumerate(zip(fields, lines), 1)}


def _prompt(ex: str, fields: tuple[str, ...]) -> dict[str, str]:
    import getpass

    values = {}
    for f in fields:
        try:
            answer = getpass.getpass(f"{LABELS[ex]} {PROMPTS[f]} (hidden): ")
        except EOFError:
            raise UsageError(f"no {LABELS[ex]} {PROMPTS[f]} given (end of input)", "nothing was stored") from None
        values[f] = _checked(ex, f, answer, "prompt")
    return values


# -- auth status ------------------------------------------------------------------------------------------

@common_options
def auth_status(
    ctx: typer.Context,
    exchanges: Annotated[list[Exchange] | None, typer.Argument(
        help="Only these exchanges (" + EXCHANGE_HELP.rstrip(".") + "); with --check, each must have "
        "credentials.", case_sensitive=False, show_default=False)] = None,
    check: Annotated[bool, typer.Option("--check", help="Make one cheap signed call per exchange that has "
                                        "credentials (--base-url then applies to every exchange).")] = False,
    *, common: CommonOptions,
) -> int:
    from balcli import credentials

    validate_fields(common, VIEW)
    run = Run.start(ctx, common, NAMES[0])  # --base-url then applies to every exchange
    if common.base_url:
        run.settings = run.settings.override(**{f"{ex}__base_url": run.base_url for ex in NAMES})
    profile = run.settings.profile.value
    path = run.settings.credentials_file.value
    note = credentials.stderr_note(run.globals.verbose)

    named = list(dict.fromkeys(e.value for e in exchanges or ()))
    rows: list[dict] = []
    failures: list[tuple[str, BalcliError]] = []
    for ex in named or NAMES:
        row: dict[str, Any] = {"exchange": ex, "source": "none", "key": None, "location": None,
                               "status": "not configured", "exit_code": None}
        rows.append(row)
        try:
            creds = run.credentials(ex) if run.sandbox is not None else credentials.find(ex, profile, path,
                                                                                         note=note)
        except ConfigError as exc:
            row.update(source="error", status=str(exc), exit_code=int(exc.exit_code))
            failures.append((ex, exc))
            continue
        if creds is None:
            if check and named:  # a named exchange must have credentials for the check to pass
                missing = credentials.missing_error(ex, profile)
                row.update(exit_code=int(missing.exit_code))
                failures.append((ex, missing))
            continue
        row.update(source=creds.source, key=creds.masked_key(), location=creds.location, status="configured")
        if not check:
            continue
        try:
            _probe(run, ex, creds)
        except BalcliError as exc:
            row.update(status=str(exc), exit_code=int(exc.exit_code))
            failures.append((ex, exc))
            continue
        row.update(status="ok", exit_code=0)

    if check and not named and all(row["source"] == "none" for row in rows):
        failures.append(("", ConfigError(
            "no exchange has credentials: nothing was checked",
            "set the BALCLI_<EXCHANGE>_* variables (cron) or run `balcli auth set EXCHANGE`; "
            "name the exchanges a job needs: `balcli auth status --check zoomex`")))
    run.render([rows], VIEW)
    for ex, failure in failures:  # (not `exc`: the except clauses above delete that name)
        print(f"balcli: error: {ex + ': ' if ex else ''}{failure}", file=sys.stderr)
        if failure.hint:
            print(f"hint: {failure.hint}", file=sys.stderr)
    sys.stderr.flush()
    return max((int(failure.exit_code) for _, failure in failures), default=int(ExitCode.OK))


def _probe(run: Run, exchange: str, creds: Any) -> None:
    """The exchange's one cheap signed call, through its source's own Api and endpoint function, so that a
    failure reads exactly as it would in the real command."""
    from balcli.exchanges import load

    load(EXCHANGES[exchange].probe)(run.link(exchange, creds))


# -- auth remove -----------------------------------------------------------------------------------------

def auth_remove(
    ctx: typer.Context,
    exchange: Annotated[Exchange, typer.Argument(help=EXCHANGE_HELP,
                                                 case_sensitive=False, show_default=False)],
    store: Annotated[Store | None, typer.Option(
        "--store", case_sensitive=False, show_default=False,
        help="Only from the keyring or only from the file [default: both].")] = None,
) -> None:
    from balcli import credentials

    g: Globals = ctx.obj or Globals()
    ex = exchange.value
    if g.sandbox:
        raise UsageError("--sandbox uses the sandbox's demo credentials; there is nothing to remove",
                         f"run `balcli auth remove {ex}` without --sandbox")
    settings = _settings(ctx)
    profile = settings.profile.value
    path = settings.credentials_file.value
    removed = []
    if store in (None, Store.keyring):
        where = credentials.remove_keyring(ex, profile)
        if where:
            removed.append(where)
    if store in (None, Store.file):
        where = credentials.remove_file(ex, profile, path)
        if where:
            removed.append(where)
    env_set = credentials.env_names_set(ex)
    env_note = (f"; {', '.join(env_set)} {'is' if len(env_set) == 1 else 'are'} set in the environment "
                "(balcli does not change it: unset them yourself)") if env_set else ""
    if not removed:
        places = {None: "the keyring or the credentials file", Store.keyring: "the keyring",
                  Store.file: f"{path}"}[store]
        raise ConfigError(f"no stored {ex} credentials for profile {profile!r} in {places}",
                          "`balcli auth status` shows where credentials come from" + env_note)
    _forget_cached_token(profile, ex)
    for where in removed:
        _note(f"removed {ex} credentials of profile {profile!r} from {where}")
    if env_note:
        _note("note: " + env_note[2:])
