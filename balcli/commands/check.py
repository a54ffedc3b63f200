"""``balcli check``: rules over the summary's figures; the exit code is the verdict (README "Exit codes")."""

from typing import Annotated, Any

import typer

from balcli.commands.common import CommonOptions, Run, common_options, field_views, validate_fields
from balcli.errors import ExitCode, UsageError
from balcli.exchanges import NAMES
from balcli.views import CHECK

HELP = f"""Thresholds for cron and monitoring: each RULE compares one summary figure with an amount, exactly.

\b
  RULE     := SELECTOR OP AMOUNT      e.g. 'spot:USDT>=500'  'broker:USDT<5000000'
  SELECTOR := SCOPE:COIN | HOLDER:COIN
  OP       := >= | > | <= | < | == | !=

SCOPE is broker, spot, invitees, snapshot.spot, snapshot.margin, snapshot.futures, oauth.account or
oauth.sub_accounts; HOLDER is own or customers (the `summary --by coin` figures: every configured source of
that holder). Rules come from the command line and the profile's `checks:` in the config
([{{name: low-usdt, rule: 'spot:USDT>=500'}}]); only the sources they need are queried. A coin with no row
counts as 0; a rule whose source failed is unknown.

Exit: 0 every rule ok; 8 a rule breached and none unknown; an unknown rule gives its source's exit code (3-7),
so "could not tell" never reads as "fine" or "breached". --nagios prints one monitoring-plugin status line
with perfdata and exits 0 OK, 2 CRITICAL (a breach), 3 UNKNOWN. Only failed sources get a status line on
stderr (all of them with -v).

Rows: {CHECK.describe()}. -o prometheus writes balcli_check_ok{{name,rule}} and the sources' metrics.

Examples:

\b
  balcli check 'spot:USDT>=500' 'own:BTC>=1'
  balcli check --nagios 'customers:USDT<5000000'
  balcli check --json | jq -r '.[] | select(.status != "ok") | "\\(.name): \\(.detail)"'
  0 * * * * out=$(balcli check -o tsv 2>&1); rc=$?; [ $rc -eq 0 ] || echo "$out" | mail -s "balcli check: exit $rc" ops
"""


def register(app: typer.Typer) -> None:
    app.command(help=HELP, short_help="Rules over the summary's figures; the exit code is the verdict.")(check)
    field_views("check", CHECK)


@common_options
def check(
    ctx: typer.Context,
    rules: Annotated[list[str] | None, typer.Argument(
        metavar="[RULE]...", show_default=False, help="e.g. 'spot:USDT>=500' (quote it: > is a shell redirect)."
    )] = None,
    nagios: Annotated[bool, typer.Option(
        "--nagios", help="One monitoring-plugin status line with perfdata; exit 0 OK, 2 CRITICAL, 3 UNKNOWN.")] = False,
    *, common: CommonOptions,
) -> int:
    from balcli.errors import BalcliError

    try:
        run, parsed = _prepare(ctx, rules, common)
        return evaluate(run, parsed, nagios)
    except BalcliError as exc:
        if not nagios:
            raise
        # The monitoring-plugins guidelines: a plugin that cannot run its check (bad arguments, no
        # credentials) says UNKNOWN, never CRITICAL (which exit 2 would read as).
        import sys

        print(f"BALCLI UNKNOWN - {exc}".replace("\n", " "))
        sys.stderr.write(f"balcli: error: {exc}\n" + (f"hint: {exc.hint}\n" if exc.hint else ""))
        return NAGIOS_UNKNOWN


def _prepare(ctx: typer.Context, rules: list[str] | None, common: CommonOptions) -> tuple[Run, list[Any]]:
    """The run and every rule, parsed (exit 2 naming a rule that does not parse), before any request."""
    from balcli import rules as rules_mod
    from balcli.commands.summary import no_base_url
    from balcli.exchanges import summary_sources

    validate_fields(common, CHECK, monitoring=True)
    no_base_url(common)
    scopes = [s for _, part in summary_sources().values() for s in part.scopes]
    given = [rules_mod.parse(text, text.strip(), scopes) for text in rules or []]

    run = Run.start(ctx, common, NAMES[0], monitoring=True)
    parsed = [rules_mod.parse(text, name, scopes) for name, text in run.settings.checks] + given
    if not parsed:
        raise UsageError("no rules to check", "give rules such as 'spot:USDT>=500', or add `checks:` to the "
                         "profile in the config file")
    names = [r.name for r in parsed]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise UsageError(f"rule name given twice: {', '.join(repeated)}", "give each rule once")
    return run, parsed


def evaluate(run: Run, rules: list[Any], nagios: bool) -> int:
    from balcli.commands.summary import StatusLines, gather, last_run_metric, plan_sources, source_metrics

    scope_owner = {s: cmd for cmd, (_, part) in _registry().items() for s in part.scopes}
    snapshot_scopes = tuple(f"snapshot.{t}" for t in run.settings.snapshot_types)
    holders = {r.key for r in rules if r.by_holder}
    wanted: dict[str, set[str]] = {}
    for r in rules:
        if not r.by_holder:
            wanted.setdefault(scope_owner[r.key], set()).add(r.key)
    # Named (exit 3 without credentials): the sources a scope rule needs.
    plan, _ = plan_sources(run, list(wanted), lambda cmd, part: tuple(s for s in part.scopes if s in wanted[cmd]))
    # Every configured source of a holder the rules name (its default scopes: those `summary` reports).
    if holders:
        extra, _ = plan_sources(run, None, lambda cmd, part: (
            () if part.holder not in holders else snapshot_scopes if cmd == "snapshot" else part.scopes))
        for p in extra:
            mine = next((q for q in plan if q.command == p.command), None)
            if mine is None:
                plan.append(p)
            else:
                mine.scopes = tuple(dict.fromkeys((*mine.scopes, *p.scopes)))
        order = list(_registry())
        plan.sort(key=lambda p: order.index(p.command))
        for holder in holders:
            if not any(p.contribution.holder == holder for p in plan):
                from balcli.errors import ConfigError

                raise ConfigError(f"no source holding {holder} money has credentials, so {holder}: rules cannot "
                                  "be evaluated", "configure one with `balcli auth set EXCHANGE`")

    status = StatusLines(run, every=False)
    outcomes = list(gather(run, plan))
    for o in outcomes:
        status.line(o)
    by_command = {o.command: o for o in outcomes}
    rows = [row for o in outcomes if o.ok for row in o.rows]
    results = []
    for r in rules:
        needed = ([p.command for p in plan if p.contribution.holder == r.key] if r.by_holder
                  else [scope_owner[r.key]])
        failed = [by_command[c] for c in needed if not by_command[c].ok]
        if failed:
            detail = "; ".join(f"{o.command} failed (exit {o.exit_code}): {o.error}" for o in failed)
            results.append((r, None, "unknown", detail, max(o.exit_code for o in failed)))
            continue
        value = r.value(r2 for r2 in rows if r2["source"] in needed)
        ok = r.holds(value)
        from balcli.amounts import format_decimal

        detail = f"{format_decimal(value)} {r.op} {format_decimal(r.amount)} is {'true' if ok else 'false'}; " \
                 f"from {'+'.join(needed)}"
        results.append((r, value, "ok" if ok else "breach", detail, 0))

    unknown = [code for *_, status_, _, code in results if status_ == "unknown"]
    breached = [res for res in results if res[2] == "breach"]
    verdict = max(unknown) if unknown else int(ExitCode.BREACH) if breached else 0
    fmt = run.output_format().value
    with run.output() as out:
        if nagios:
            code = nagios_line(results, out)
        elif fmt == "prometheus":
            from balcli import prometheus

            prometheus.write([prometheus.Metric(
                "check_ok", "1 when the rule held in the last run, 0 when it was breached (absent: unknown)",
                [({"name": r.name, "rule": r.text}, "1" if st == "ok" else "0")
                 for r, _, st, _, _ in results if st != "unknown"]),
                *source_metrics(outcomes), last_run_metric()], out)
        else:
            from balcli.amounts import format_decimal

            run.render([[{"name": r.name, "rule": r.text, "value": None if v is None else format_decimal(v),
                          "status": st, "detail": d} for r, v, st, d, _ in results]], CHECK, out=out)
        if unknown:
            failed_outcomes = [o for o in outcomes if not o.ok]
            from balcli.commands.summary import raise_failures

            if nagios:  # the status line says it all; the plugin's exit code is UNKNOWN or CRITICAL
                _stderr_errors(failed_outcomes)
                return code
            raise_failures(failed_outcomes)  # inside the block: -O FILE keeps its old content
    return code if nagios else verdict


def _registry() -> dict[str, Any]:
    from balcli.exchanges import summary_sources

    return summary_sources()


def _stderr_errors(outcomes: list[Any]) -> None:
    import sys

    for o in outcomes:
        sys.stderr.write(f"balcli: error: {o.command}: {o.error}\n" + (f"hint: {o.error.hint}\n" if o.error.hint
                                                                       else ""))


# -- --nagios ------------------------------------------------------------------------------------------------

NAGIOS_OK, NAGIOS_CRITICAL, NAGIOS_UNKNOWN = 0, 2, 3


def nagios_range(op: str, amount: str) -> str:
    """The monitoring-plugins threshold range that alerts exactly when ``value OP amount`` is false:
    ``A:`` alerts below A, ``~:A`` above A, ``@~:A`` at or below A, ``@A:`` at or above A, ``A:A`` anywhere
    but A, ``@A:A`` at A (monitoring-plugins development guidelines, "Threshold and ranges")."""
    return {">=": f"{amount}:", ">": f"@~:{amount}", "<=": f"~:{amount}", "<": f"@{amount}:",
            "==": f"{amount}:{amount}", "!=": f"@{amount}:{amount}"}[op]


def _perf_label(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def nagios_line(results: list[tuple], out: Any) -> int:
    """``BALCLI CRITICAL - 1 of 3 rules breached: spot:USDT>=500 (257.51) | 'spot:USDT'=257.51;;500:``.

    A known breach is CRITICAL even when another rule is unknown (it is actionable); otherwise an unknown rule
    is UNKNOWN. Perfdata: one entry per evaluated rule, the exact value, the critical range for its rule."""
    from balcli.amounts import format_decimal

    def short(v: Any) -> str:
        text = format_decimal(v)
        return text.rstrip("0").rstrip(".") if "." in text else text

    total = len(results)
    breached = [res for res in results if res[2] == "breach"]
    unknown = [res for res in results if res[2] == "unknown"]
    if breached:
        state, code = "CRITICAL", NAGIOS_CRITICAL
        text = f"{len(breached)} of {total} rule{'s' if total != 1 else ''} breached: " + ", ".join(
            f"{r.text} ({short(v)})" for r, v, *_ in breached)
        if unknown:
            text += f"; {len(unknown)} unknown"
    elif unknown:
        state, code = "UNKNOWN", NAGIOS_UNKNOWN
        failed = sorted({d.split(" failed")[0] for _, _, _, d, _ in unknown})
        text = f"{len(unknown)} of {total} rule{'s' if total != 1 else ''} unknown: " \
               f"{', '.join(failed)} could not be read"
    else:
        state, code = "OK", NAGIOS_OK
        text = f"{total} rule{'s' if total != 1 else ''} ok"
    seen: set[str] = set()
    perf = []
    for r, v, st, _, _ in results:
        if st == "unknown":
            continue
        label = r.selector() if r.selector() not in seen else r.name
        seen.add(label)
        perf.append(f"{_perf_label(label)}={format_decimal(v)};;{nagios_range(r.op, format_decimal(r.amount))}")
    line = f"BALCLI {state} - {text}" + (f" | {' '.join(perf)}" if perf else "")
    out.write(line.replace("\n", " ") + "\n")
    out.flush()
    return code
