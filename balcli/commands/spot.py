"""``balcli spot``: the CoinW spot account's balance per coin."""

from typing import Annotated

import typer

from balcli.commands.common import CommonOptions, Run, common_options, field_views, recordable, validate_fields
from balcli.errors import UsageError
from balcli.views import SPOT, SPOT_COMPLETE

HELP = f"""Balances of the CoinW spot account, one row per coin, sorted by coin.

By default the available balance (returnBalances: amounts frozen in open orders are not included);
--complete adds what is on orders and the exact total (returnCompleteBalances). An account without
assets is an empty result (exit 0).

Rows: {SPOT.describe()}. With --complete: {SPOT_COMPLETE.describe()}.

Examples:

\b
  balcli spot --coin BTC --coin USDT --complete
  balcli spot --hide-zero --json | jq -r '.[] | "\\(.coin) \\(.balance)"'
  */15 * * * * balcli spot --complete --hide-zero -o csv > /var/lib/balcli/spot.csv || mail -s 'balcli failed' ops
"""


def register(app: typer.Typer) -> None:
    app.command(help=HELP, short_help="CoinW spot: the account's balance per coin.")(spot)
    field_views("spot", lambda params: SPOT_COMPLETE if params.get("complete") else SPOT)


@recordable
@common_options
def spot(
    ctx: typer.Context,
    coin: Annotated[list[str] | None, typer.Option(
        "--coin", metavar="COIN", help="Only this coin (e.g. USDT; any case); repeat for several.")] = None,
    hide_zero: Annotated[bool, typer.Option(
        "--hide-zero", help="Leave out coins whose balance (with --complete: total) is exactly zero.")] = False,
    complete: Annotated[bool, typer.Option(
        "--complete", help="Show available, on orders and total (returnCompleteBalances).")] = False,
    *, common: CommonOptions,
) -> None:
    view = SPOT_COMPLETE if complete else SPOT
    validate_fields(common, view)
    coins = [c.strip() for c in coin or []]
    for c in coins:
        if not c.isalnum():
            raise UsageError(f"--coin {c!r} is not a coin code", "give a code such as USDT or BTC")

    from balcli.sources import coinw_spot

    run = Run.start(ctx, common, "coinw")
    link = run.link()
    api = coinw_spot.connect(link)
    if complete:
        pages = coinw_spot.complete_balances(run.client, api, coins=coins, hide_zero=hide_zero,
                                             rate_limit=link.rate_limit(coinw_spot.COMPLETE_RATE_LIMIT))
    else:
        pages = coinw_spot.balances(run.client, api, coins=coins, hide_zero=hide_zero,
                                    rate_limit=link.rate_limit(coinw_spot.RATE_LIMIT))
    run.render(pages, view, filters={"--coin": coin, "--hide-zero": hide_zero})
