"""``balcli invitees``: every direct invitee's deposits, withdrawals and balance (CoinW affiliate)."""

import enum
from datetime import datetime, timezone
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
from balcli.timeparse import parse_offset, parse_when
from balcli.views import INVITEES, INVITEES_MAX_PAGE_SIZE

HELP = f"""Direct invitees of the CoinW affiliate account: deposits, withdrawals and current balance, one row per
invitee (every page, sorted by uid), in one quote asset (--quote).

--start/--end limit the deposits and withdrawals counted (current_balance is always the latest); without
them the totals are since each account was created. WHEN is an ISO date or datetime (UTC unless it carries
an offset; a date alone is the start of that day for --start and its end for --end) or an age such as 7d.
CoinW's times carry no zone: balcli writes the window and reads the answer's times in the zone --tz
(default: config coinw.timezone, else +08:00, CoinW's own zone) and shows times in UTC.

Rows: {INVITEES.describe()}.
The table's footer sums total_deposit, total_withdrawal and current_balance.

Examples:

\b
  balcli invitees --start 30d --quote usdc
  balcli invitees --json | jq -r '.[] | select(.current_balance != "0.00000000") | .uid'
  0 6 * * * balcli invitees --start 1d -o csv > /var/lib/balcli/invitees.csv || mail -s 'balcli failed' ops
"""


class Quote(str, enum.Enum):
    usdt = "usdt"
    usdc = "usdc"


def register(app: typer.Typer) -> None:
    app.command(help=HELP, short_help="CoinW affiliate: direct invitees' deposits, withdrawals, balance.")(invitees)
    field_views("invitees", INVITEES)


@recordable
@common_options
def invitees(
    ctx: typer.Context,
    uid: Annotated[str | None, typer.Option("--uid", metavar="UID", help="Only this invitee UID.")] = None,
    start: Annotated[str | None, typer.Option(
        "--start", metavar="WHEN", help="Count deposits/withdrawals from this time on (e.g. 2025-01-01, 7d).")] = None,
    end: Annotated[str | None, typer.Option(
        "--end", metavar="WHEN", help="Count deposits/withdrawals up to this time (inclusive).")] = None,
    quote: Annotated[Quote, typer.Option(
        "--quote", case_sensitive=False, help="Settlement asset of the amounts.")] = Quote.usdt,
    page_size: Annotated[int, typer.Option("--page-size", min=1, max=INVITEES_MAX_PAGE_SIZE,
                                           help="Invitees per page.")] = INVITEES_MAX_PAGE_SIZE,
    max_items: Annotated[int | None, typer.Option(
        "--max-items", min=1, metavar="N", help="Stop after N invitees.")] = None,
    tz: Annotated[str | None, typer.Option(
        "--tz", metavar="OFFSET", show_default=False,
        help="Zone of CoinW's zone-less times, e.g. +08:00 or Z [env: BALCLI_COINW_TIMEZONE; "
             "default: config coinw.timezone, else +08:00].")] = None,
    *, common: CommonOptions,
) -> None:
    validate_fields(common, INVITEES)
    uid_value = None
    if uid is not None:
        if not is_uid(uid):
            raise UsageError(f"--uid {uid!r} is not a UID", "a CoinW UID is a number such as 12345678")
        uid_value = int(uid.strip())
    if tz is not None:
        parse_offset(tz, option="--tz")
    now = datetime.now(timezone.utc)
    start_at = parse_when(start, option="--start", end=False, now=now) if start is not None else None
    end_at = parse_when(end, option="--end", end=True, now=now) if end is not None else None
    if start_at is not None and end_at is not None and start_at >= end_at:
        raise UsageError(f"--start ({start}) is not before --end ({end})", "give a --start earlier than --end")

    from balcli.sources import coinw_affiliate

    run = Run.start(ctx, common, "coinw", timezone=tz)
    zone = parse_offset(str(run.setting("timezone")), option="coinw.timezone")
    link = run.link()
    pages = coinw_affiliate.user_assets_pages(
        run.client, coinw_affiliate.connect(link), zone=zone, uid=uid_value, start=start_at, end=end_at,
        quote=quote.value, page_size=page_size, max_items=max_items,
        rate_limit=link.rate_limit(coinw_affiliate.RATE_LIMIT),
        warn=run.client.warn, on_page=run.progress.page)
    run.render(pages, INVITEES, footnotes=lambda: [f"amounts in {quote.value.upper()}"], filters={"--uid": uid})
