"""The row views of every source command (README "Commands"), and the few API bounds their options declare.

Kept apart from ``balcli.sources`` so that building the command line (``--help``, TAB completion, usage errors)
imports none of the transport: the command modules read their views and option bounds here and import their
source module (http, signing, pagination) only inside the command function.
"""

from __future__ import annotations

from balcli.schema import Field, View

# Option bounds the command line declares (the sources use the same names).
SNAPSHOT_DEFAULT_LIMIT, SNAPSHOT_MIN_LIMIT, SNAPSHOT_MAX_LIMIT = 7, 7, 30  # Binance accountSnapshot ``limit``
OAUTH_DEFAULT_PAGE_SIZE = 100  # Cryptofuse history ``limit``
BROKER_MAX_PAGE_SIZE = 50  # Zoomex asset-balance ``limit``
INVITEES_MAX_PAGE_SIZE = 100  # CoinW affiliate ``pageSize``: the parameter table's maximum

# -- broker (Zoomex) ---------------------------------------------------------------------------------------

BROKER = View("broker", (
    Field("user_id", help="customer UID (string)"),
    Field("coin"),
    Field("total_balance", "amount", "total in that coin, exactly as Zoomex sent it"),
), sum_fields=("total_balance",), unit_field="coin")

BROKER_TOTAL = View("broker --total", (
    Field("coin"),
    Field("users", "int", "customers with a row for that coin"),
    Field("total_balance", "amount", "exact sum over those customers"),
))

# -- spot (CoinW) ------------------------------------------------------------------------------------------

# No sum_fields: a total across different coins means nothing.
SPOT = View("spot", (
    Field("coin", help="coin code as CoinW sends it"),
    Field("balance", "amount", "available balance (excludes amounts in open orders), exactly as sent"),
))

SPOT_COMPLETE = View("spot --complete", (
    Field("coin", help="coin code as CoinW sends it"),
    Field("available", "amount", "available balance, exactly as sent"),
    Field("on_orders", "amount", "amount frozen in open orders, exactly as sent"),
    Field("total", "amount", "available + on_orders, exact"),
))

# -- snapshot (Binance) ------------------------------------------------------------------------------------

_DAY = (Field("date", help="UTC day of the snapshot (YYYY-MM-DD)"),
        Field("update_time", "time", "when Binance took it (ISO 8601 UTC, end of the day)"))

SNAPSHOT: dict[str, View] = {
    "spot": View("snapshot spot", _DAY + (
        Field("asset"), Field("free", "amount"), Field("locked", "amount"),
        Field("total_asset_of_btc", "amount", "the whole account's value in BTC that day"),
    ), empty_note="no snapshots in the window"),
    "margin": View("snapshot margin", _DAY + (
        Field("asset"), Field("free", "amount"), Field("locked", "amount"), Field("borrowed", "amount"),
        Field("interest", "amount"), Field("net_asset", "amount"),
        Field("margin_level", "amount", "the account's margin level that day"),
        Field("total_net_asset_of_btc", "amount", "the account's net value in BTC that day"),
    ), empty_note="no snapshots in the window"),
    "futures": View("snapshot futures", _DAY + (
        Field("asset"), Field("wallet_balance", "amount"),
        Field("margin_balance", "amount", "not real-time (Binance: can be ignored)"),
    ), empty_note="no snapshots in the window"),
    "positions": View("snapshot futures --positions", _DAY + (
        Field("symbol"), Field("position_amt", "amount"), Field("entry_price", "amount"),
        Field("mark_price", "amount"),
        Field("unrealized_profit", "amount", "the value at the time the position was opened (Binance)"),
    ), empty_note="no positions in the window"),
}

# -- invitees (CoinW affiliate) ----------------------------------------------------------------------------

INVITEES = View("invitees", (
    Field("uid", "int", "invitee UID"),
    Field("total_deposit", "amount", "deposits in the window (all time without one), in the quote asset"),
    Field("total_withdrawal", "amount", "withdrawals in the window (all time without one)"),
    Field("current_balance", "amount", "latest balance (not affected by the window)"),
    Field("update_time", "time", "last balance update, ISO 8601 UTC"),
    Field("first_deposit_amount", "amount", "first deposit"),
    Field("first_deposit_time", "time", "first deposit, ISO 8601 UTC"),
), sum_fields=("total_deposit", "total_withdrawal", "current_balance"), unit_field=None,
    empty_note="no invitees")

# -- oauth (Cryptofuse) ------------------------------------------------------------------------------------

OAUTH_BALANCES = View("oauth balances", (
    Field("scope", help="'account' (the main account) or 'sub_accounts' (all sub-accounts together)"),
    Field("currency", help="with its network, e.g. USDTERC20"),
    Field("balance", "amount", "exactly as Cryptofuse sent it"),
), sum_fields=("balance",), unit_field="currency")

OAUTH_HISTORY = View("oauth history", (
    Field("timestamp", "time", "ISO 8601 UTC"),
    Field("currency"),
    Field("type", help="e.g. deposit, withdrawal"),
    Field("amount", "amount"),
    Field("balance_after", "amount"),
), empty_note="no balance history")

# -- summary and check (across sources) --------------------------------------------------------------------

SUMMARY = View("summary", (
    Field("source", help="the source command (broker, spot, invitees, snapshot, oauth)"),
    Field("scope", help="broker, spot, invitees, snapshot.<type>, oauth.account or oauth.sub_accounts"),
    Field("holder", help="own (the house's money) or customers (held for customers)"),
    Field("coin"),
    Field("amount", "amount", "exact sum of the source's rows"),
    Field("count", "int", "how many source rows were summed"),
    Field("as_of", "time", "when the figure was valid (a snapshot's time, else when the answer arrived)"),
), empty_note="no balances from any source")

SUMMARY_BY_COIN = View("summary --by coin", (
    Field("holder", help="own or customers: money held for customers is never added to the house's own"),
    Field("coin"),
    Field("amount", "amount", "exact sum over the sources"),
    Field("sources", help="the sources summed, e.g. broker+invitees"),
), empty_note="no balances from any source")

CHECK = View("check", (
    Field("name", help="the rule's name (config checks) or its text (command line)"),
    Field("rule"),
    Field("value", "amount", "the figure the rule compared, exact (a coin with no row is 0)"),
    Field("status", help="ok, breach or unknown (its source failed)"),
    Field("detail"),
), empty_note="no rules")
