"""``balcli doctor [EXCHANGE]...``: why would a job fail? One row per check and exchange.

Iterates the registry: the config file, the keyring backend and the proxies once, then per exchange its
credentials (store, file mode), DNS, TCP and TLS to its base URL, the clock offset against its server time
(where the API has one) and one cheap signed call (its ``probe``, as ``auth status --check``). Every ``warn`` and
``fail`` row says the next step; the exit code is 0 unless a check failed, else the worst failure's code.
"""

import os
import time
from collections.abc import Generator, Iterator
from typing import Annotated, Any

import typer

from balcli.commands.auth import Exchange as ExchangeArg
from balcli.commands.common import CommonOptions, Globals, Run, common_options, field_views, validate_fields
from balcli.errors import BalcliError, ConfigError, ExitCode
from balcli.exchanges import EXCHANGES, NAMES
from balcli.schema import Field, View

VIEW = View("doctor", (
    Field("exchange", help="the exchange, or 'all' for the checks that concern every exchange"),
    Field("check", help="config, keyring, proxy, credentials, dns, tcp, tls, clock, signed_call"),
    Field("status", help="ok, warn, fail or skip"),
    Field("detail", "prose", "what was found; on warn and fail, the next step"),
), empty_note="no checks")

ALL = "all"
CLOCK_WARN_MS = 1000  # above this, a signed request is at risk on a slow link; above recv_window it is refused
PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY",
              "no_proxy")

HELP = f"""Check everything a run needs and say what to fix: one row per check and exchange.

The config file (found, valid), the keyring backend, the proxies in effect; then for each exchange: where its
credentials come from (and the credentials file's mode), DNS, TCP and TLS to its base URL, the clock offset
against its server time (signature errors after a VM resumes), and one cheap signed call.

Rows: {VIEW.describe()}. Status ok, warn, fail or skip; every warn and fail names the next step.
Exit 0 when no check failed, else the exit code of the worst failure (3 credentials/config, 4 refused,
5 banned, 6 network, 7 clock or unusable answer).

Examples:

\b
  balcli doctor
  balcli doctor {NAMES[0]} --json | jq -r '.[] | select(.status == "fail") | .detail'
  balcli --sandbox doctor
"""


def register(app: typer.Typer) -> None:
    app.command("doctor", help=HELP, short_help="Diagnose config, credentials, network, clock and access.")(
        doctor)
    field_views("doctor", VIEW)


class _Report:
    def __init__(self) -> None:
        self.worst = 0

    def row(self, exchange: str, check: str, status: str, detail: str, code: int = 0) -> dict:
        if status == "fail":
            self.worst = max(self.worst, code or int(ExitCode.INTERNAL))
        return {"exchange": exchange, "check": check, "status": status, "detail": detail}

    def failed(self, exchange: str, check: str, exc: BalcliError) -> dict:
        return self.row(exchange, check, "fail", _with_hint(str(exc), exc.hint), int(exc.exit_code))


def _with_hint(text: str, hint: str | None) -> str:
    return f"{text}; next: {hint}" if hint else text


@common_options
def doctor(
    ctx: typer.Context,
    exchanges: Annotated[list[ExchangeArg] | None, typer.Argument(
        help="Only these exchanges (default: every one); a named exchange must have credentials.",
        case_sensitive=False, show_default=False)] = None,
    *, common: CommonOptions,
) -> int:
    from balcli import config

    validate_fields(common, VIEW)
    report = _Report()
    named = list(dict.fromkeys(e.value for e in exchanges or ()))
    g: Globals = ctx.obj or Globals()
    first: list[dict] = []
    try:
        settings = config.load(config=g.config, profile=g.profile)
        where = settings.config_path
        first.append(report.row(ALL, "config", "ok", f"{where} (profile {settings.profile.value!r})"
                                if settings.config_exists else
                                f"no file at {where}: built-in defaults (`balcli config init` writes one)"))
    except ConfigError as exc:
        first.append(report.row(ALL, "config", "fail", _with_hint(
            f"{exc} (the checks below use the built-in defaults and the environment)", exc.hint),
            int(exc.exit_code)))
        ctx.obj = Globals(profile=g.profile, config=os.devnull, sandbox=g.sandbox, verbose=g.verbose,
                          debug=g.debug)
    run = Run.start(ctx, common, (named or list(NAMES))[0])
    if common.base_url:  # --base-url applies to every exchange checked, as in `auth status --check`
        run.settings = run.settings.override(**{f"{ex}__base_url": run.base_url for ex in NAMES})
    if common.max_retries is None:  # a diagnosis answers now: no back-off
        run.settings = run.settings.override(max_retries=0)
    first.append(_keyring(report, run))
    first.append(_proxies(report))

    def pages() -> Iterator[list[dict]]:
        yield first
        for ex in named or NAMES:
            yield list(_exchange(report, run, ex, ex in named))

    run.render(pages(), VIEW)
    return report.worst


def _keyring(report: _Report, run: Run) -> dict:
    from balcli import credentials

    if run.sandbox is not None:
        return report.row(ALL, "keyring", "skip", "--sandbox uses demo credentials")
    if not credentials.keyring_available(credentials.stderr_note(run.globals.verbose)):
        return report.row(ALL, "keyring", "skip", "no usable keyring backend (normal on a headless server): "
                          "credentials come from the environment or the credentials file")
    import keyring

    backend = keyring.get_keyring()
    return report.row(ALL, "keyring", "ok", f"{type(backend).__module__}.{type(backend).__name__}")


def _redact_url(value: str) -> str:
    """``http://***@proxy:3128``: a proxy URL's user and password never reach the output."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
    except ValueError:
        return "(unparsable)"
    if parts.username is None and parts.password is None:
        return value
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return parts._replace(netloc=f"***@{host}{port}").geturl()


def _proxies(report: _Report) -> dict:
    found = [f"{name}={_redact_url(os.environ[name]) if 'no_proxy' not in name.lower() else os.environ[name]}"
             for name in PROXY_VARS if os.environ.get(name)]
    return report.row(ALL, "proxy", "ok", "; ".join(found) if found else "none (direct connections)")


def _exchange(report: _Report, run: Run, ex: str, named: bool) -> Iterator[dict]:
    from urllib.parse import urlsplit

    exchange = EXCHANGES[ex]
    creds, row = _credentials(report, run, ex, named)
    yield row
    base_url = run.settings.exchange(ex, "base_url")
    parts = urlsplit(base_url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    proxy = _proxy_for(base_url)
    if proxy:
        yield report.row(ex, "dns", "skip", f"through the proxy {_redact_url(proxy)}: the proxy resolves {host}")
        target = urlsplit(proxy)
        host, port = target.hostname or "", target.port or 80
    addresses = yield from _dns(report, ex, host, port, bool(proxy))
    sock = None
    if addresses:
        sock = yield from _tcp(report, ex, addresses, port, run.settings.timeout.value, proxy)
    if sock is not None:
        with sock:
            if parts.scheme != "https":
                yield report.row(ex, "tls", "skip", f"{base_url} is plain http (no TLS)")
            elif proxy:
                yield report.row(ex, "tls", "skip", "inside the proxy's tunnel: the signed call checks it")
            else:
                yield _tls(report, ex, sock, parts.hostname or "")
    else:
        if not addresses:
            yield report.row(ex, "tcp", "skip", "not resolved")
        yield report.row(ex, "tls", "skip", "no connection")
    reachable = sock is not None
    yield _clock(report, run, exchange, base_url, reachable)
    yield _signed_call(report, run, ex, creds, reachable)


def _credentials(report: _Report, run: Run, ex: str, named: bool) -> tuple[Any, dict]:
    from balcli import credentials

    try:
        if run.sandbox is not None:
            creds = run.credentials(ex)
        else:
            creds = credentials.find(ex, run.settings.profile.value, run.settings.credentials_file.value,
                                     note=credentials.stderr_note(run.globals.verbose))
    except ConfigError as exc:
        return None, report.failed(ex, "credentials", exc)
    if creds is None:
        missing = credentials.missing_error(ex, run.settings.profile.value)
        if named:
            return None, report.failed(ex, "credentials", missing)
        return None, report.row(ex, "credentials", "skip", _with_hint("not configured", missing.hint))
    detail = f"{creds.source}: {creds.location}, key {creds.masked_key()}"
    if creds.source == "file":
        path = run.settings.credentials_file.value
        try:
            detail += f" (mode {os.stat(path).st_mode & 0o777:04o})"
        except OSError:
            pass
    return creds, report.row(ex, "credentials", "ok", detail)


def _proxy_for(url: str) -> str | None:
    import urllib.request

    proxies = urllib.request.getproxies()
    scheme = url.split(":", 1)[0]
    proxy = proxies.get(scheme) or proxies.get("all")
    if not proxy:
        return None
    from urllib.parse import urlsplit

    if urllib.request.proxy_bypass(urlsplit(url).hostname or ""):
        return None
    return proxy


def _dns(report: _Report, ex: str, host: str, port: int, via_proxy: bool) -> Generator[dict, None, list]:
    import socket

    what = "the proxy " + host if via_proxy else host
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        yield report.row(ex, "dns", "fail", f"cannot resolve {what}: {exc}; next: check the host name "
                         "(--base-url / base_url), /etc/resolv.conf and the network", int(ExitCode.NETWORK))
        return []
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not via_proxy:
        yield report.row(ex, "dns", "ok", f"{host} -> {', '.join(addresses[:3])}")
    return [(info[0], info[4]) for info in infos]


def _tcp(report: _Report, ex: str, addresses: list, port: int, timeout: float,
         proxy: str | None) -> Generator[dict, None, Any]:  # returns the connected socket, or None
    import socket

    errors = []
    for family, address in addresses:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(min(float(timeout), 5.0))  # float-ok: seconds
        started = time.monotonic()
        try:
            sock.connect(address)
        except OSError as exc:
            sock.close()
            errors.append(f"{address[0]}: {exc.strerror or exc}")
            continue
        ms = (time.monotonic() - started) * 1000
        via = f" (the proxy {_redact_url(proxy)})" if proxy else ""
        yield report.row(ex, "tcp", "ok", f"connected to {address[0]} port {port}{via} in {ms:.0f} ms")
        return sock
    yield report.row(ex, "tcp", "fail", f"cannot connect to port {port}: {'; '.join(errors)}; next: check the "
                     "firewall, the proxies (HTTPS_PROXY) and --base-url / base_url", int(ExitCode.NETWORK))
    return None


def _tls(report: _Report, ex: str, sock: Any, host: str) -> dict:
    import ssl

    context = ssl.create_default_context()
    try:
        with context.wrap_socket(sock, server_hostname=host) as tls:
            cert = tls.getpeercert() or {}
            version = tls.version()
    except (ssl.SSLError, OSError) as exc:
        return report.row(ex, "tls", "fail", f"TLS with {host} failed: {exc}; next: check the system CA "
                          "certificates (REQUESTS_CA_BUNDLE behind a TLS-inspecting proxy) and the clock",
                          int(ExitCode.NETWORK))
    until = cert.get("notAfter", "?")
    return report.row(ex, "tls", "ok", f"{version}, certificate for {host} valid until {until}")


def _clock(report: _Report, run: Run, exchange: Any, base_url: str, reachable: bool) -> dict:
    from balcli.exchanges import load

    ex = exchange.name
    if exchange.server_time is None:
        return report.row(ex, "clock", "skip", f"the {exchange.label} API has no server time to compare with")
    if not reachable:
        return report.row(ex, "clock", "skip", "not reachable")
    samples = []
    for _ in range(2):  # the first one also pays for the connection: keep the one with the shorter round trip
        before = time.time()
        try:
            server_ms = load(exchange.server_time)(run.client, base_url)
        except BalcliError as exc:  # the signed call below says why the API answers no more (ban, network)
            return report.row(ex, "clock", "warn", _with_hint(f"cannot read the server time: {exc}",
                                                              exc.hint or "see the signed_call row"))
        after = time.time()
        if server_ms is None:
            return report.row(ex, "clock", "skip", "the server sent no time")
        samples.append(((after - before) * 1000, server_ms - (before + after) / 2 * 1000))
    rtt, offset = min(samples)
    side = "behind" if offset > 0 else "ahead of"  # offset: server minus local
    detail = f"local clock {abs(offset) / 1000:.3f} s {side} the server (round trip {rtt:.0f} ms)"
    window = run.settings.exchanges[ex].get("recv_window")
    limit = window.value if window is not None else None
    fix = "sync the system clock (`timedatectl set-ntp true`, or `chronyc makestep` after a VM resume)"
    if limit is not None and abs(offset) > limit:
        return report.row(ex, "clock", "fail", f"{detail}, beyond the {limit} ms a signed request stays valid: "
                          f"every signed request is refused first and re-signed; next: {fix}",
                          int(ExitCode.BAD_RESPONSE))
    if abs(offset) > CLOCK_WARN_MS:
        return report.row(ex, "clock", "warn", f"{detail}; next: {fix}")
    return report.row(ex, "clock", "ok", detail)


def _signed_call(report: _Report, run: Run, ex: str, creds: Any, reachable: bool) -> dict:
    from balcli.exchanges import load

    if creds is None:
        return report.row(ex, "signed_call", "skip", "no credentials")
    if not reachable:
        return report.row(ex, "signed_call", "skip", "not reachable")
    started = time.monotonic()
    try:
        load(EXCHANGES[ex].probe)(run.link(ex, creds))
    except BalcliError as exc:
        return report.failed(ex, "signed_call", exc)
    ms = (time.monotonic() - started) * 1000
    return report.row(ex, "signed_call", "ok", f"accepted in {ms:.0f} ms")


__all__ = ["VIEW", "doctor", "register"]
