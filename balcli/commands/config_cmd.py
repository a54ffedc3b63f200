"""``balcli config path | show | init``: where the config file is, the effective settings, a starter file."""

import sys
from typing import Annotated

import typer

from balcli.commands.common import CommonOptions, Globals, Run, common_options, field_views, validate_fields
from balcli.errors import ConfigError
from balcli.exchanges import NAMES
from balcli.schema import Field, View

VIEW = View("config show", (
    Field("key"),
    Field("value"),
    Field("origin", help="flag, env, file, default or sandbox (- for the file's own path)"),
), empty_note="no settings")

PATH_HELP = """Print the config file's path (--config > BALCLI_CONFIG > <user config dir>/balcli/config.yaml).

stdout carries the path alone, so that `$EDITOR "$(balcli config path)"` works; when the file does not
exist yet a note on stderr says so.

Examples:

\b
  balcli config path
  $EDITOR "$(balcli config path)"
  BALCLI_CONFIG=/etc/balcli/config.yaml balcli config path
"""

SHOW_HELP = """The effective settings of the current profile and where each value came from.

Origins: flag, env (BALCLI_*), file (the config file), default (built in), sandbox (--sandbox). Secrets are
never shown: they are not settings (see `balcli auth status`). -o/--json/--csv format this command's own
output (the format row shows what other commands use); --timeout and --max-retries show up as flags;
--base-url here sets every exchange's host, as it does for `balcli auth status --check`.

Rows: """ + VIEW.describe() + """.

Examples:

\b
  balcli config show
  balcli -p testnet config show --json | jq -r '.[] | select(.origin == "file") | .key'
"""

INIT_HELP = """Write a commented starter config file (every key with its default) at `balcli config path`.

An existing file is never overwritten (exit 3) unless --force is given; the old file is then kept beside the
new one as <name>.bak.

Examples:

\b
  balcli config init && $EDITOR "$(balcli config path)"
  balcli --config /etc/balcli/config.yaml config init
  balcli config init --force   # replace it; the old one is kept as config.yaml.bak
"""


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="The config file: its path, the effective settings, a starter file.",
                        no_args_is_help=True)
    group.command("path", help=PATH_HELP, short_help="Print the config file's path.")(config_path)
    group.command("show", help=SHOW_HELP, short_help="Effective settings and where they came from.")(config_show)
    group.command("init", help=INIT_HELP, short_help="Write a commented starter config file.")(config_init)
    app.add_typer(group, name="config")
    field_views("config show", VIEW)


def config_path(ctx: typer.Context) -> None:
    from balcli import config

    g: Globals = ctx.obj or Globals()
    path, _ = config.config_path(g.config)
    sys.stdout.write(f"{path}\n")
    sys.stdout.flush()
    if not path.exists():
        print("balcli: note: the file does not exist yet; `balcli config init` writes a commented starter",
              file=sys.stderr)


@common_options
def config_show(ctx: typer.Context, *, common: CommonOptions) -> None:
    from balcli.redaction import redact_url

    validate_fields(common, VIEW)
    run = Run.start(ctx, common, NAMES[0])
    if common.base_url:
        run.settings = run.settings.override(**{f"{ex}__base_url": run.base_url for ex in NAMES})
    rows = []
    for key, value, origin in run.settings.rows():
        if key.endswith(".rate_limit") and value == "":
            value = "the command's documented rate"
        rows.append({"key": key, "value": redact_url(value), "origin": origin})  # a proxy password in a URL
    run.render([rows], VIEW)


def config_init(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file (kept as <name>.bak).")] = False,
) -> None:
    import os

    from balcli import config

    g: Globals = ctx.obj or Globals()
    path, _ = config.config_path(g.config)
    text = config.example_text()
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists; not overwriting it",
                          "edit it, or run `balcli config init --force` to replace it (the old file is kept as "
                          f"{path.name}.bak)")
    from balcli.files import atomic_write, locked

    backup = None
    try:
        with locked(path):
            # The new file is written in full (fsynced) before anything is touched: a failure (full disk,
            # read-only folder) leaves the old file exactly as it was, and no temporary file behind.
            old = path.read_bytes() if path.exists() else None
            staged = path.with_name(f".{path.name}.new")
            atomic_write(staged, text, 0o644)  # the part that needs space: done before the old file is touched
            try:
                if old is not None:
                    backup = path.with_name(path.name + ".bak")
                    atomic_write(backup, old, 0o600)
                os.replace(staged, path)
            finally:
                staged.unlink(missing_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}", "check that the folder is writable and "
                          "has free space (the previous file, if any, was left as it was), or choose another "
                          "file with --config") from None
    print(f"balcli: wrote {path}" + (f" (the old file is now {backup})" if backup else ""), file=sys.stderr)
