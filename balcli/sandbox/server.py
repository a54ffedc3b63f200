"""The sandbox HTTP server: one ``ThreadingHTTPServer`` on 127.0.0.1 serving all five APIs, a request log,
fault injection and rate limits. See the package docstring for the public API.
"""

from __future__ import annotations

import copy
import random
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from . import binance, coinw_affiliate, coinw_spot, cryptofuse, zoomex
from .core import (
    API_NAMES,
    LoggedRequest,
    Reply,
    Request,
    RollingLimiter,
    html_reply,
    json_bytes,
    remove_path,
)
from .credentials import DEMO_STATIC_TOKEN, LIMITED_CLIENT, LIMITED_CREDENTIALS, default_accounts
from .data import DemoData

Handler = Callable[["Sandbox", Request], Reply]

_MODULES = {"zoomex": zoomex, "coinw_spot": coinw_spot, "binance": binance,
            "coinw_affiliate": coinw_affiliate, "cryptofuse": cryptofuse}

ROUTES: dict[str, tuple[str, Handler]] = {}
for _api, _module in _MODULES.items():
    for _path, _fn in _module.ROUTES.items():
        ROUTES[_path] = (_api, _fn)

# Which API an unknown path belongs to (for the log and for faults); the longest prefix wins.
_PREFIXES = sorted([(p, api) for api, m in _MODULES.items() for p in m.PREFIXES], key=lambda x: -len(x[0]))

FAULTS = ("latency", "error_rate", "http_error", "rate_limit", "ban", "invalid_json", "missing_field",
          "cursor_cycle", "repeat_page", "short_total", "unreachable_total", "total_changes", "timeout", "drop",
          "empty_spot", "refused")

DEFAULT_LIMITS: dict[str, dict[str, Any]] = {
    "zoomex": {"count": 5, "window": 1.0},  # per api key (UID), rolling
    "zoomex_ip": {"count": 600, "window": 5.0, "ban": 600.0},  # broker traffic of the IP -> HTTP 403 + ban
    "coinw_spot": {"count": 3, "window": 1.0},  # returnBalances, per key
    "coinw_spot_complete": {"count": 5, "window": 2.0},  # returnCompleteBalances, per key
    "coinw_affiliate": {"count": 5, "window": 1.0},  # per key
    "binance": {"weight": 2400, "budget": 12000, "window": 60.0, "ban": 120.0},  # per IP, calendar minute
    "cryptofuse": {"count": 100, "window": 60.0},  # per token owner (client id)
}


def _api_for_path(path: str) -> str:
    for prefix, api in _PREFIXES:
        if path.startswith(prefix):
            return api
    return "unknown"


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # an embedded sandbox never holds up the interpreter's exit; ``stop()`` joins them
    allow_reuse_address = True
    sandbox: Sandbox
    handlers: list[threading.Thread]

    def process_request(self, request: Any, client_address: Any) -> None:
        """One thread per connection, as in ThreadingMixIn, but every one kept for `stop()` to join."""
        thread = threading.Thread(target=self.process_request_thread, args=(request, client_address),
                                  name=f"balcli-sandbox-{self.server_address[1]}-connection", daemon=True)
        self.handlers = [t for t in getattr(self, "handlers", []) if t.is_alive()] + [thread]
        thread.start()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    sys_version = ""
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Without this, a keep-alive client waits ~40 ms per request (Nagle + delayed ACK).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn_id = self.server.sandbox._accepted(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.sandbox._closed(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        sb = self.server.sandbox
        body = self._read_body()
        reply, logged = sb._handle(self.command, self.path, dict(self.headers.items()), body, self.conn_id)
        if reply.drop:
            self.close_connection = True
            sb._log(logged)
            return
        out = [f"HTTP/1.1 {reply.status} {self.responses.get(reply.status, ('Error',))[0]}\r\n"]
        out.append(f"Server: nginx\r\nDate: {self.date_time_string()}\r\n")
        for name, value in reply.headers:
            out.append(f"{name}: {value}\r\n")
        payload = b"" if self.command == "HEAD" else reply.body
        out.append(f"Content-Length: {len(reply.body)}\r\n")
        if self.close_connection:
            out.append("Connection: close\r\n")
        out.append("\r\n")
        sb._log(logged)  # before answering: a client that reads the log right after its response sees it
        try:
            # One write for headers and body: a single segment per response.
            self.wfile.write("".join(out).encode("latin-1") + payload)
        except OSError:
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _dispatch


class Sandbox:
    """The fake exchange. See the package docstring for the full description.

    ``limits`` overrides entries of ``DEFAULT_LIMITS`` (merged per entry), e.g.
    ``Sandbox(limits={"binance": {"budget": 4800, "window": 2.0}, "zoomex": {"count": 2, "window": 0.3}})``.
    """

    def __init__(self, seed: int = 7, customers: int = 300, invitees: int = 250, history: int = 230,
                 latency_ms: float = 0, error_rate: float = 0.0, rate_limits: bool = True,
                 clock_offset_ms: int = 0, frozen_time_ms: int | None = None, token_ttl: float = 3600,
                 port: int = 0, host: str = "127.0.0.1", limits: dict[str, dict[str, Any]] | None = None,
                 epoch: int = 0, clock: Callable[[], float] | None = None) -> None:
        self.seed = seed
        self.epoch = epoch
        self.clock = clock
        self.latency_ms = latency_ms
        self.error_rate = error_rate
        self.rate_limits = rate_limits
        self.clock_offset_ms = clock_offset_ms
        self.frozen_time_ms = frozen_time_ms
        self.token_ttl = token_ttl
        self.host = host
        self.port = port
        self.limits = {name: dict(v) for name, v in DEFAULT_LIMITS.items()}
        for name, override in (limits or {}).items():
            if name not in self.limits:
                raise ValueError(f"unknown limit {name!r}; known: {', '.join(self.limits)}")
            self.limits[name].update(override)
        self.data = DemoData(seed=seed, customers=customers, invitees=invitees, history=history,
                             anchor_ms=self.now_ms(), epoch=epoch)
        self.accounts: dict[str, str] = default_accounts()
        self.limited_keys: set[str] = {LIMITED_CREDENTIALS["api_key"]}
        self.client_scopes: dict[str, set[str]] = {LIMITED_CLIENT["client_id"]: {"read"}}
        self.static_tokens: dict[str, str] = {DEMO_STATIC_TOKEN: "read write"}
        self.state: dict[str, Any] = {}  # per-API mutable state (limiters, tokens, weights), owned by the modules
        self._lock = threading.Lock()
        self._log_list: list[LoggedRequest] = []
        self._faults: list[dict[str, Any]] = []
        self._random = random.Random(f"{seed}:faults")
        self._connections = 0
        self._open: dict[int, socket.socket] = {}
        self.nodelay: list[bool] = []  # TCP_NODELAY as read back from each accepted socket
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Sandbox:
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server((self.host, self.port), _Handler)
        server.sandbox = self
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"balcli-sandbox-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and end every thread of the server: the accepting one and one per connection (a
        keep-alive connection is shut down, an injected latency or timeout is cut short)."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()  # serve_forever has returned: no connection is accepted any more
        server.server_close()
        with self._lock:
            conns = list(self._open.values())
        for conn in conns:
            _shut(conn)
        deadline = time.perf_counter() + 5  # not time.monotonic: a test's fake clock may patch that
        for thread in [self._thread, *getattr(server, "handlers", [])]:
            if thread is not None:
                thread.join(timeout=max(0.0, deadline - time.perf_counter()))

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("sandbox not started")
        return f"http://{self.host}:{self.port}"

    def expire_tokens(self) -> None:
        """Expire every Cryptofuse access token issued so far (static tokens stay valid)."""
        with self._lock:
            for info in self.state.get("cryptofuse_tokens", {}).values():
                info["expires"] = float("-inf")  # float-ok: a token expiry, not an amount

    # ------------------------------------------------------------------ clock
    def now_ms(self) -> int:
        """The server clock: frozen if ``frozen_time_ms`` is set, else wall clock + ``clock_offset_ms``."""
        if self.frozen_time_ms is not None:
            return int(self.frozen_time_ms)
        return int(time.time() * 1000) + int(self.clock_offset_ms)

    def limit_seconds(self) -> float:
        """The clock of the rolling rate-limit windows, bans and token lifetimes: ``clock`` if one was given,
        else the monotonic clock (not the server clock: a shifted or frozen one leaves the limits alone)."""
        return self.clock() if self.clock is not None else time.monotonic()

    def calendar_seconds(self) -> float:
        """The clock of Binance's calendar windows (whole minutes of the wall clock): ``clock`` if one was given,
        else the wall clock."""
        return self.clock() if self.clock is not None else time.time()

    # ------------------------------------------------------------------ log
    @property
    def requests(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._log_list)

    def clear_log(self) -> None:
        with self._lock:
            self._log_list.clear()

    def count(self, api: str | None = None, status: int | None = None, rate_limited: bool | None = None) -> int:
        return sum(1 for r in self.requests
                   if (api is None or r.api == api) and (status is None or r.status == status)
                   and (rate_limited is None or r.rate_limited == rate_limited))

    @property
    def connections(self) -> int:
        return self._connections

    def _log(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._log_list.append(entry)

    def _accepted(self, conn: socket.socket) -> int:
        nodelay = bool(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        with self._lock:
            self._connections += 1
            self._open[self._connections] = conn
            self.nodelay.append(nodelay)
            number = self._connections
        if self._stopping.is_set():  # accepted as stop() began: it may have missed this one
            _shut(conn)
        return number

    def _closed(self, conn: socket.socket) -> None:
        with self._lock:
            for key, value in list(self._open.items()):
                if value is conn:
                    del self._open[key]

    def limiter(self, name: str) -> RollingLimiter:
        """The rolling limiter of ``limits[name]`` (created on first use)."""
        with self._lock:
            lim = self.state.get(f"limiter:{name}")
            if lim is None:
                spec = self.limits[name]
                window = float(spec["window"])  # float-ok: seconds
                lim = self.state[f"limiter:{name}"] = RollingLimiter(int(spec["count"]), window, self.limit_seconds)
            return lim

    # ------------------------------------------------------------------ faults
    def inject(self, fault: str, api: str | None = None, times: int | None = None, **options: Any) -> None:
        """Add a fault for ``api`` (None = every API), for the next ``times`` uses (None = until cleared)."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")
        if api is not None and api not in API_NAMES:
            raise ValueError(f"unknown api {api!r}; known: {', '.join(API_NAMES)}")
        if times is not None and times <= 0:
            raise ValueError("times must be positive or None")
        with self._lock:
            self._faults.append({"kind": fault, "api": api, "remaining": times, "options": options})

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self, api: str, kind: str, applied: list[str],
                    when: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any] | None:
        with self._lock:
            for fault in self._faults:
                if fault["kind"] != kind or fault["api"] not in (None, api):
                    continue
                if when is not None and not when(fault["options"]):
                    continue
                if fault["remaining"] is not None:
                    fault["remaining"] -= 1
                    if fault["remaining"] <= 0:
                        self._faults.remove(fault)
                applied.append(kind)
                return dict(fault["options"])
        return None

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    # ------------------------------------------------------------------ request handling
    def _handle(self, method: str, target: str, headers: dict[str, str], body: bytes,
                conn_id: int) -> tuple[Reply, LoggedRequest]:
        started = time.time()
        split = urlsplit(target)
        path, raw_query = split.path, split.query
        query = parse_qsl(raw_query, keep_blank_values=True)
        route = ROUTES.get(path)
        api = route[0] if route else _api_for_path(path)
        lower = {k.lower() for k in headers}
        if route is None and api == "binance" and "api_key" in lower and "x-mbx-apikey" not in lower:
            api = "coinw_affiliate"  # /api/v3/ is shared; CoinW's own headers say whose wrong path it is
        applied: list[str] = []

        def take(kind: str) -> dict[str, Any] | None:
            return self._take_fault(api, kind, applied)

        req = Request(method=method, path=path, raw_query=raw_query, query=query,
                      headers={k.lower(): v for k, v in headers.items()}, body=body, now_ms=self.now_ms(),
                      api=api, take_fault=take)
        try:
            reply = self._respond(req, route, take, applied)
        except Exception as exc:  # noqa: BLE001 - a sandbox bug must not hang the client: answer 500 and say so
            reply = Reply(500, json_bytes({"sandbox_error": f"{type(exc).__name__}: {exc}"}),
                          [("Content-Type", "application/json")])
        logged = LoggedRequest(method=method, path=path, query=query, headers=dict(headers), body=body,
                               status=0 if reply.drop else reply.status, api=api, time=started,
                               connection=conn_id, rate_limited=reply.rate_limited,
                               fault=",".join(applied) or None)
        return reply, logged

    def _respond(self, req: Request, route: tuple[str, Handler] | None, take: Callable[[str], Any],
                 applied: list[str]) -> Reply:
        api = req.api
        module = _MODULES.get(api)
        if self.latency_ms:
            self._sleep(self.latency_ms / 1000)
        opts = take("latency")
        if opts is not None:
            self._sleep(float(opts.get("ms", 100)) / 1000)  # float-ok: seconds
        opts = take("timeout")
        if opts is not None:
            self._sleep(float(opts.get("seconds", 30)))  # float-ok: seconds
        if take("drop") is not None:
            return Reply(0, b"", drop=True)
        if self.error_rate and self._random.random() < self.error_rate:
            applied.append("error_rate")
            return _server_error(module, 500, html=False)
        opts = self._take_fault(api, "error_rate", applied,
                                when=lambda o: self._random.random() < float(o.get("rate", 0.5)))  # float-ok: seconds
        if opts is not None:
            return _server_error(module, 500, html=bool(opts.get("html", False)))
        opts = take("http_error")
        if opts is not None:
            return _server_error(module, int(opts.get("status", 500)), html=bool(opts.get("html", False)))
        if module is not None:
            opts = take("ban")
            if opts is not None:
                return module.banned(self, req, float(opts.get("retry_after", 120)))  # float-ok: seconds
            opts = take("rate_limit")
            if opts is not None:
                return module.limited(self, req, float(opts.get("retry_after", 1)))  # float-ok: seconds
            if take("refused") is not None:
                return module.refused(self, req)
        if route is None:
            return module.not_found(self, req) if module is not None else html_reply(404)
        reply = route[1](self, req)
        if reply.status == 200 and reply.content is not None:
            opts = take("missing_field")
            if opts is not None:
                content = copy.deepcopy(reply.content)
                remove_path(content, str(opts.get("field", "")))
                reply.content, reply.body = content, json_bytes(content)
            if take("invalid_json") is not None:
                reply.body = reply.body[: max(1, len(reply.body) // 2)] + b"<!-- truncated"
        return reply


def _shut(conn: socket.socket) -> None:
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _server_error(module: Any, status: int, html: bool) -> Reply:
    if html or module is None:
        return html_reply(status)
    return module.server_error(status)
