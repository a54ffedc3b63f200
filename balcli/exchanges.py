"""What an exchange is, in one place: the registry every generic part of balcli iterates over.

Config validation (``config``), credential fields and env variables (``credentials``), ``auth``, command
registration (``app``), redaction, ``sandbox serve``'s instructions, completions, ``doctor`` and the test
fixtures read these descriptors; nothing outside this file, an exchange's source module(s), its command
module(s) and its sandbox module names an exchange. Plain data, cheap to import: the code an entry points at
(its ``Api`` classes, its ``probe``, its commands and sandbox modules) is named by dotted path and imported only
when used (``load``).

Adding a source: ``docs/adding-a-source.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from balcli.options import RATE_LIMIT, RECV_WINDOW, TIMEZONE, Option, base_url

SECRET_FIELDS = frozenset({"api_secret", "client_secret", "token"})
# What each credential field is called in prompts and messages.
FIELD_LABELS = MappingProxyType({"api_key": "API key", "api_secret": "API secret", "client_id": "client id",
                                 "client_secret": "client secret", "token": "bearer token"})


class Contribution(NamedTuple):
    """What one source command adds to ``balcli summary`` (and so to ``balcli check``)."""

    rows: str  # "module:function": ``summary_rows(link, scopes, *, warn, on_page)`` -> pages of summary rows
    holder: str  # whose money: "own" (the house's) or "customers" (held for customers; never added to own)
    scopes: tuple[str, ...]  # every scope it can report (a check rule's selector names one)
    unit: str = "rows"  # what its status line counts: "300 customers in 6 pages"


class Exchange(NamedTuple):  # not a dataclass: 10x cheaper to define at start-up
    name: str  # the credentials name: `balcli auth set NAME`, config section, BALCLI_<NAME>_* variables
    label: str  # for people: "Zoomex"
    keys: tuple[Option, ...]  # the config keys of its profile section, with type, range and default
    env_keys: tuple[str, ...]  # keys also read from BALCLI_<NAME>_<KEY>
    field_sets: tuple[tuple[str, ...], ...]  # accepted credential field sets, in prompt order
    rate_limits: Mapping[str, float]  # documented limits, requests per second, per endpoint family
    commands: tuple[str, ...]  # the source commands that read it
    apis: tuple[str, ...]  # "module:Class" of its Api classes (signing + envelope)
    probe: str  # "module:function": one cheap signed call (auth status --check, doctor)
    sandbox: tuple[str, ...]  # its sandbox modules (balcli.sandbox.*)
    docs: str  # the wire notes in this repository
    server_time: str | None = None  # "module:function" reading the server clock, if the API has one
    testnet: bool = False  # whether ``testnet_base_url`` is a key
    summary: Mapping[str, Contribution] = MappingProxyType({})  # source command -> its part of the summary

    def key(self, name: str) -> Option:
        for option in self.keys:
            if option.name == name:
                return option
        raise KeyError(name)

    @property
    def default_base_url(self) -> str:
        return str(self.key("base_url").default)

    def env_var(self, key_or_field: str) -> str:
        return f"BALCLI_{self.name.upper()}_{key_or_field.upper()}"

    @property
    def fields(self) -> tuple[str, ...]:
        """Every credential field it may have, in prompt order."""
        return tuple(dict.fromkeys(f for fields in self.field_sets for f in fields))

    def env_vars(self) -> dict[str, str]:
        """field -> environment variable (``BALCLI_ZOOMEX_API_KEY``)."""
        return {f: self.env_var(f) for f in self.fields}


def load(ref: str) -> Any:
    """The object a ``"module:name"`` reference points at, imported now."""
    import importlib

    module, _, name = ref.partition(":")
    obj = importlib.import_module(module)
    return getattr(obj, name) if name else obj


_API_KEY = (("api_key", "api_secret"),)

EXCHANGES: Mapping[str, Exchange] = MappingProxyType({e.name: e for e in (
    Exchange(
        name="zoomex", label="Zoomex",
        keys=(base_url("https://openapi.zoomex.com"), base_url("https://openapi-testnet.zoomex.com",
                                                               "testnet_base_url"), RECV_WINDOW, RATE_LIMIT),
        env_keys=("base_url",), field_sets=_API_KEY,
        rate_limits=MappingProxyType({"broker": 5.0}),
        commands=("broker",), apis=("balcli.sources.zoomex:ZoomexApi",), probe="balcli.sources.zoomex:probe",
        sandbox=("balcli.sandbox.zoomex",), docs="docs/apis/zoomex.md",
        server_time="balcli.sources.zoomex:server_time", testnet=True,
        summary=MappingProxyType({"broker": Contribution(
            "balcli.sources.zoomex:summary_rows", "customers", ("broker",), "customers")})),
    Exchange(
        name="coinw", label="CoinW",
        keys=(base_url("https://api.coinw.com"), TIMEZONE, RATE_LIMIT),
        env_keys=("base_url", "timezone"), field_sets=_API_KEY,
        rate_limits=MappingProxyType({"spot": 3.0, "spot_complete": 2.5, "affiliate": 5.0}),
        commands=("spot", "invitees"),
        apis=("balcli.sources.coinw_spot:CoinwSpotApi", "balcli.sources.coinw_affiliate:CoinwAffiliateApi"),
        probe="balcli.sources.coinw_spot:probe",
        sandbox=("balcli.sandbox.coinw_spot", "balcli.sandbox.coinw_affiliate"),
        docs="docs/apis/coinw-spot.md", server_time="balcli.sources.coinw_affiliate:server_time",
        summary=MappingProxyType({
            "spot": Contribution("balcli.sources.coinw_spot:summary_rows", "own", ("spot",), "coins"),
            "invitees": Contribution("balcli.sources.coinw_affiliate:summary_rows", "customers", ("invitees",),
                                     "invitees")})),
    Exchange(
        name="binance", label="Binance",
        keys=(base_url("https://api.binance.com"), RECV_WINDOW, RATE_LIMIT),
        env_keys=("base_url",), field_sets=_API_KEY,
        # 5 snapshot calls a minute: weight 2400 each of the 12,000 an IP may spend per minute
        rate_limits=MappingProxyType({"snapshot": 12000 / 2400 / 60}),
        commands=("snapshot",), apis=("balcli.sources.binance:BinanceApi",), probe="balcli.sources.binance:probe",
        sandbox=("balcli.sandbox.binance",), docs="docs/apis/binance.md",
        server_time="balcli.sources.binance:server_time",
        summary=MappingProxyType({"snapshot": Contribution(
            "balcli.sources.binance:summary_rows", "own", ("snapshot.spot", "snapshot.margin", "snapshot.futures"),
            "snapshots")})),
    Exchange(
        name="cryptofuse", label="Cryptofuse",
        keys=(base_url("https://api.cryptofuse.io"), RATE_LIMIT),
        env_keys=("base_url",), field_sets=(("client_id", "client_secret"), ("token",)),
        rate_limits=MappingProxyType({"api": 100 / 60}),
        commands=("oauth",),
        apis=("balcli.sources.cryptofuse:CryptofuseApi", "balcli.sources.cryptofuse:TokenEndpoint"),
        probe="balcli.sources.cryptofuse:probe", sandbox=("balcli.sandbox.cryptofuse",),
        docs="docs/apis/cryptofuse.md",
        summary=MappingProxyType({"oauth": Contribution(
            "balcli.sources.cryptofuse:summary_rows", "own", ("oauth.account", "oauth.sub_accounts"),
            "balances")})),
)})

NAMES: tuple[str, ...] = tuple(EXCHANGES)


def get(name: str) -> Exchange:
    return EXCHANGES[name]


def by_command(command: str) -> Exchange:
    """The exchange a source command reads (``broker`` -> zoomex)."""
    for exchange in EXCHANGES.values():
        if command in exchange.commands:
            return exchange
    raise KeyError(command)


# The source commands, in the order --help and `summary` list them.
SOURCE_COMMANDS: tuple[str, ...] = tuple(c for e in EXCHANGES.values() for c in e.commands)


def summary_sources() -> dict[str, tuple[Exchange, Contribution]]:
    """Source command -> (its exchange, what it adds to ``balcli summary``), in ``SOURCE_COMMANDS`` order."""
    found = {c: (e, part) for e in EXCHANGES.values() for c, part in e.summary.items()}
    return {c: found[c] for c in SOURCE_COMMANDS if c in found}
