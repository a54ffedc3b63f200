"""The sandbox as a standalone process that the benchmark can question: ``python benchmarks/sandbox_proc.py
--customers N ...`` prints ``{"base_url": ...}`` once its data is generated and it listens on loopback, then
answers one JSON command per stdin line with one JSON line on stdout:

- ``{"cmd": "set", "latency_ms": 400, "rate_limits": true, "limits": {"cryptofuse": {"count": 5, "window": 1}}}``
  (every key optional; new limits start with fresh limiter state);
- ``{"cmd": "mark"}``: forget the request log; answers the connection count so far;
- ``{"cmd": "log"}``: the requests since the last mark: ``[path, time, status, rate_limited, connection]``;
- ``{"cmd": "quit"}``.

A separate process so that the sandbox's own threads and memory never share an interpreter with what is timed.
"""

from __future__ import annotations

import argparse
import json
import sys

from balcli.sandbox import Sandbox


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--invitees", type=int, default=250)
    parser.add_argument("--history", type=int, default=230)
    parser.add_argument("--no-rate-limits", action="store_true")
    args = parser.parse_args()
    sb = Sandbox(customers=args.customers, invitees=args.invitees, history=args.history,
                 rate_limits=not args.no_rate_limits)
    sb.data.prepare()  # generate everything before the first timed request
    sb.start()
    reply({"base_url": sb.base_url})
    for line in sys.stdin:
        command = json.loads(line)
        cmd = command.pop("cmd")
        if cmd == "quit":
            break
        if cmd == "set":
            if "latency_ms" in command:
                sb.latency_ms = float(command["latency_ms"])
            if "rate_limits" in command:
                sb.rate_limits = bool(command["rate_limits"])
            for name, spec in (command.get("limits") or {}).items():
                sb.limits[name].update(spec)
                sb.state.pop(f"limiter:{name}", None)
            reply({"ok": True})
        elif cmd == "mark":
            sb.clear_log()
            reply({"connections": sb.connections})
        elif cmd == "log":
            reply({"connections": sb.connections,
                   "requests": [[r.path, r.time, r.status, r.rate_limited, r.connection] for r in sb.requests]})
        else:
            reply({"error": f"unknown command {cmd!r}"})
    sb.stop()
    return 0


def reply(obj: object) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
