"""``balcli snapshot``: Binance daily account snapshots (spot, margin, futures assets or futures positions)."""

import enum
from datetime import datetime, timezone
from typing import Annotated

import typer

from balcli.commands.common import CommonOptions, Run, common_options, field_views, recordable, validate_fields
from balcli.errors import UsageError
from balcli.timeparse import parse_when, to_ms
from balcli.views import SNAPSHOT, SNAPSHOT_MAX_LIMIT, SNAPSHOT_MIN_LIMIT

HELP = f"""Binance daily account snapshots: one row per day and asset (or futures position).

Snapshots are taken at the end of each UTC day; today's balance is never in one. Days come oldest first.

WHEN is an ISO date or datetime (UTC unless an offset is given) or an age such as 7d or 36h; a date alone is
the start of that day for --start and its last millisecond for --end. The window must be shorter than 30 days
and --start at most 30 days ago (--start 30d is the earliest). Without --start/--end Binance returns its last
7 days. Binance returns at most --limit snapshots (its default 7), so when a window of more than 7 days is
given without --limit, balcli sends --limit = the number of days in the window (at most 30): every day of the
window is returned.

Rows: spot: {SNAPSHOT['spot'].describe()}.
margin: {SNAPSHOT['margin'].describe()}.
futures: {SNAPSHOT['futures'].describe()}.
futures --positions: {SNAPSHOT['positions'].describe()}.

Each call weighs 2400 of Binance's 12,000 per minute per IP: balcli waits for the next minute rather than be
refused, and an IP ban (HTTP 418) exits 5 saying until when.

Examples:

\b
  balcli snapshot --type margin --start 14d
  balcli snapshot --start 20d --end 10d --json | jq -r '.[] | select(.asset=="BTC") | "\\(.date) \\(.free)"'
  5 0 * * * balcli snapshot --start 1d -o csv >> /var/lib/balcli/snapshots.csv || mail -s 'balcli failed' ops
"""


class SnapshotType(str, enum.Enum):
    spot = "spot"
    margin = "margin"
    futures = "futures"


def _type(params: dict) -> str:
    """The --type given so far on a command line being completed (a SnapshotType or its text), else spot."""
    given = params.get("type_") or params.get("type")
    return str(getattr(given, "value", given) or "spot").lower()


def register(app: typer.Typer) -> None:
    app.command(help=HELP, short_help="Binance: daily account snapshots (spot, margin, futures).")(snapshot)
    field_views("snapshot", lambda params: SNAPSHOT["positions" if params.get("positions") else
                                                    _type(params)])


@recordable
@common_options
def snapshot(
    ctx: typer.Context,
    type_: Annotated[SnapshotType | None, typer.Option(
        "--type", case_sensitive=False, show_default=False,
        help="Account type [default: spot; futures with --positions].")] = None,
    start: Annotated[str | None, typer.Option(
        "--start", metavar="WHEN", help="Window start: ISO date/datetime or age (e.g. 2025-01-31, 14d).")] = None,
    end: Annotated[str | None, typer.Option(
        "--end", metavar="WHEN", help="Window end (inclusive; a date alone means its last millisecond).")] = None,
    limit: Annotated[int | None, typer.Option(
        "--limit", min=SNAPSHOT_MIN_LIMIT, max=SNAPSHOT_MAX_LIMIT, metavar="7..30", show_default=False,
        help="Most snapshots to return [default: Binance's 7, or the window's days when --start is given].")] = None,
    positions: Annotated[bool, typer.Option(
        "--positions", help="Futures positions instead of assets (implies --type futures).")] = False,
    *, common: CommonOptions,
) -> None:
    if positions and type_ not in (None, SnapshotType.futures):
        raise UsageError(f"--positions lists futures positions; it cannot be combined with --type {type_.value}",
                         "drop --type, or give --type futures")
    kind = (type_ or (SnapshotType.futures if positions else SnapshotType.spot)).value
    view = SNAPSHOT["positions" if positions else kind]
    validate_fields(common, view)
    from balcli.sources import binance

    now = datetime.now(timezone.utc)
    start_at = parse_when(start, option="--start", end=False, now=now) if start is not None else None
    end_at = parse_when(end, option="--end", end=True, now=now) if end is not None else None
    binance.check_window(start_at, end_at, now)
    window, chosen = binance.window_params(start_at, end_at, limit, to_ms(now))

    run = Run.start(ctx, common, "binance")
    link = run.link()
    if limit is not None and limit > binance.DEFAULT_LIMIT and start_at is None:
        run.client.warn(f"--limit {limit} without --start: Binance's default window is its last 7 days, so it may "
                        f"return 7 snapshots only; give --start {limit}d to get {limit} days")
    if chosen is not None and run.globals.verbose:
        run.client.log(f"sending limit={chosen}: the window holds {chosen} daily snapshots")
    api = binance.connect(link)

    def pages():
        vos = binance.account_snapshot(run.client, api, kind, window=window,
                                       rate_limit=link.rate_limit(binance.RATE_LIMIT))
        yield from binance.snapshot_rows(vos, kind, positions)

    run.render(pages(), view)
