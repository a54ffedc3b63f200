"""Cryptofuse user balances and balance history (docs/apis/cryptofuse.md).

OAuth 2.0: a static bearer token, or a client id + secret exchanged at ``POST /o/token/`` (client credentials,
``scope=read write``). A fetched token is cached in a 0600 file until a minute before it expires; on a 401 a
new token is fetched once per run and the request retried. Paths keep their trailing slashes (a slash-less
URL answers 301, and a redirect would drop the ``Authorization`` header).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from balcli import cancel, exchanges, signing, views
from balcli.errors import AuthError, ResponseError
from balcli.http import Answer, Api, HttpClient, Prepared, budget_identity, http_failure
from balcli.pagination import OnPage, Warn, indexed_pages
from balcli.sources import Link
from balcli.sources._envelope import auth_error, param_error
from balcli.sources._rows import amount, need, need_list, text

TOKEN = "/o/token/"
BALANCES = "/user/balances/"
HISTORY = "/user/balances/history/"
SCOPE = "read write"
RATE_LIMIT = exchanges.get("cryptofuse").rate_limits["api"]  # requests per second: 100 per minute per key
DEFAULT_PAGE_SIZE = views.OAUTH_DEFAULT_PAGE_SIZE
CONCURRENCY = 4
SCOPES = ("account", "sub_accounts")


class CryptofuseApi(Api):
    """Bearer-token requests; the token may be replaced once when Cryptofuse rejects it."""

    name = "cryptofuse"
    label = "Cryptofuse"

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.token = token

    def prepare(self, method: str, path: str, params: list[tuple[str, Any]], now_ms: int) -> Prepared:
        return Prepared(method, self.base_url + path, [(k, str(v)) for k, v in params],
                        {"Authorization": f"Bearer {self.token}"})

    def check(self, answer: Answer) -> Any:
        return check_cryptofuse(answer)

    def secrets(self) -> Iterable[str]:
        return (self.token,)


class TokenEndpoint(Api):
    """``POST /o/token/`` with HTTP Basic client authentication and a form body."""

    name = "cryptofuse"
    label = "Cryptofuse token endpoint"

    def __init__(self, base_url: str, client_id: str, client_secret: str) -> None:
        self.base_url = base_url
        self._id = client_id
        self._secret = client_secret

    def prepare(self, method: str, path: str, params: list[tuple[str, Any]], now_ms: int) -> Prepared:
        body = urlencode([("grant_type", "client_credentials"), ("scope", SCOPE)]).encode("ascii")
        headers = {"Authorization": signing.basic_auth(self._id, self._secret),
                   "Content-Type": "application/x-www-form-urlencoded", "Cache-Control": "no-cache",
                   "Accept": "application/json"}
        return Prepared(method, self.base_url + path, [], headers, body, log_note=f"form: {body.decode()}")

    def check(self, answer: Answer) -> Any:
        return check_cryptofuse_token(answer)

    def secrets(self) -> Iterable[str]:
        # The Basic value too: base64 of "id:secret" would give the secret away to anyone who decodes it.
        return (self._secret, signing.basic_auth(self._id, self._secret).split(" ", 1)[1])


class Session:
    """The bearer token of one run and the rule for replacing it.

    ``fields`` is what ``Run.credentials("cryptofuse")`` resolved: ``{"token"}`` (static: never refreshed; a 401
    fails at once) or ``{"client_id", "client_secret"}`` (fetched, cached in ``cache_path`` when given,
    fetched again once on a 401). The cache entry is keyed by client id and base URL, so a token is never sent
    to a host other than the one that issued it.
    """

    def __init__(self, client: HttpClient, base_url: str, fields: dict[str, str], *, cache_path: Path | None,
                 warn: Callable[[str], None] = lambda _: None, clock: Callable[[], float] | None = None,
                 rate_limit: float = RATE_LIMIT) -> None:
        self.client = client
        # 100 per minute per key (docs/apis/cryptofuse.md): every process using this client id or token
        self.limiter = client.limiter("cryptofuse", rate_limit, key=budget_identity(
            "cryptofuse", base_url, fields.get("client_id") or fields.get("token") or ""))
        self.base_url = base_url
        self.static = "token" in fields
        self.cache_path = None if self.static else cache_path
        self.warn = warn
        self.clock = clock or (lambda: time.time())
        self._lock = threading.Lock()
        self.refreshed = False
        if self.static:
            self.api = CryptofuseApi(base_url, fields["token"])
        else:
            self._endpoint = TokenEndpoint(base_url, fields["client_id"], fields["client_secret"])
            self._identity = f"{fields['client_id']} {base_url}"
            self.api = CryptofuseApi(base_url, self._cached() or self._fetch())

    def _cached(self) -> str | None:
        from balcli import credentials

        if self.cache_path is None:
            return None
        return credentials.cached_token(self.cache_path, self._identity, self.clock())

    def _fetch(self) -> str:
        from balcli import credentials

        started = self.clock()
        body = self.client.call(self._endpoint, "POST", TOKEN)
        token = need(body, "access_token", "Cryptofuse token answer")
        kind = body.get("token_type")
        if not isinstance(token, str) or not token or (kind is not None and str(kind).lower() != "bearer"):
            raise ResponseError("Cryptofuse token answer has no usable bearer token",
                                "check --base-url; run with -vv to see the answer (the token is redacted)")
        self.client.add_secrets([token])
        expires_in = body.get("expires_in")
        if self.cache_path is not None and isinstance(expires_in, int) and not isinstance(expires_in, bool):
            try:
                credentials.store_token(self.cache_path, self._identity, token, started + expires_in)
            except OSError as exc:
                self.warn(f"could not cache the Cryptofuse token in {self.cache_path}: {exc.strerror}")
        return token

    def call(self, path: str, params: list[tuple[str, Any]] | None = None) -> Any:
        """A GET with the current token; on a 401, one fresh token per run (never for a static token)."""
        used = self.api.token
        try:
            return self.client.call(self.api, "GET", path, params, limiter=self.limiter)
        except TokenRejected as exc:
            if self.static:
                exc.hint = ("the bearer token (BALCLI_CRYPTOFUSE_TOKEN or `balcli auth set cryptofuse`) was rejected "
                            "or has expired: replace it, or store a client id + secret so balcli fetches tokens")
                raise
            with self._lock:
                if self.api.token == used:  # not replaced by another page's thread meanwhile
                    if self.refreshed:
                        self._forget()
                        raise self._final(exc) from None
                    self.refreshed = True
                    self._forget()
                    self.api.token = self._fetch()
        cancel.retrying()  # the page is sent again, with the new token
        try:
            return self.client.call(self.api, "GET", path, params, limiter=self.limiter)
        except TokenRejected as exc:
            self._forget()
            raise self._final(exc) from None

    def _forget(self) -> None:
        from balcli import credentials

        if self.cache_path is not None:
            credentials.forget_token(self.cache_path)

    @staticmethod
    def _final(exc: TokenRejected) -> TokenRejected:
        exc.message = "Cryptofuse rejected a freshly issued token"
        exc.hint = ("the OAuth application may lack the read and write scopes or be disabled; check it in "
                    "Cryptofuse's dashboard")
        return exc


# -- endpoints ---------------------------------------------------------------------------------------------

def connect(link: Link, warn: Callable[[str], None] = lambda _: None) -> Session:
    """A session for this run's token: static, cached, or fetched now with the client credentials."""
    return Session(link.client, link.settings["base_url"], dict(link.fields), cache_path=link.token_cache,
                   warn=warn, rate_limit=link.rate_limit(RATE_LIMIT))


def probe(link: Link) -> None:
    """``GET /user/balances/`` (after a token request, unless a token is cached or static)."""
    balances(connect(link, link.client.warn))


def balances(session: Session) -> tuple[list[dict], dict[str, Any]]:
    """``GET /user/balances/``: rows sorted by scope then currency, and the ``statistics`` object."""
    body = session.call(BALANCES)
    rows = []
    for scope in SCOPES:
        where = f"Cryptofuse balances '{scope}'"
        if not isinstance(body, dict) or scope not in body:
            raise ResponseError(f"Cryptofuse balances: the answer has no '{scope}' field",
                                "the API changed or a proxy altered the answer; run with -vv to see it")
        holdings = body[scope] if body[scope] is not None else {}  # null: no sub-accounts
        if not isinstance(holdings, dict):
            raise ResponseError(f"{where} is not an object of currency -> balance",
                                "run with -vv to see the answer")
        rows += [{"scope": scope, "currency": currency, "balance": amount(holdings, currency, where)}
                 for currency in sorted(holdings)]
    stats = body.get("statistics")
    return rows, stats if isinstance(stats, dict) else {}


def statistics_lines(stats: dict[str, Any]) -> list[str]:
    if not stats:
        return []
    return ["statistics: " + ", ".join(f"{k} {v}" for k, v in stats.items())]


def history_pages(
    session: Session, *, currency: str | None = None, kind: str | None = None, page_size: int = DEFAULT_PAGE_SIZE,
    max_items: int | None = None, concurrency: int = CONCURRENCY, warn: Warn | None = None,
    on_page: OnPage | None = None,
) -> Iterator[list[dict]]:
    """``GET /user/balances/history/`` with ``limit``/``offset``, every page to ``total`` (newest first).

    The API has no id per entry, so a row repeated across pages (the same values in every field) is dropped.
    """

    def fetch(index: int, size: int) -> tuple[list[dict], int]:
        params = [("currency", currency), ("type", kind), ("limit", size), ("offset", index * size)]
        body = session.call(HISTORY, [(k, v) for k, v in params if v is not None])
        entries = need_list(body, "history", "Cryptofuse balance history")
        total = need(body, "total", "Cryptofuse balance history")
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            raise ResponseError(f"Cryptofuse balance history: 'total' is not a count ({total!r})",
                                "run with -vv to see the answer")
        return [history_row(e) for e in entries], total

    kwargs: dict[str, Any] = {"warn": warn} if warn else {}
    if on_page:
        kwargs["on_page"] = on_page
    return indexed_pages(fetch, page_size=page_size, key=lambda row: tuple(row.values()),
                         label="Cryptofuse balance history", max_items=max_items, concurrency=concurrency,
                         speculate_after=session.limiter.interval, **kwargs)


def history_row(entry: Any) -> dict:
    where = "Cryptofuse balance history[]"
    return {"timestamp": utc_text(text(entry, "timestamp", where), where), "currency": text(entry, "currency", where),
            "type": text(entry, "type", where), "amount": amount(entry, "amount", where),
            "balance_after": amount(entry, "balance_after", where)}


def utc_text(value: str, where: str) -> str:
    """An ISO 8601 time as UTC with a ``Z``: ``...Z`` and ``+00:00`` keep their digits; other offsets convert."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ResponseError(f"{where}: 'timestamp' is not an ISO 8601 time ({value!r})",
                            "run with -vv to see the answer") from None
    if parsed.tzinfo is None or parsed.utcoffset() == timedelta(0):
        for suffix in ("Z", "z", "+00:00", "+0000", "+00"):
            if value.endswith(suffix):
                return value[: -len(suffix)] + "Z"
        if parsed.tzinfo is None:
            return value + "Z"
    try:
        utc = parsed.astimezone(timezone.utc)
    except OverflowError:  # 0001-01-01T00:00:00+08:00 is before year 1 in UTC
        raise ResponseError(f"{where}: 'timestamp' is outside the years 1-9999 in UTC ({value!r})",
                            "run with -vv to see the answer") from None
    micro = utc.microsecond
    frac = "" if not micro else f".{micro // 1000:03d}" if micro % 1000 == 0 else f".{micro:06d}"
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + frac + "Z"


# -- answers -> typed errors (the API's envelope and codes) -----------------------------------------

class TokenRejected(AuthError):
    """A bearer token got HTTP 401: the OAuth source fetches a fresh token once before failing."""


def check_cryptofuse(answer: Answer) -> Any:
    """Cryptofuse: no envelope; the HTTP status is the error signal."""
    label = answer.api.label
    http_failure(answer)
    err: Any = {}  # the "error" member: an object, a bare code, or absent
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
        raise auth_error(label, "missing scope or permission", "the OAuth application needs the read and write scopes",
                    code or 403, msg)
    if answer.status in (301, 302, 307, 308):
        raise ResponseError(f"{label} redirected to {answer.headers.get('Location')}",
                            "check --base-url (keep the path's trailing slash)")
    if answer.status == 400:
        raise param_error(label, code or 400, msg)
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


# -- balcli summary ------------------------------------------------------------------------------------

def summary_rows(link: Link, scopes: Iterable[str] = ("oauth.account", "oauth.sub_accounts"), *,
                 warn: Callable[[str], None] | None = None, on_page: Any = None) -> Iterator[list[dict]]:
    """Scopes ``oauth.account`` and ``oauth.sub_accounts``: one ``GET /user/balances/``, per currency (with
    its network, as Cryptofuse names it: ``USDTERC20``)."""
    from balcli.sources._summary import Sums

    wanted = set(scopes)
    rows, _ = balances(connect(link, warn or (lambda _: None)))
    sums = Sums()
    for row in rows:
        scope = f"oauth.{row['scope']}"
        if scope in wanted:
            sums.add(scope, row["currency"], row["balance"])
    if on_page is not None:
        on_page(1, len(rows), None)
    yield sums.rows()
