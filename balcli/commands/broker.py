"""``balcli broker``: every direct customer's balances from the Zoomex broker endpoint."""

from typing import Annotated

import typer

from balcli.commands.common import (
    CommonOptions,
    Run,
    common_options,
    field_views,
    is_uid,
    recordable,
    validate_fields,
)
from balcli.errors import UsageError
from balcli.views import BROKER, BROKER_MAX_PAGE_SIZE, BROKER_TOTAL

HELP = f"""Balances of every direct broker customer (Zoomex), one row per customer and coin.

Rows: {BROKER.describe()}. With --total: {BROKER_TOTAL.describe()}.

Examples:

\b
  balcli broker --coin USDT
  balcli broker --total --json | jq -r '.[] | "\\(.coin) \\(.total_balance)"'
  0 3 * * * balcli broker -o csv > /var/lib/balcli/broker-$(date +\\%F).csv || mail -s 'balcli failed' ops
"""


def register(app: typer.Typer) -> None:
    app.command(help=HELP, short_help="Zoomex broker: every customer's balances.")(broker)
    field_views("broker", lambda params: BROKER_TOTAL if params.get("total") else BROKER)


@recordable
@common_options
def broker(
    ctx: typer.Context,
    uid: Annotated[str | None, typer.Option("--uid", help="Only this customer UID.")] = None,
    coin: Annotated[str | None, typer.Option("--coin", help="Only this coin (e.g. USDT).")] = None,
    page_size: Annotated[int, typer.Option("--page-size", min=1, max=BROKER_MAX_PAGE_SIZE,
                                           help="Customers per page.")] = BROKER_MAX_PAGE_SIZE,
    max_items: Annotated[int | None, typer.Option(
        "--max-items", min=1, metavar="N", help="Stop after N customers (the API pages by customer).")] = None,
    total: Annotated[bool, typer.Option("--total", help="Aggregate per coin instead of per customer.")] = False,
    testnet: Annotated[bool, typer.Option("--testnet", help="Use Zoomex's testnet host.")] = False,
    *, common: CommonOptions,
) -> None:
    view = BROKER_TOTAL if total else BROKER
    validate_fields(common, view)
    if uid is not None and not is_uid(uid):
        raise UsageError(f"--uid {uid!r} is not a UID", "a Zoomex UID is a number such as 101479471")
    if coin is not None and not coin.strip().isalnum():
        raise UsageError(f"--coin {coin!r} is not a coin code", "give a code such as USDT or BTC")
    if testnet and common.base_url:
        raise UsageError("--testnet and --base-url both choose the host", "give only one of them")

    from balcli.sources import zoomex

    run = Run.start(ctx, common, "zoomex")
    link = run.link()
    pages = zoomex.asset_balance_pages(
        run.client, zoomex.connect(link, testnet=testnet), uid=uid.strip() if uid else None,
        coin=coin.strip().upper() if coin else None, page_size=page_size, max_items=max_items,
        rate_limit=link.rate_limit(zoomex.RATE_LIMIT), on_page=run.progress.pager("customers"))
    run.render(zoomex.totals(pages) if total else pages, view, filters={"--uid": uid, "--coin": coin})
