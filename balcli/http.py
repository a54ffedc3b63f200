"""The transport: one ``requests.Session`` per run, a client-side rate limiter, safe retries, clock-skew
recovery, redacted ``-v``/``-vv`` logging, and the one place where HTTP statuses and each API's envelope codes
become typed errors (API-SPEC.md §7). It never prints results; it only logs to stderr.

An ``Api`` (one per exchange, defined next to its endpoints in ``balcli.sources``) knows how to sign a request
and which ``check_*`` function below reads its answers. ``requests`` is imported lazily (start-up cost).
"""

from __future__ import annotations

import email.utils
import json
import random
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any, NamedTuple, TextIO
from urllib.parse import urlencode

from balcli import __version__, cancel
from balcli.errors import (
    AuthError,
    BalcliError,
    ClockSkewError,
    ConfigError,
    Interrupted,
    NetworkError,
    RateLimitError,
    ResponseError,
    UsageError,
)

USER_AGENT = f"balcli/{__version__}"
BODY_LOG_LIMIT = 4000
REDACTED = "***"
_REDACT_PARAMS = frozenset({"sign", "signature", "api_key"})
_REDACT_HEADERS = frozenset({"x-bapi-sign", "x-bapi-api-key", "x-mbx-apikey", "api_key", "sign", "authorization"})
# A token in a JSON body (also one cut short: the closing quote is optional) or in a form-encoded one.
_TOKEN_RE = re.compile(r'("(?:access_token|refresh_token|client_secret|token)"\s*:\s*)"[^"]*"?')
_FORM_TOKEN_RE = re.compile(r"(?<![\w-])((?:access_token|refresh_token|client_secret)=)[^&\s\"']*")

Params = list[tuple[str, Any]]


# -- requests and answers -----------------------------------------------------------------------------

class Prepared(NamedTuple):  # not a dataclass: 10x cheaper to define at start-up
    method: str
    url: str  # without the query
    query: list[tuple[str, str]] | str  # pairs, or an exact pre-encoded string (Binance signs what it sends)
    headers: Mapping[str, str] = MappingProxyType({})
    body: bytes | None = None
    log_note: str = ""  # e.g. the string to sign, minus the secret, shown under -vv

    def __repr__(self) -> str:  # signed queries, keys and Basic credentials never reach a repr or a debugger
        return f"Prepared({self.method} {self.url}, {len(self.headers)} headers (redacted))"


class Answer(NamedTuple):
    status: int
    headers: Any  # case-insensitive mapping
    text: str
    api: Api

    def __repr__(self) -> str:  # the body may carry a token (the OAuth token endpoint's answer)
        return f"Answer({self.api.label} HTTP {self.status}, {len(self.text)} chars)"

    def json(self) -> Any:
        """The body as JSON with every non-integer number as an exact Decimal, or ResponseError (exit 7)."""
        try:
            return json.loads(self.text, parse_float=Decimal, parse_constant=_not_json)
        except ValueError:
            kind = "an HTML page" if _looks_html(self.text) else "invalid JSON"
            raise ResponseError(f"{self.api.label} answered HTTP {self.status} with {kind}: {_snippet(self)}",
                                "the API may be down or a proxy is in the way; retry later or check --base-url"
                                ) from None


class Api:
    """One exchange's conventions. Subclasses set ``name``/``label``/``base_url`` and implement ``prepare``."""

    name = "api"
    label = "API"
    base_url = ""

    def prepare(self, method: str, path: str, params: Params, now_ms: int) -> Prepared:
        raise NotImplementedError

    def check(self, answer: Answer) -> Any:
        """The useful part of a successful answer; raise a typed error otherwise."""
        raise NotImplementedError

    def server_time_ms(self, client: HttpClient) -> int | None:
        """The server's clock, for clock-skew recovery; None when the API has no usable time endpoint."""
        return None

    def wait_before(self) -> float:
        """Seconds to wait before the next request beyond the limiter (e.g. Binance's weight budget)."""
        return 0.0

    def observe(self, answer: Answer) -> None:
        """Look at every answer (rate-limit headers, for instance)."""

    def secrets(self) -> Iterable[str]:
        return ()


# -- the rate limiter ----------------------------------------------------------------------------------

class RateLimiter:
    """Spaces requests evenly at just under ``per_second`` (thread-safe, for concurrent page fetches).

    Even spacing at 96% of the documented rate keeps any rolling window under its limit, even with some
    scheduling jitter between the requests (about 40 ms a second at 5/s), while using over 95% of what the
    API allows. ``sent()`` re-anchors the spacing on the moment a request really leaves, so time spent between
    ``acquire()`` and the send (signing, a first connection) cannot squeeze two requests together.
    """

    HEADROOM = 0.96

    def __init__(self, per_second: float, *, clock: Callable[[], float] | None = None,
                 sleep: Callable[[float], None] | None = None) -> None:
        self.per_second = per_second
        self.interval = 1.0 / (per_second * self.HEADROOM)
        self._clock = clock or time.monotonic
        self._sleep = sleep or (lambda seconds: cancel.pause(seconds))  # cut short for an abandoned page
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> float:
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval
        wait = start - now
        if wait > 0:
            self._sleep(wait)
        return wait

    def sent(self) -> None:
        with self._lock:
            self._next = max(self._next, self._clock() + self.interval)

    def hold(self, seconds: float) -> None:
        """Push every later request back (after a 429 with Retry-After, for instance)."""
        with self._lock:
            self._next = max(self._next, self._clock() + seconds)


# -- the client ----------------------------------------------------------------------------------------

class HttpClient:
    """One per run. Thread-safe ``call`` so that page fetches can run concurrently under one limiter."""

    BACKOFF_BASE = 0.5  # seconds; doubled each retry, with jitter
    BACKOFF_CAP = 8.0
    RATE_LIMIT_BACKOFF_BASE = 1.0
    MAX_RETRY_AFTER = 60.0  # a longer Retry-After ends the run (exit 5) saying when to try again

    def __init__(self, *, timeout: float = 10.0, max_retries: int = 4, verbose: int = 0,
                 err: TextIO | None = None, sleep: Callable[[float], None] | None = None,
                 wall: Callable[[], float] | None = None, on_wait: Callable[[float, str], None] | None = None,
                 pool_size: int = 4) -> None:
        self.timeout = timeout
        self.max_retries = max_retries
        self.verbose = verbose
        self.err = err if err is not None else sys.stderr
        # Looked up late: tests patch time.sleep and cancel.pause. A page fetch abandoned by its consumer stops
        # waiting at once (balcli.cancel).
        self.sleep = sleep or (lambda seconds: cancel.pause(seconds))
        self.wall = wall or (lambda: time.time())
        self.on_wait = on_wait
        self.pool_size = pool_size
        self.offsets: dict[str, int] = {}
        self._session: Any = None
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._cancelled = threading.Event()

    # session and housekeeping

    @property
    def session(self) -> Any:
        with self._lock:
            if self._session is None:
                import requests
                from requests.adapters import HTTPAdapter

                s = requests.Session()
                s.headers["User-Agent"] = f"{USER_AGENT} python-requests/{requests.__version__}"
                adapter = HTTPAdapter(pool_connections=4, pool_maxsize=self.pool_size, max_retries=0)
                s.mount("http://", adapter)
                s.mount("https://", adapter)
                self._session = s
            return self._session

    def cancel(self) -> None:
        """Stop every request still to come (page fetches abandoned by a consumer that went away)."""
        self._cancelled.set()

    def close(self) -> None:
        self.cancel()
        if self._session is not None:
            self._session.close()

    def add_secrets(self, values: Iterable[str]) -> None:
        self._secrets.update(v for v in values if v and len(v) >= 4)

    def now_ms(self, api: Api) -> int:
        return int(self.wall() * 1000) + self.offsets.get(api.name, 0)

    def log(self, text: str) -> None:
        print(f"balcli: {self.redact(text)}", file=self.err, flush=True)

    def warn(self, text: str) -> None:
        print(f"balcli: warning: {self.redact(text)}", file=self.err, flush=True)

    def redact(self, text: str) -> str:
        return redact_text(text, self._secrets)

    def _wait(self, seconds: float, reason: str) -> None:
        if seconds <= 0:
            return
        if self.on_wait:
            self.on_wait(seconds, reason)
        self.sleep(seconds)

    # the one request loop

    def call(self, api: Api, method: str, path: str, params: Params | None = None, *,
             limiter: RateLimiter | None = None) -> Any:
        try:
            return self._call(api, method, path, params, limiter=limiter)
        except BalcliError as exc:
            self.redact_error(exc)
            raise

    def redact_error(self, exc: BalcliError) -> None:
        """An API may echo what it was sent (Zoomex's "error sign! origin_string[api_key=...]"): the error
        message shown to the user gets the same redaction as the -v log (SPEC §3: no secret in any message)."""
        exc.message = self.redact(exc.message)
        exc.args = (exc.message,)
        if exc.api_message:
            exc.api_message = self.redact(exc.api_message)
        if exc.hint:
            exc.hint = self.redact(exc.hint)

    def _call(self, api: Api, method: str, path: str, params: Params | None = None, *,
              limiter: RateLimiter | None = None) -> Any:
        self.add_secrets(api.secrets())
        self.session  # noqa: B018 - build the session (and import requests) before taking a limiter slot
        params = list(params or [])
        attempt = 0
        resynced = False
        while True:
            attempt += 1
            waited = limiter.acquire() if limiter else 0.0
            extra = api.wait_before()
            if extra > 0:
                self._wait(extra, f"{api.label} rate-limit budget")
                waited += extra
            if self._cancelled.is_set() or cancel.stopped():
                raise Interrupted("cancelled: the run is ending")
            prepared = api.prepare(method, path, params, self.now_ms(api))
            try:
                answer = self._send(api, prepared, attempt, waited, limiter)
                api.observe(answer)
                return api.check(answer)
            except ClockSkewError:
                if resynced or not self._resync(api):
                    raise
                resynced = True
                attempt -= 1  # the re-sync retry does not count against --max-retries
            except (RateLimitError, NetworkError) as exc:
                if (isinstance(exc, RateLimitError) and exc.banned) or isinstance(exc, ServerRefused):
                    raise
                if attempt > self.max_retries:
                    if isinstance(exc, NetworkError) and self.max_retries:
                        exc.hint = (exc.hint or "") + f" (gave up after {attempt} attempts)"
                    raise
                delay = self._backoff(attempt, exc)
                if delay is None:
                    raise
                if limiter and isinstance(exc, RateLimitError):
                    limiter.hold(delay)
                self._wait(delay, f"retry {attempt}/{self.max_retries} after {exc.message}")

    def _backoff(self, attempt: int, exc: RateLimitError | NetworkError) -> float | None:
        retry_after = exc.retry_after
        if retry_after is not None and retry_after > 0:
            if retry_after > self.MAX_RETRY_AFTER:
                return None
            return retry_after + random.uniform(0, 0.25)
        base = self.RATE_LIMIT_BACKOFF_BASE if isinstance(exc, RateLimitError) else self.BACKOFF_BASE
        ceiling = min(self.BACKOFF_CAP, base * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)  # "equal jitter": never less than half the step

    def _send(self, api: Api, p: Prepared, attempt: int, waited: float,
              limiter: RateLimiter | None = None) -> Answer:
        import requests

        query = p.query if isinstance(p.query, str) else urlencode(p.query)
        url = f"{p.url}?{query}" if query else p.url
        started = time.monotonic()
        if limiter is not None:
            limiter.sent()
        try:
            r = self.session.request(p.method, url, headers=p.headers, data=p.body, timeout=self.timeout,
                                     allow_redirects=False)
        except (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema,
                requests.exceptions.MissingSchema, requests.exceptions.InvalidHeader, UnicodeError) as exc:
            # A request that cannot even be built: a retry cannot help, and it is not the network's fault.
            # Only the exception's name: its text may quote a header value, that is, a key or token.
            self._log_request(p, query, None, started, attempt, waited, None)
            raise ConfigError(f"cannot send a request to {api.label} at {api.base_url}: the URL or a header "
                              f"value is not valid ({type(exc).__name__})",
                              "check --base-url / base_url, and the credentials for stray characters "
                              "(`balcli auth status`)") from None
        except requests.Timeout:
            self._log_request(p, query, None, started, attempt, waited, None)
            raise NetworkError(f"{api.label} did not answer within {self.timeout:g} s",
                               "raise --timeout, or check the network and the API's status") from None
        except requests.RequestException as exc:
            self._log_request(p, query, None, started, attempt, waited, None)
            raise NetworkError(f"cannot reach {api.label} at {api.base_url}: {_reason(exc)}",
                               "check the network, proxies (HTTPS_PROXY) and --base-url") from None
        text = r.text
        self._log_request(p, query, r.status_code, started, attempt, waited, text)
        return Answer(r.status_code, r.headers, text, api)

    def _log_request(self, p: Prepared, query: str, status: int | None, started: float, attempt: int,
                     waited: float, text: str | None) -> None:
        if self.verbose < 1:
            return
        ms = (time.monotonic() - started) * 1000
        path = p.url.split("://", 1)[-1]
        path = path[path.find("/"):] if "/" in path else "/"
        shown = "-" if status is None else str(status)
        self.log(f"{p.method} {path} {shown} {ms:.0f} ms attempt {attempt} wait {waited * 1000:.0f} ms")
        if self.verbose >= 2:
            self.log(f"  > query: {redact_query(query)}")
            if p.headers:
                self.log("  > headers: " + ", ".join(
                    f"{k}: {REDACTED if k.lower() in _REDACT_HEADERS else v}" for k, v in p.headers.items()))
            if p.log_note:
                self.log(f"  > {p.log_note}")
            if text is not None:
                text = self.redact(text)  # before cutting: a secret cut in two would escape redaction
                body = text if len(text) <= BODY_LOG_LIMIT else text[:BODY_LOG_LIMIT] + f"… ({len(text)} chars)"
                self.log(f"  < body: {body}")

    def _resync(self, api: Api) -> bool:
        sent = self.wall()
        try:
            server = api.server_time_ms(self)
        except BalcliError:
            return False
        if server is None:
            return False
        received = self.wall()
        local_ms = (sent + received) / 2 * 1000
        offset = int(server - local_ms)
        self.offsets[api.name] = offset
        direction = "behind" if offset > 0 else "ahead of"
        self.warn(f"the local clock is {abs(offset) / 1000:.3f} s {direction} {api.label}'s server; "
                  "corrected for this run (sync the system clock to avoid this)")
        return True

    def get_json(self, api: Api, path: str) -> Any:
        """An unsigned GET (server time), one attempt, for the re-sync path."""
        p = Prepared("GET", api.base_url + path, [])
        answer = self._send(api, p, 1, 0.0)
        if answer.status != 200:
            raise ResponseError(f"{api.label} server time answered HTTP {answer.status}")
        return answer.json()


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every token-like value (JSON or form-encoded) and every known secret replaced. Redact a
    whole text before cutting it: a token or secret cut in two no longer matches."""
    text = _TOKEN_RE.sub(lambda m: m.group(1) + f'"{REDACTED}"', text)
    text = _FORM_TOKEN_RE.sub(lambda m: m.group(1) + REDACTED, text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return text


def redact_query(query: str) -> str:
    parts = []
    for part in query.split("&") if query else []:
        key = part.split("=", 1)[0]
        parts.append(f"{key}={REDACTED}" if key in _REDACT_PARAMS else part)
    return "&".join(parts)


def _reason(exc: Exception) -> str:
    text = str(exc)
    m = re.search(r"\[Errno -?\d+\] ([^')\]\"]+)", text) or re.search(
        r"(Connection refused|Name or service not known|Remote end closed connection)", text)
    return m.group(1).strip() if m else type(exc).__name__


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")  # Python's json would make a float of NaN and Infinity


def _looks_html(text: str) -> bool:
    head = text.lstrip()[:200].lower()
    return head.startswith(("<!doctype html", "<html")) or "<body" in head


def _snippet(answer: Answer) -> str:
    """The start of an answer's body for an error message, redacted in full before it is cut."""
    flat = " ".join(redact_text(answer.text, answer.api.secrets()).split())
    if not flat:
        return "(empty body)"
    return repr(flat[:120] + ("…" if len(flat) > 120 else ""))


def retry_after_seconds(headers: Any, wall: Callable[[], float] | None = None) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))  # float-ok: seconds, not an amount
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (wall or time.time)())


def _when(seconds: float | None) -> str:
    if seconds is None:
        return ""
    until = time.gmtime(time.time() + seconds)
    return f" until {time.strftime('%Y-%m-%dT%H:%M:%SZ', until)}"


# -- status and envelope -> typed errors: the one place (API-SPEC.md §7) ---------------------------------

RETRY_STATUSES = frozenset({500, 502, 503, 504})  # SPEC §5: the server failures that a retry can fix


class ServerRefused(NetworkError):
    """A server failure that a retry will not fix (an HTML error page on a 4xx, 501, 505...): exit 6 at once."""

    default_hint = "check --base-url, proxies and the API's status page; balcli did not retry this answer"


def http_failure(answer: Answer) -> None:
    """Failures every API signals the same way: 429 (rate limited), 5xx and HTML error pages (exit 6; only
    500/502/503/504 are retried)."""
    label, status = answer.api.label, answer.status
    if status == 429:  # first: rate-limit pages are often HTML, and they are still exit 5 after retries
        retry = retry_after_seconds(answer.headers)
        raise RateLimitError(f"{label} rate limit reached (HTTP 429)", retry_after=retry,
                             hint=f"wait{_when(retry) or ' a minute'} and run again; lower rate_limit in the config "
                                  "if another client shares this key")
    if status >= 500 or (status >= 400 and _looks_html(answer.text)):
        page = " (HTML error page)" if _looks_html(answer.text) else ""
        error = NetworkError if status in RETRY_STATUSES else ServerRefused
        raise error(f"{label} failed with HTTP {status}{page}", retry_after=retry_after_seconds(answer.headers))


def _auth(label: str, what: str, hint: str, code: object, msg: str | None) -> AuthError:
    return AuthError(f"{label} rejected the credentials: {what}", hint, api_code=code, api_message=msg)


_KEY_HINT = "check the API key (`balcli auth status`), that it is enabled, and its permissions"
_SIGN_HINT = "check the API secret; run with -vv to see the string that was signed"
_IP_HINT = "add this machine's public IP to the key's allow-list on the exchange"
_PERM_HINT = "enable the required permission for this API key on the exchange"


def _param(label: str, code: object, msg: str | None) -> UsageError:
    return UsageError(f"{label} rejected a parameter", "check the option values against `--help`",
                      api_code=code, api_message=msg)


def check_zoomex(answer: Answer) -> Any:
    """Zoomex v1 envelope: ``ret_code`` 0 is success; HTTP 403 is an IP ban, not bad credentials."""
    label = answer.api.label
    if answer.status == 403:
        raise RateLimitError(f"{label} banned this IP for exceeding its rate limit (HTTP 403)", banned=True,
                             hint="stop every client using this IP for at least 10 minutes, then run again")
    http_failure(answer)
    if answer.status == 401:
        raise _auth(label, "invalid API key or missing authentication", _KEY_HINT, 401, None)
    body = answer.json()
    code = body.get("ret_code") if isinstance(body, dict) else None
    msg = body.get("ret_msg") if isinstance(body, dict) else None
    if code is None:
        raise ResponseError(f"{label} answered without ret_code", "the answer is not a Zoomex v1 envelope; "
                            "check --base-url", api_message=_snippet(answer))
    if code == 0:
        if "result" not in body:
            raise ResponseError(f"{label} answer has no 'result'")
        return body["result"]
    if code in (10002, 10021):
        raise ClockSkewError(f"{label} rejected the request time", api_code=code, api_message=msg)
    if code == 10003:
        raise _auth(label, "invalid API key", _KEY_HINT, code, msg)
    if code in (10004, 10022):
        raise _auth(label, "invalid signature", _SIGN_HINT, code, msg)
    if code == 10005:
        raise _auth(label, "permission denied (is this a broker key?)", _PERM_HINT, code, msg)
    if code == 10007:
        raise _auth(label, "user authentication failed", _KEY_HINT, code, msg)
    if code == 10010:
        raise _auth(label, "request IP is not on the key's allow-list", _IP_HINT, code, msg)
    if code in (10006, 10018):
        raise RateLimitError(f"{label} rate limit reached", "wait a few seconds and run again", api_code=code,
                             api_message=msg)
    if code == 10009:
        raise RateLimitError(f"{label} has banned this IP", "wait before retrying; contact Zoomex if it persists",
                             banned=True, api_code=code, api_message=msg)
    if code == 10001:
        raise _param(label, code, msg)
    if code == 10016:
        raise NetworkError(f"{label} service unavailable", api_code=code, api_message=msg)
    raise ResponseError(f"{label} returned an error", "see the API's code and message", api_code=code,
                        api_message=msg)


def _coinw_unauthorized(answer: Answer) -> None:
    """CoinW answers HTTP 401/403 (often an HTML page) for a refused key or IP (API-SPEC §2.4) and, by its
    "precautions" page, while a key or IP is banned for too many errors: never retried like a 5xx."""
    if answer.status in (401, 403):
        raise _auth(answer.api.label, f"HTTP {answer.status}", f"{_KEY_HINT}; {_IP_HINT}; after many failed "
                    "or too frequent requests CoinW also bans for a while: wait a few minutes before retrying",
                    answer.status, None)


def _coinw_code(answer: Answer, body: Any) -> str:
    """The envelope's ``code`` as text; an answer without one is named as such (not as "code None")."""
    if not isinstance(body, dict):
        raise ResponseError(f"{answer.api.label} answer is not a JSON object", api_message=_snippet(answer))
    if body.get("code") is None:
        raise ResponseError(f"{answer.api.label} answered without 'code'", "the answer is not a CoinW envelope; "
                            "check --base-url", api_message=_snippet(answer))
    return str(body["code"])


COINW_RATE_LIMIT_PAUSE = 30.0  # API-SPEC §7: back off at least 30 s; CoinW turns repeated errors into bans


def _coinw_rate_limited(label: str, code: str, msg: str | None) -> RateLimitError:
    return RateLimitError(f"{label} rate limit reached", "wait half a minute and run again; lower coinw "
                          "rate_limit in the config if another client shares this key", api_code=code,
                          api_message=msg, retry_after=COINW_RATE_LIMIT_PAUSE)


def check_coinw_spot(answer: Answer) -> Any:
    """CoinW spot: ``code`` "200" (string) is success; an empty answer means no assets."""
    label = answer.api.label
    _coinw_unauthorized(answer)
    http_failure(answer)
    if answer.status == 200 and not answer.text.strip():
        return {}
    body = answer.json()
    code = _coinw_code(answer, body)
    msg = body.get("msg") or body.get("message")
    if code in ("200", "0") and body.get("success") is not False and body.get("failed") is not True:
        return body.get("data")
    if code == "29001":
        raise _coinw_rate_limited(label, code, msg)
    if code in ("-103", "1003", "6000", "10006"):
        raise _auth(label, "authentication failed (API key, signature, IP or permission)",
                    f"{_KEY_HINT}; check the API secret too", code, msg)
    if code == "10007":
        raise _auth(label, "invalid signature", _SIGN_HINT, code, msg)
    if code in ("-3", "10003"):
        raise _param(label, code, msg)
    if code == "-200":
        raise NetworkError(f"{label} system error", api_code=code, api_message=msg)
    raise ResponseError(f"{label} returned an error", "see the API's code and message", api_code=code,
                        api_message=msg)


def check_coinw_affiliate(answer: Answer) -> Any:
    """CoinW affiliate (futures-style): ``code`` "0" is success."""
    label = answer.api.label
    _coinw_unauthorized(answer)
    http_failure(answer)
    body = answer.json()
    code = _coinw_code(answer, body)
    msg = body.get("msg") or body.get("message")
    if code == "0":
        if not isinstance(body.get("data"), dict):
            raise ResponseError(f"{label} answer has no 'data' object", api_message=_snippet(answer))
        return body["data"]
    if code == "29001":
        raise _coinw_rate_limited(label, code, msg)
    if code == "6000":
        raise _auth(label, "invalid API key", _KEY_HINT, code, msg)
    if code == "6001":
        raise _auth(label, "invalid signature", _SIGN_HINT, code, msg)
    if code == "6002":
        raise ClockSkewError(f"{label} rejected the request time", api_code=code, api_message=msg)
    if code == "6003":
        raise _auth(label, "the key lacks the Affiliate permission", _PERM_HINT, code, msg)
    if code in ("1", "402"):
        raise _param(label, code, msg)
    raise ResponseError(f"{label} returned an error", "see the API's code and message", api_code=code,
                        api_message=msg)


def check_binance(answer: Answer) -> Any:
    """Binance: HTTP status first (418 ban, 429 limit), then ``code`` (success bodies carry ``"code":200``)."""
    label = answer.api.label
    if answer.status == 418:
        retry = retry_after_seconds(answer.headers)
        try:
            body = answer.json()
        except ResponseError:
            body = None
        code = body.get("code") if isinstance(body, dict) else None
        msg = body.get("msg") if isinstance(body, dict) else None
        until = re.search(r"banned until (\d{13})", msg) if isinstance(msg, str) else None
        if retry is None and until:  # no Retry-After: the message still says when (epoch ms)
            retry = max(0.0, int(until.group(1)) / 1000 - time.time())  # float-ok: seconds
        raise RateLimitError(f"{label} has banned this IP (HTTP 418){_when(retry)}", banned=True, retry_after=retry,
                             hint=f"do not retry{_when(retry) or ' before the ban lifts'}; the ban grows if you do",
                             api_code=code, api_message=msg)
    http_failure(answer)
    body = answer.json()
    code = body.get("code") if isinstance(body, dict) else None
    msg = body.get("msg") if isinstance(body, dict) else None
    if answer.status < 400 and (code is None or code == 200):
        return body
    if code == -1021:
        raise ClockSkewError(f"{label} rejected the request time", api_code=code, api_message=msg)
    if code == -1022:
        raise _auth(label, "invalid signature", _SIGN_HINT, code, msg)
    if code in (-2014, -2015, -1002):
        raise _auth(label, "invalid API key, IP or permissions", f"{_KEY_HINT}; {_IP_HINT}", code, msg)
    if code == -1003:
        raise RateLimitError(f"{label} rate limit reached", "wait a minute and run again", api_code=code,
                             api_message=msg)
    if answer.status == 403:
        raise _auth(label, "request blocked by the web application firewall (HTTP 403)",
                    "check proxies and the request; wait before retrying", code, msg)
    if isinstance(code, int) and (-1199 <= code <= -1100 or code == -3026):
        raise _param(label, code, msg)
    if answer.status in (401,):
        raise _auth(label, "unauthorized", _KEY_HINT, code, msg)
    raise ResponseError(f"{label} returned an error (HTTP {answer.status})", "see the API's code and message",
                        api_code=code, api_message=msg)


class TokenRejected(AuthError):
    """A bearer token got HTTP 401: the OAuth source fetches a fresh token once before failing."""


def check_cryptofuse(answer: Answer) -> Any:
    """Cryptofuse: no envelope; the HTTP status is the error signal."""
    label = answer.api.label
    http_failure(answer)
    err = {}
    if answer.status >= 300:
        try:
            body = answer.json()
            err = body.get("error") if isinstance(body, dict) else {}
        except ResponseError:
            err = {}
    code = err.get("code") if isinstance(err, dict) else err
    msg = err.get("message") if isinstance(err, dict) else None
    if answer.status == 401:
        raise TokenRejected(f"{label} rejected the token", "check the client id and secret or the bearer token "
                            "(`balcli auth status`)", api_code=code or 401, api_message=msg)
    if answer.status == 403:
        raise _auth(label, "missing scope or permission", "the OAuth application needs the read and write scopes",
                    code or 403, msg)
    if answer.status in (301, 302, 307, 308):
        raise ResponseError(f"{label} redirected to {answer.headers.get('Location')}",
                            "check --base-url (keep the path's trailing slash)")
    if answer.status == 400:
        raise _param(label, code or 400, msg)
    if answer.status >= 300:
        raise ResponseError(f"{label} answered HTTP {answer.status}", "see the API's code and message",
                            api_code=code, api_message=msg)
    return answer.json()


def check_cryptofuse_token(answer: Answer) -> Any:
    """Cryptofuse ``POST /o/token/`` (OAuth 2.0, RFC 6749 §5.2 errors): a bad client is exit 4 with a hint."""
    label = "Cryptofuse"
    http_failure(answer)
    try:
        body = answer.json()
    except ResponseError:
        if answer.status == 200:
            raise
        body = {}
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):  # the API's own error shape, in case the token endpoint uses it
        error = error.get("code")
    detail = body.get("error_description") if isinstance(body, dict) else None
    if answer.status == 200 and not error:
        return body
    if error == "invalid_client" or answer.status == 401:
        raise AuthError(f"{label} rejected the client id and secret at the token endpoint",
                        "check BALCLI_CRYPTOFUSE_CLIENT_ID and BALCLI_CRYPTOFUSE_CLIENT_SECRET, or store them again "
                        "with `balcli auth set cryptofuse`", api_code=error or 401, api_message=detail)
    if error in ("invalid_scope", "unauthorized_client", "unsupported_grant_type", "invalid_grant") \
            or answer.status == 403:
        raise AuthError(f"{label} refused to issue a token for this OAuth application",
                        "the application needs the client-credentials grant and the read and write scopes",
                        api_code=error or answer.status, api_message=detail)
    if answer.status in (301, 302, 307, 308):
        raise ResponseError(f"{label} token endpoint redirected to {answer.headers.get('Location')}",
                            "check --base-url (keep the path's trailing slash)")
    raise ResponseError(f"{label} token endpoint answered HTTP {answer.status}", "see the API's code and message",
                        api_code=error, api_message=detail)
