"""``balcli sandbox serve``: the embedded fake exchange, standalone, for trying balcli without credentials."""

from typing import Annotated

import typer

from balcli.commands.common import finite
from balcli.errors import ConfigError

HELP = """Run the sandbox exchange standalone on 127.0.0.1 (all five APIs on one port).

It prints the base URL, the environment exports (demo credentials) and a config snippet to point balcli
at it, then serves until Ctrl-C. The data is deterministic for a given --seed.

Examples:

\b
  balcli sandbox serve --port 8765
  balcli sandbox serve --latency-ms 200 --error-rate 0.05   # try retries and timeouts
  balcli sandbox serve --epoch 1    # "the next day": some balances moved, customers joined and left

--epoch N moves the demo data to day N deterministically (broker: every 10th customer gains 10*N in their first
coin, N in 50 leave, 2N join; spot USDT +12.5*N; invitees and oauth balances move too), so that
`balcli broker --record` on day 0 and day 1 gives `balcli diff broker` something to show.
"""


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="The embedded sandbox exchange.", no_args_is_help=True)
    group.command("serve", help=HELP, short_help="Run the sandbox exchange standalone.")(serve)
    app.add_typer(group, name="sandbox")


def serve(
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port (0: a free one).")] = 0,
    customers: Annotated[int, typer.Option("--customers", min=0, max=1_000_000,
                                           help="Broker customers in the demo data.")] = 300,
    invitees: Annotated[int, typer.Option("--invitees", min=0, max=1_000_000,
                                          help="Affiliate invitees in the demo data.")] = 250,
    history: Annotated[int, typer.Option("--history", min=0, max=1_000_000,
                                         help="Cryptofuse balance-history entries.")] = 230,
    latency_ms: Annotated[float, typer.Option("--latency-ms", min=0, max=60_000, callback=finite,
                                              help="Delay added to every answer.")] = 0,
    error_rate: Annotated[float, typer.Option("--error-rate", min=0.0, max=1.0, callback=finite,
                                              help="Fraction of requests answered with HTTP 500.")] = 0.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the demo data.")] = 7,
    rate_limits: Annotated[bool, typer.Option("--rate-limits/--no-rate-limits",
                                              help="Enforce each API's documented rate limits.")] = True,
    epoch: Annotated[int, typer.Option("--epoch", min=0, max=100_000, envvar="BALCLI_SANDBOX_EPOCH", metavar="N",
                                       help="Move the demo data to day N (some balances change, a few customers "
                                            "join or leave) [env: BALCLI_SANDBOX_EPOCH].")] = 0,
) -> None:
    from balcli.sandbox import serve as serve_sandbox

    try:
        serve_sandbox(port=port, customers=customers, invitees=invitees, history=history, latency_ms=latency_ms,
                      error_rate=error_rate, seed=seed, rate_limits=rate_limits, epoch=epoch)
    except OSError as exc:
        raise ConfigError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}",
                          "pick another --port, or --port 0 for a free one") from None
