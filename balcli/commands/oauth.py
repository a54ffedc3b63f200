"""``balcli oauth balances|history``: Cryptofuse balances and balance history (OAuth 2.0 bearer)."""

from typing import Annotated, Any

import typer

from balcli.commands.common import CommonOptions, Run, common_options, field_views, recordable, validate_fields
from balcli.errors import UsageError
from balcli.views import OAUTH_BALANCES, OAUTH_DEFAULT_PAGE_SIZE, OAUTH_HISTORY

CREDENTIALS = """Credentials: BALCLI_CRYPTOFUSE_CLIENT_ID + BALCLI_CRYPTOFUSE_CLIENT_SECRET (balcli fetches a token with
the client-credentials grant, scope "read write", and caches it in a 0600 file under the config dir until a
minute before it expires; on a 401 it fetches a new one once), or BALCLI_CRYPTOFUSE_TOKEN (a static bearer
token: a 401 fails at once), or `balcli auth set cryptofuse`."""

HELP = f"""Cryptofuse balances (OAuth 2.0): `oauth balances` and `oauth history`.

{CREDENTIALS}
"""

BALANCES_HELP = f"""Cryptofuse balances: the main account and all sub-accounts together, one row per currency.

Rows: {OAUTH_BALANCES.describe()} (sorted by scope, then currency). The table shows the account's
statistics (total_deposits, total_withdrawals) under it.

Examples:

\b
  balcli oauth balances
  balcli oauth balances --json | jq -r '.[] | select(.scope=="account") | "\\(.currency) \\(.balance)"'
  0 6 * * * balcli oauth balances -o csv > /var/lib/balcli/cryptofuse-$(date +\\%F).csv || mail -s 'balcli failed' ops
"""

HISTORY_HELP = f"""Cryptofuse balance history, newest first: every page to the end (offset pagination).

Rows: {OAUTH_HISTORY.describe()}. The API gives entries no id: an entry repeated across pages (same
values in every field) is shown once, and a total that changes during the run is warned about on stderr.

Examples:

\b
  balcli oauth history --currency USDTERC20 --type deposit
  balcli oauth history --json | jq -r '.[] | select(.type=="withdrawal") | .amount'
  30 6 * * * balcli oauth history --max-items 500 -o csv > /var/lib/balcli/history.csv || mail -s 'balcli failed' ops
"""


def register(app: typer.Typer) -> None:
    sub = typer.Typer(help=HELP, no_args_is_help=True, rich_markup_mode=None)
    sub.command("balances", help=BALANCES_HELP, short_help="Account and sub-account balances.")(balances)
    sub.command("history", help=HISTORY_HELP, short_help="Balance history, every page.")(history)
    app.add_typer(sub, name="oauth", short_help="Cryptofuse: balances and balance history (OAuth 2.0).")
    field_views("oauth balances", OAUTH_BALANCES)
    field_views("oauth history", OAUTH_HISTORY)


def _session(run: Run) -> Any:
    from balcli.sources import cryptofuse

    return cryptofuse.connect(run.link(), run.client.warn)


@recordable
@common_options
def balances(ctx: typer.Context, *, common: CommonOptions) -> None:
    validate_fields(common, OAUTH_BALANCES)
    run = Run.start(ctx, common, "cryptofuse")
    from balcli.sources import cryptofuse

    stats: dict[str, Any] = {}

    def pages():
        rows, found = cryptofuse.balances(_session(run))
        stats.update(found)
        yield rows

    run.render(pages(), OAUTH_BALANCES, footnotes=lambda: cryptofuse.statistics_lines(stats))


@recordable
@common_options
def history(
    ctx: typer.Context,
    currency: Annotated[str | None, typer.Option(
        "--currency", help="Only this currency, with its network (e.g. USDTERC20; case-insensitive).")] = None,
    type_: Annotated[str | None, typer.Option(
        "--type", metavar="TYPE", help="Only this transaction type (e.g. deposit, withdrawal).")] = None,
    page_size: Annotated[int, typer.Option(
        "--page-size", min=1, max=1000, metavar="N",
        help="Entries per request (the server may cap it lower; balcli follows).")] = OAUTH_DEFAULT_PAGE_SIZE,
    max_items: Annotated[int | None, typer.Option(
        "--max-items", min=1, metavar="N", help="Stop after N entries.")] = None,
    *, common: CommonOptions,
) -> None:
    validate_fields(common, OAUTH_HISTORY)
    if currency is not None and not currency.strip().isalnum():
        raise UsageError(f"--currency {currency!r} is not a currency code", "give a code such as USDTERC20 or ETH")
    if type_ is not None and not type_.strip().replace("_", "").isalnum():
        raise UsageError(f"--type {type_!r} is not a transaction type", "give a type such as deposit or withdrawal")
    run = Run.start(ctx, common, "cryptofuse")
    from balcli.sources import cryptofuse

    def pages():
        yield from cryptofuse.history_pages(
            _session(run), currency=currency.strip().upper() if currency else None,
            kind=type_.strip().lower() if type_ else None, max_items=max_items,
            page_size=min(page_size, max_items) if max_items else page_size,
            warn=run.client.warn, on_page=run.progress.page)

    run.render(pages(), OAUTH_HISTORY, filters={"--currency": currency, "--type": type_})
