"""The transport: one ``requests.Session`` per run, the rate limiters of the run, safe retries, clock-skew
recovery and redacted ``-v``/``-vv`` logging. It knows no exchange: an ``Api`` (defined next to its endpoints in
``balcli.sources``) signs each request and reads each answer (its ``check``, which turns the API's envelope codes
into typed errors); what every API signals the same way (429, 5xx, an HTML error page, ``Retry-After``) is read
here. It never prints results; it only logs to stderr. ``requests`` is imported lazily (start-up cost).

Hints that name command-line flags are the caller's (``HttpClient(hints=...)``): the transport's defaults say
what to check without naming an option.
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
    BalcliError,
    ClockSkewError,
    ConfigError,
    Interrupted,
    NetworkError,
    RateLimitError,
    ResponseError,
)
from balcli.limiter import RateLimiter
from balcli.redaction import redact_headers, redact_query, redact_text

USER_AGENT = f"balcli/{__version__}"
BODY_LOG_LIMIT = 4000
# The largest answer (after gzip/deflate decoding) balcli reads: far above any real page (the largest, a
# 1,000-customer broker page, is under 1 MiB), low enough that a hostile or broken server (a gzip bomb, an
# endless chunked body) cannot exhaust memory. A larger answer ends the run with exit 7.
MAX_ANSWER_BYTES = 64 * 1024 * 1024
READ_CHUNK = 16 * 1024  # raw bytes per read: a chunk of gzip decodes to at most ~16 MiB

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
        except RecursionError:
            raise ResponseError(f"{self.api.label} answered HTTP {self.status} with JSON nested too deeply to read",
                                "the API or a proxy in between is misbehaving; retry later or check the base URL"
                                ) from None
        except ValueError:
            kind = "an HTML page" if _looks_html(self.text) else "invalid JSON"
            raise ResponseError(f"{self.api.label} answered HTTP {self.status} with {kind}: {snippet(self)}",
                                "the API may be down or a proxy is in the way; retry later or check the base URL"
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

    def limit_identity(self) -> str | None:
        """Whose rate budget this API spends (``budget_identity(...)``), shared by every balcli process that
        spends it; None: this process's alone."""
        return None


def budget_identity(*parts: str) -> str:
    """A short name for a rate budget (an API's host and key, say) that reveals neither: a hash."""
    import hashlib

    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:24]


# What the transport's own errors suggest; the command layer passes versions that name its flags.
DEFAULT_HINTS: Mapping[str, str] = MappingProxyType({
    "bad_request": "check the base URL, and the credentials for stray characters",
    "timeout": "allow a longer timeout, or check the network and the API's status",
    "unreachable": "check the network, proxies (HTTPS_PROXY) and the base URL",
    "not_json": "the API may be down or a proxy is in the way; retry later or check the base URL",
})


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
                 pool_size: int = 4, hints: Mapping[str, str] | None = None, share_limits: bool = True) -> None:
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
        self.hints = {**DEFAULT_HINTS, **(hints or {})}
        self._limiters: dict[str, RateLimiter] = {}
        self.share_limits = share_limits
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
                s.auth = _signed_by_the_api  # else requests reads ~/.netrc for every request (time), and an
                # entry for an API host would replace the Authorization header the Api set (Cryptofuse's bearer)
                adapter = HTTPAdapter(pool_connections=4, pool_maxsize=self.pool_size, max_retries=0)
                adapter.poolmanager.pool_classes_by_scheme = _watched_pools()
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

    def limiter(self, bucket: str, per_second: float, key: str | None = None) -> RateLimiter:
        """The run's one limiter for ``bucket`` (an API, or one endpoint family of it): every request and every
        page worker of that bucket waits on it, and a 429's pause holds them all. With ``key`` (the identity of
        the budget: ``Api.limit_identity()``, a hash), its slots are shared with every other balcli process
        spending that budget, through the user cache folder (README "When things go wrong"); without a usable
        folder, a -v note."""
        with self._lock:
            if bucket not in self._limiters:
                shared = None
                if key is not None and self.share_limits:
                    from balcli.limiter import shared_slots

                    shared = shared_slots(key, note=self.log if self.verbose else None)
                self._limiters[bucket] = RateLimiter(per_second, shared=shared, bucket=bucket,
                                                      sleep=lambda s: self._pace(s, bucket))
            return self._limiters[bucket]

    def _pace(self, seconds: float, bucket: str) -> None:
        """A limiter's wait: one of a second or more is a wait like any other (``on_wait``, a countdown on a
        terminal: a budget of a few calls a minute otherwise looks hung); shorter pacing just sleeps."""
        if seconds >= 1.0:
            self._wait(seconds, f"{bucket} rate limit")
        else:
            self.sleep(seconds)

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
        message shown to the user gets the redaction of the -v log (README "Credentials": no secret in any message)."""
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
            if limiter is not None:  # a 429 received after our acquire(), or a worker that went out late, binds us
                waited += limiter.wait_turn()
                if cancel.stopped():
                    raise Interrupted("cancelled: the run is ending")
            prepared = api.prepare(method, path, params, self.now_ms(api))
            self.add_secrets(api.secrets())  # what the request derived from a secret (CoinW's constant sign)
            try:
                answer = self._send(api, prepared, attempt, waited, limiter)
                api.observe(answer)
                return api.check(answer)
            except ClockSkewError:
                if resynced or not self._resync(api):
                    raise
                resynced = True
                cancel.retrying()  # the request is sent again
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
                    limiter.hold(delay)  # binds every worker, whether or not this one retries
                cancel.retrying()
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
        """One request with an overall deadline: connect, headers and the whole body within ``timeout`` (a
        watchdog shuts the socket at the deadline, so a server that drips its body or never ends a chunked
        one cannot stretch a run), and at most ``MAX_ANSWER_BYTES`` of decoded body."""
        import requests
        from urllib3.util import Timeout

        query = p.query if isinstance(p.query, str) else urlencode(p.query)
        url = f"{p.url}?{query}" if query else p.url
        started = time.monotonic()
        if limiter is not None:
            limiter.sent()
        cancel.sending()
        watch = _Watch()
        _WATCHED.current = watch
        timer = threading.Timer(self.timeout, watch.expire)
        timer.daemon = True
        timer.start()
        try:
            try:
                r = self.session.request(p.method, url, headers=p.headers, data=p.body,
                                         timeout=Timeout(total=self.timeout), allow_redirects=False, stream=True)
                if r.status_code == 429 and limiter is not None:  # hold every worker now, not after the body
                    limiter.hold(min(retry_after_seconds(r.headers) or self.RATE_LIMIT_BACKOFF_BASE,
                                     self.MAX_RETRY_AFTER))
                text = self._read_body(api, r, watch)
            finally:
                timer.cancel()
                _WATCHED.current = None
        except (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema,
                requests.exceptions.MissingSchema, requests.exceptions.InvalidHeader, UnicodeError) as exc:
            # A request that cannot even be built: a retry cannot help, and it is not the network's fault.
            # Only the exception's name: its text may quote a header value, that is, a key or token.
            self._log_request(p, query, None, started, attempt, waited, None)
            raise ConfigError(f"cannot send a request to {api.label} at {api.base_url}: the URL or a header "
                              f"value is not valid ({type(exc).__name__})", self.hints["bad_request"]) from None
        except (requests.Timeout, _Expired):
            self._log_request(p, query, None, started, attempt, waited, None)
            raise NetworkError(f"{api.label} did not answer within {self.timeout:g} s "
                               "(connect and the whole answer)",
                               self.hints["timeout"]) from None
        except requests.RequestException as exc:
            self._log_request(p, query, None, started, attempt, waited, None)
            if watch.expired:
                raise NetworkError(f"{api.label} did not answer within {self.timeout:g} s "
                               "(connect and the whole answer)",
                                   self.hints["timeout"]) from None
            raise NetworkError(f"cannot reach {api.label} at {api.base_url}: {_reason(exc)}",
                               self.hints["unreachable"]) from None
        self._log_request(p, query, r.status_code, started, attempt, waited, text)
        return Answer(r.status_code, r.headers, text, api)

    def _read_body(self, api: Api, r: Any, watch: _Watch) -> str:
        """The decoded body, read in chunks under the deadline and the size cap; the connection goes back to
        the pool (keep-alive) once the body is read in full."""
        import requests
        from urllib3.exceptions import HTTPError as Urllib3Error

        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in r.raw.stream(READ_CHUNK, decode_content=True):
                size += len(chunk)
                if size > MAX_ANSWER_BYTES:
                    r.raw.close()  # drop the connection: the rest of the body is never read
                    raise ResponseError(
                        f"{api.label} sent an answer larger than {MAX_ANSWER_BYTES // 2**20} MiB (decoded); "
                        "balcli stopped reading it",
                        "the API or a proxy in between is misbehaving; check the base URL and retry later")
                if watch.expired:
                    raise _Expired
                chunks.append(chunk)
        except (Urllib3Error, OSError) as exc:
            r.raw.close()
            if watch.expired:
                raise _Expired from None
            raise requests.exceptions.ConnectionError(exc) from None
        except BaseException:
            r.raw.close()
            raise
        if watch.expired:
            r.raw.close()
            raise _Expired
        r._content = b"".join(chunks)
        r._content_consumed = True
        r.close()  # body consumed: releases the connection to the pool, it is not closed
        return r.text

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
                self.log("  > headers: " + redact_headers(p.headers.items()))
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


def _signed_by_the_api(request: Any) -> Any:
    """The session's auth: none beyond what each ``Api.prepare`` put in the request."""
    return request


# -- the deadline watchdog ------------------------------------------------------------------------------

class _Expired(Exception):
    """The request's overall deadline passed (the watchdog shut its socket)."""


class _Watch:
    """One request's watchdog state: the connection it uses (recorded by the pool) and whether time ran out."""

    __slots__ = ("conn", "expired", "lock")

    def __init__(self) -> None:
        self.conn: Any = None
        self.expired = False
        self.lock = threading.Lock()

    def attach(self, conn: Any) -> None:
        with self.lock:
            self.conn = conn
            late = self.expired
        if late:
            _shut(conn)

    def expire(self) -> None:
        with self.lock:
            self.expired = True
            conn = self.conn
        if conn is not None:
            _shut(conn)


def _shut(conn: Any) -> None:
    """Wake a read blocked on ``conn`` (from another thread): shutting the socket makes it return at once."""
    import socket

    sock = getattr(conn, "sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


_WATCHED = threading.local()  # .current: the _Watch of the request this thread is sending


def _watched_pools() -> dict[str, type]:
    """urllib3 pool classes that hand each connection they give out to the sending thread's watchdog."""
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    def _get_conn(self: Any, timeout: float | None = None) -> Any:
        conn = type(self).__mro__[1]._get_conn(self, timeout)  # type: ignore[attr-defined]
        watch = getattr(_WATCHED, "current", None)
        if watch is not None:
            watch.attach(conn)
        return conn

    return {"http": type("WatchedHTTPConnectionPool", (HTTPConnectionPool,), {"_get_conn": _get_conn}),
            "https": type("WatchedHTTPSConnectionPool", (HTTPSConnectionPool,), {"_get_conn": _get_conn})}


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


def snippet(answer: Answer) -> str:
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
        seconds = float(value)  # float-ok: seconds, not an amount
    except ValueError:
        pass
    else:  # "inf", "1e400", "nan": no usable pause (a huge one still ends the run, exit 5)
        return min(max(0.0, seconds), MAX_PAUSE) if seconds == seconds else None
    try:
        when = email.utils.parsedate_to_datetime(value)
        return min(max(0.0, when.timestamp() - (wall or time.time)()), MAX_PAUSE)
    except (TypeError, ValueError, OverflowError, IndexError, OSError):
        return None


MAX_PAUSE = 366 * 86400.0  # a Retry-After or ban beyond a year is read as a year (a date can still be written)


def until_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    try:
        until = time.gmtime(time.time() + min(seconds, MAX_PAUSE))
    except (OverflowError, ValueError, OSError):
        return ""
    return f" until {time.strftime('%Y-%m-%dT%H:%M:%SZ', until)}"


# -- what every API signals the same way (docs/apis/README.md#errors-and-exit-codes) ------------------

RETRY_STATUSES = frozenset({500, 502, 503, 504})  # README "When things go wrong": server failures a retry can fix


class ServerRefused(NetworkError):
    """A server failure that a retry will not fix (an HTML error page on a 4xx, 501, 505...): exit 6 at once."""

    default_hint = "check the base URL, proxies and the API's status page; balcli did not retry this answer"


def http_failure(answer: Answer) -> None:
    """Failures every API signals the same way: 429 (rate limited), 5xx and HTML error pages (exit 6; only
    500/502/503/504 are retried)."""
    label, status = answer.api.label, answer.status
    if status == 429:  # first: rate-limit pages are often HTML, and they are still exit 5 after retries
        retry = retry_after_seconds(answer.headers)
        raise RateLimitError(f"{label} rate limit reached (HTTP 429)", retry_after=retry,
                             hint=f"wait{until_text(retry) or ' a minute'} and run again; lower rate_limit in the "
                                  "config if another client shares this key")
    if status >= 500 or (status >= 400 and _looks_html(answer.text)):
        page = " (HTML error page)" if _looks_html(answer.text) else ""
        error = NetworkError if status in RETRY_STATUSES else ServerRefused
        raise error(f"{label} failed with HTTP {status}{page}", retry_after=retry_after_seconds(answer.headers))


