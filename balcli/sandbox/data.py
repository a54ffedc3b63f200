"""Deterministic demo data for the sandbox, from a seed and a few size knobs.

Everything is generated lazily on first use (``functools.cached_property``), each part from its own
``random.Random`` stream, so asking for one part never changes another, and 100,000 broker customers take about
a second. Amounts are strings built from integers and ``Decimal``; no float ever touches an amount.

``DemoData`` attributes (what ``Sandbox.data`` exposes; tests compute expected output from them):

``broker``: ``list[tuple[str, list[tuple[str, str]]]]``
    ``(user_id, [(coin, total_balance), ...])`` sorted ascending by user id (all ids have the same number of
    digits, so string order = numeric order). Includes zero balances (``"0"``, ``"0.00000000"``), dust
    (``"0.000000000000000001"``), a huge balance (``"98765432109876543210.123456789"``), trailing zeros
    (``"1000.2500"``) and customers whose coins list is empty. The first customer is ``101479471`` (the
    documentation's example) with ``USDT 1000.25``.
``spot``: ``dict[str, str]``
    coin -> available balance (``returnBalances``), zeros included.
``spot_complete``: ``dict[str, dict[str, str]]``
    coin -> ``{"available": ..., "onOrders": ...}`` (``returnCompleteBalances``); ``available`` equals ``spot``.
``invitees``: ``list[Invitee]`` sorted by ``uid`` (int). The first is ``12345678`` (the documentation's example).
    ``invitee_row(inv, quote, start_ms, end_ms)`` gives the exact wire row for a window.
``oauth_account``, ``oauth_sub_accounts``: ``dict[str, str]``; ``oauth_statistics``: ``dict[str, int]``.
``history``: ``list[dict]`` Cryptofuse balance history, newest first (wire dicts).
``snapshot(kind, day)``: the Binance snapshotVo of ``kind`` (``"spot"|"margin"|"futures"``) for UTC day number
    ``day`` (days since 1970-01-01); ``snapshot_vos(kind, now_ms)`` lists the 30 days available at server time
    ``now_ms`` (yesterday and the 29 days before it), oldest first.
``prepare()``: generate every lazy part at once (benchmarks call it before timing).
``anchor_ms``: start of the UTC day (on the sandbox clock) when the data was made; invitee events and balance
    history lie in the year before it.
``epoch``: the "day" the data has moved on to (``Sandbox(epoch=N)``, ``sandbox serve --epoch N``, env
    ``BALCLI_SANDBOX_EPOCH``), so that ``--record`` and ``diff`` have something to show. Epoch 0 is the data above;
    epoch N changes it by known amounts (``EPOCH_RULES``), always from epoch 0 (not step by step):

    - broker: the customer at index i (epoch-0 order) with ``i % 10 == 7`` and at least one coin gains
      ``10 * N`` in their first coin; the first N customers with ``i % 50 == 13`` (index 13, 63, ...) have left;
      ``2 * N`` customers have joined after the last one (uid ``last + 1000 * k``, ``USDT`` ``100*k + ".00"``,
      k = 1..2N);
    - spot: USDT available + ``12.5 * N``;
    - invitees: index ``i % 25 == 11`` gains ``5 * N`` in every quote's balance; the first N with ``i % 60 == 29``
      (index 29, 89, ...) have left; ``N`` have joined (uid ``last + 777 * k``, balance ``50 * k`` USDT, no
      deposits);
    - oauth: the account's USDTERC20 + ``100 * N``, the sub-accounts' ETH + ``0.5 * N``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Context, Decimal
from functools import cached_property
from typing import Any

DAY_MS = 86_400_000
CST = timezone(timedelta(hours=8))  # CoinW's zone for `yyyy-MM-dd HH:mm:ss` strings

BROKER_COINS = ("USDT", "BTC", "ETH", "USDC", "XRP", "SOL", "DOGE", "TRX", "ZMX")
DUST = "0.000000000000000001"
HUGE = "98765432109876543210.123456789"
TRAILING = "1000.2500"

_Q8 = Decimal("0.00000001")
_Q6 = Decimal("0.000001")
_WIDE = Context(prec=200)  # sums of the epoch moves stay exact whatever the amount's length

# The epoch moves (see the module docstring): tests compute expected diffs from these.
EPOCH_RULES: dict[str, Any] = {  # each rule is a Decimal, a count, or (every, at)
    "broker_gain": Decimal(10), "broker_gain_every": (10, 7), "broker_leave_every": (50, 13), "broker_joiners": 2,
    "spot_usdt_gain": Decimal("12.5"),
    "invitee_gain": Decimal(5), "invitee_gain_every": (25, 11), "invitee_leave_every": (60, 29),
    "oauth_account_usdt_gain": Decimal(100), "oauth_sub_eth_gain": Decimal("0.5"),
}


def _plus(amount: str, delta: Decimal) -> str:
    return format(_WIDE.add(Decimal(amount), delta), "f")


def _dec(rng: random.Random, max_units: int, places: int) -> Decimal:
    """A random non-negative Decimal below max_units with `places` decimals."""
    return Decimal(rng.randrange(0, max_units * 10**places)).scaleb(-places)


def _f(amount: Decimal) -> str:
    return format(amount, "f")


def coinw_time(ms: int) -> str:
    """`yyyy-MM-dd HH:mm:ss` in UTC+08:00."""
    return datetime.fromtimestamp(ms / 1000, CST).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class Invitee:
    """One direct invitee. ``events[quote]``: ``[(time_ms, "deposit"|"withdrawal", Decimal)]`` oldest first."""

    uid: int
    events: dict[str, list[tuple[int, str, Decimal]]] = field(default_factory=dict)
    balance: dict[str, str] = field(default_factory=dict)
    update_ms: dict[str, int | None] = field(default_factory=dict)
    empty_style: Any = None  # None or "" : how a field without a value is sent


class DemoData:
    def __init__(self, seed: int = 7, customers: int = 300, invitees: int = 250, history: int = 230,
                 anchor_ms: int = 0, epoch: int = 0) -> None:
        if epoch < 0:
            raise ValueError("epoch must be 0 or more")
        self.seed = seed
        self.epoch = epoch
        self.customers = customers
        self.invitee_count = invitees
        self.history_count = history
        self.anchor_ms = anchor_ms - anchor_ms % DAY_MS

    def prepare(self) -> DemoData:
        """Generate every lazy part now (benchmarks call this so the first timed request does not pay for it)."""
        for name in ("broker", "broker_index", "spot_complete", "invitees", "invitee_index", "oauth_sub_accounts"):
            getattr(self, name)
        _ = self.history
        return self

    def _rng(self, part: str) -> random.Random:
        return random.Random(f"{self.seed}:{part}")

    # ---------------------------------------------------------------- Zoomex broker
    @cached_property
    def broker(self) -> list[tuple[str, list[tuple[str, str]]]]:
        base = self._broker_base
        n = self.epoch
        if not n:
            return base
        every, at = EPOCH_RULES["broker_gain_every"]
        leave_every, leave_at = EPOCH_RULES["broker_leave_every"]
        gain = EPOCH_RULES["broker_gain"] * n
        out = []
        for i, (uid, coins) in enumerate(base):
            if i % leave_every == leave_at and i // leave_every < n:
                continue
            if i % every == at and coins:
                coins = [(coins[0][0], _plus(coins[0][1], gain)), *coins[1:]]
            out.append((uid, coins))
        last = int(base[-1][0]) if base else 101479471
        joiners = EPOCH_RULES["broker_joiners"] * n
        out += [(str(last + 1000 * k), [("USDT", f"{100 * k}.00")]) for k in range(1, joiners + 1)]
        return out

    @cached_property
    def _broker_base(self) -> list[tuple[str, list[tuple[str, str]]]]:
        rng = self._rng("broker")
        rnd, randint, randrange = rng.random, rng.randint, rng.randrange
        coins_all = BROKER_COINS
        fixed: list[list[tuple[str, str]]] = [
            [("USDT", "1000.25")],
            [("BTC", DUST), ("USDT", "0")],
            [("USDT", HUGE), ("ETH", "12.5")],
            [("USDT", TRAILING), ("BTC", "0.00000000")],
            [],
        ]
        out: list[tuple[str, list[tuple[str, str]]]] = []
        uid = 101479471
        for i in range(self.customers):
            if i:
                uid += randint(1, 999)
            if i < len(fixed):
                out.append((str(uid), fixed[i]))
                continue
            r = rnd()
            if r < 0.06:
                out.append((str(uid), []))
                continue
            n = 1 if r < 0.5 else randint(2, 5)
            start = randrange(len(coins_all))
            coins = []
            for j in range(n):
                coin = coins_all[(start + j * 2) % len(coins_all)]
                s = rnd()
                if s < 0.08:
                    amount = "0"
                elif s < 0.11:
                    amount = DUST
                elif s < 0.12:
                    amount = HUGE
                elif s < 0.2:
                    amount = f"{randint(0, 99999)}.{randint(0, 99):02d}00"
                else:
                    amount = f"{randint(0, 10 ** randint(1, 7))}.{randrange(10**8):08d}"
                coins.append((coin, amount))
            out.append((str(uid), coins))
        return out

    @cached_property
    def broker_index(self) -> dict[str, int]:
        return {uid: i for i, (uid, _) in enumerate(self.broker)}

    # ---------------------------------------------------------------- CoinW spot
    @cached_property
    def spot_complete(self) -> dict[str, dict[str, str]]:
        rng = self._rng("spot")
        out = {
            "BTC": {"available": "0.0012", "onOrders": "0.0003"},
            "CWT": {"available": "400.000", "onOrders": "0"},
            "SAND": {"available": "108.467", "onOrders": "12.5"},
            "ETH": {"available": "0.0330", "onOrders": "0"},
            "USDT": {"available": "257.518301140000000", "onOrders": "1000.25"},
            "DOGE": {"available": "0", "onOrders": "0"},
            "XRP": {"available": "0.00000000", "onOrders": "15.00000000"},
            "DUST": {"available": DUST, "onOrders": "0"},
        }
        for coin in ("TRX", "LTC", "ADA", "DOT"):
            out[coin] = {"available": f"{rng.randint(0, 5000)}.{rng.randrange(10**6):06d}",
                         "onOrders": rng.choice(["0", f"{rng.randint(0, 50)}.{rng.randrange(100):02d}"])}
        if self.epoch:
            usdt = out["USDT"]
            usdt["available"] = _plus(usdt["available"], EPOCH_RULES["spot_usdt_gain"] * self.epoch)
        return dict(sorted(out.items()))

    @cached_property
    def spot(self) -> dict[str, str]:
        return {coin: v["available"] for coin, v in self.spot_complete.items()}

    # ---------------------------------------------------------------- Binance snapshots
    def snapshot(self, kind: str, day: int) -> dict[str, Any]:
        rng = self._rng(f"snapshot:{kind}:{day}")
        update = day * DAY_MS + DAY_MS - 1000  # 23:59:59.000 UTC
        btc_price = {"BTC": Decimal(1), "USDT": Decimal("0.00002500"), "ETH": Decimal("0.05200000"),
                     "BNB": Decimal("0.00700000"), "XRP": Decimal("0.00001200")}
        if kind == "spot":
            balances, total = [], Decimal(0)
            for asset in ("BTC", "USDT", "ETH", "BNB", "XRP"):
                free = Decimal(0) if asset == "XRP" else _dec(rng, 10 if asset != "USDT" else 50000, 8)
                locked = _dec(rng, 2, 8) if rng.random() < 0.3 else Decimal("0.00000000")
                total += (free + locked) * btc_price[asset]
                balances.append({"asset": asset, "free": _f(free), "locked": _f(locked)})
            data: dict[str, Any] = {"balances": balances, "totalAssetOfBtc": _f(total.quantize(_Q8))}
        elif kind == "margin":
            assets, tot_asset, tot_liab = [], Decimal(0), Decimal(0)
            for asset in ("BTC", "USDT", "ETH"):
                free, locked = _dec(rng, 5 if asset != "USDT" else 20000, 8), Decimal("0.00000000")
                borrowed = (_dec(rng, 1 if asset != "USDT" else 2000, 8) if rng.random() < 0.5
                            else Decimal(0).quantize(_Q8))
                interest = (borrowed * Decimal("0.0002")).quantize(_Q8)
                net = free + locked - borrowed - interest
                tot_asset += (free + locked) * btc_price[asset]
                tot_liab += (borrowed + interest) * btc_price[asset]
                assets.append({"asset": asset, "borrowed": _f(borrowed), "free": _f(free), "interest": _f(interest),
                               "locked": _f(locked), "netAsset": _f(net)})
            level = (tot_asset / tot_liab).quantize(_Q8) if tot_liab else Decimal("999.00000000")
            data = {"marginLevel": _f(level), "totalAssetOfBtc": _f(tot_asset.quantize(_Q8)),
                    "totalLiabilityOfBtc": _f(tot_liab.quantize(_Q8)),
                    "totalNetAssetOfBtc": _f((tot_asset - tot_liab).quantize(_Q8)), "userAssets": assets}
        elif kind == "futures":
            assets = []
            for asset in ("USDT", "BUSD", "BNB"):
                wallet = _dec(rng, 5000 if asset != "BNB" else 3, 8)
                margin = wallet + _dec(rng, 10, 8) - Decimal(5)
                assets.append({"asset": asset, "marginBalance": _f(margin), "walletBalance": _f(wallet)})
            positions = []
            for symbol, base in (("BTCUSDT", 40000), ("ETHUSDT", 2100), ("XRPUSDT", 1)):
                if rng.random() < 0.25:
                    continue
                entry = Decimal(base) + _dec(rng, max(base // 10, 1), 8)
                mark = entry + _dec(rng, max(base // 20, 1), 8) - Decimal(max(base // 40, 1))
                amt = _dec(rng, 3, 8) - Decimal("1.5")
                positions.append({"entryPrice": _f(entry), "markPrice": _f(mark), "positionAmt": _f(amt),
                                  "symbol": symbol, "unRealizedProfit": _f(((mark - entry) * amt).quantize(_Q8))})
            data = {"assets": assets, "position": positions}
        else:
            raise ValueError(kind)
        return {"data": data, "type": kind, "updateTime": update}

    def snapshot_vos(self, kind: str, now_ms: int) -> list[dict[str, Any]]:
        today = now_ms // DAY_MS
        return [self.snapshot(kind, day) for day in range(today - 30, today)]

    # ---------------------------------------------------------------- CoinW affiliate
    @cached_property
    def invitees(self) -> list[Invitee]:
        base = self._invitees_base
        n = self.epoch
        if not n:
            return base
        every, at = EPOCH_RULES["invitee_gain_every"]
        leave_every, leave_at = EPOCH_RULES["invitee_leave_every"]
        gain = EPOCH_RULES["invitee_gain"] * n
        out = []
        for i, inv in enumerate(base):
            if i % leave_every == leave_at and i // leave_every < n:
                continue
            if i % every == at:
                inv = Invitee(inv.uid, inv.events, {q: _plus(b, gain) for q, b in inv.balance.items()},
                              inv.update_ms, inv.empty_style)
            out.append(inv)
        last = base[-1].uid if base else 12345678
        for k in range(1, n + 1):
            out.append(Invitee(last + 777 * k, {"usdt": [], "usdc": []},
                               {"usdt": f"{50 * k}.00000000", "usdc": "0.00000000"}, {"usdt": None, "usdc": None}))
        return out

    @cached_property
    def _invitees_base(self) -> list[Invitee]:
        rng = self._rng("invitees")
        out: list[Invitee] = []
        uid = 12345678
        year = 365 * DAY_MS
        for i in range(self.invitee_count):
            if i:
                uid += rng.randint(1, 50000)
            inv = Invitee(uid)
            no_deposits = i > 0 and rng.random() < 0.15
            inv.empty_style = "" if (no_deposits and rng.random() < 0.3) else None
            for quote in ("usdt", "usdc"):
                events: list[tuple[int, str, Decimal]] = []
                if not no_deposits and (quote == "usdt" or rng.random() < 0.3):
                    t = self.anchor_ms - year + rng.randrange(year // 2)
                    held = Decimal(0)
                    for _ in range(rng.randint(1, 8)):
                        if held and rng.random() < 0.35:
                            amount = min(held, _dec(rng, 3000, 2).quantize(_Q8))
                            events.append((t, "withdrawal", amount))
                            held -= amount
                        else:
                            amount = (Decimal(rng.randint(1, 200)) * 50).quantize(_Q8)
                            events.append((t, "deposit", amount))
                            held += amount
                        t += rng.randrange(DAY_MS // 24, 40 * DAY_MS)
                        t = min(t, self.anchor_ms - 1000)
                    t = t - t % 1000
                    events.sort(key=lambda e: e[0])
                    pnl = _dec(rng, 400, 8) - Decimal(200)
                    inv.balance[quote] = _f(max(held + pnl, Decimal(0)).quantize(_Q8))
                    inv.update_ms[quote] = events[-1][0] - events[-1][0] % 1000
                else:
                    inv.balance[quote] = "0.00000000"
                    inv.update_ms[quote] = None
                inv.events[quote] = [(e[0] - e[0] % 1000, e[1], e[2]) for e in events]
            out.append(inv)
        return out

    @cached_property
    def invitee_index(self) -> dict[int, int]:
        return {inv.uid: i for i, inv in enumerate(self.invitees)}

    def invitee_row(self, inv: Invitee, quote: str = "usdt", start_ms: int | None = None,
                    end_ms: int | None = None) -> dict[str, Any]:
        """The wire row of `inv`: deposits/withdrawals summed inside [start_ms, end_ms]; balance ignores the window."""
        events = inv.events[quote]
        deposit = withdrawal = Decimal("0.00000000")
        for t, kind, amount in events:
            if (start_ms is not None and t < start_ms) or (end_ms is not None and t > end_ms):
                continue
            if kind == "deposit":
                deposit += amount
            else:
                withdrawal += amount
        first = next((e for e in events if e[1] == "deposit"), None)
        update = inv.update_ms.get(quote)
        return {
            "uid": inv.uid,
            "totalDeposit": _f(deposit.quantize(_Q8)),
            "totalWithdrawal": _f(withdrawal.quantize(_Q8)),
            "currentBalance": inv.balance[quote],
            "updateTime": coinw_time(update) if update is not None else inv.empty_style,
            "firstDepositAmount": _f(first[2]) if first else inv.empty_style,
            "firstDepositTime": coinw_time(first[0]) if first else inv.empty_style,
        }

    # ---------------------------------------------------------------- Cryptofuse
    @cached_property
    def _oauth(self) -> tuple[dict[str, str], list[dict[str, Any]], dict[str, int]]:
        rng = self._rng("oauth")
        currencies = ("USDTERC20", "USDCERC20", "ETH", "USDTTRC20", "BTC")
        held = {c: Decimal("0.000000") for c in currencies}
        entries: list[dict[str, Any]] = []
        t = self.anchor_ms // 1000 - self.history_count * 3 * 3600 - 1
        deposits = withdrawals = 0
        for _ in range(self.history_count):
            t += rng.randrange(600, 6 * 3600)
            cur = rng.choice(currencies[:4])  # BTC stays at zero
            scale = 5 if cur == "ETH" else 5000
            kind = rng.choices(("deposit", "withdrawal", "fee"), (6, 3, 1))[0]
            amount = _dec(rng, scale, 6)
            if kind != "deposit" and amount > held[cur]:
                kind = "deposit"
            if kind == "deposit":
                held[cur] += amount
                deposits += 1
            else:
                held[cur] -= amount
                withdrawals += kind == "withdrawal"
            entries.append({"timestamp": t, "currency": cur, "type": kind, "amount": _f(amount),
                            "balance_after": _f(held[cur])})
        # The random steps average a little over three hours: shift the series so that it ends before the anchor
        # (history lies in the past, never after "now").
        shift = min(0, self.anchor_ms // 1000 - 1 - (entries[-1]["timestamp"] if entries else 0))
        for entry in entries:
            entry["timestamp"] = datetime.fromtimestamp(entry["timestamp"] + shift, timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%SZ")
        entries.reverse()
        account = {c: _f(v) for c, v in held.items()}
        if self.epoch:
            account["USDTERC20"] = _plus(account["USDTERC20"], EPOCH_RULES["oauth_account_usdt_gain"] * self.epoch)
        return account, entries, {"total_deposits": deposits, "total_withdrawals": withdrawals}

    @property
    def oauth_account(self) -> dict[str, str]:
        return self._oauth[0]

    @cached_property
    def oauth_sub_accounts(self) -> dict[str, str]:
        rng = self._rng("oauth-sub")
        eth = _plus("0.000000", EPOCH_RULES["oauth_sub_eth_gain"] * self.epoch) if self.epoch else "0.000000"
        return {"USDTERC20": _f(_dec(rng, 3000, 6)), "USDCERC20": _f(_dec(rng, 1000, 6)), "ETH": eth}

    @property
    def oauth_statistics(self) -> dict[str, int]:
        return self._oauth[2]

    @property
    def history(self) -> list[dict[str, Any]]:
        return self._oauth[1]
