"""``python -m balcli.sandbox``: run the sandbox exchange standalone."""

from __future__ import annotations

import argparse
import sys

from .standalone import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m balcli.sandbox",
                                     description="Run balcli's fake exchange (all five APIs) on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    parser.add_argument("--customers", type=int, default=300, help="broker customers (default 300)")
    parser.add_argument("--invitees", type=int, default=250, help="affiliate invitees (default 250)")
    parser.add_argument("--history", type=int, default=230, help="Cryptofuse history entries (default 230)")
    parser.add_argument("--latency-ms", type=float, default=0, help="delay added to every answer")
    parser.add_argument("--error-rate", type=float, default=0.0, help="fraction of requests answered with 500")
    parser.add_argument("--seed", type=int, default=7, help="seed of the demo data (default 7)")
    parser.add_argument("--no-rate-limits", action="store_true", help="do not enforce the APIs' rate limits")
    parser.add_argument("--epoch", type=int, default=0, help="move the demo data to day N (default 0)")
    args = parser.parse_args(argv)
    if not 0.0 <= args.error_rate <= 1.0:
        parser.error("--error-rate must be between 0 and 1")
    if args.epoch < 0:
        parser.error("--epoch must be 0 or more")
    try:
        serve(port=args.port, customers=args.customers, invitees=args.invitees, history=args.history,
              latency_ms=args.latency_ms, error_rate=args.error_rate, seed=args.seed,
              rate_limits=not args.no_rate_limits, epoch=args.epoch, out=sys.stdout)
    except OSError as exc:
        print(f"python -m balcli.sandbox: error: cannot listen on port {args.port}: {exc.strerror}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
