"""Hostile conditions (issue 12): misbehaving servers on loopback, broken stderr, concurrent writers, files that
attack. Each test asserts what a user sees (exit code, stdout, stderr) and what the server received; every server
and thread is stopped and joined in teardown."""

from __future__ import annotations

import base64
import gzip
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from decimal import Decimal
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from balcli.amounts import AMOUNT_RE, parse_amount
from balcli.http import Api, HttpClient, Prepared, http_failure
from balcli.sources import zoomex

from .conftest import COINW_ENV, CRYPTOFUSE_ENV, ZOOMEX_ENV

HANG_GUARD = 20.0  # seconds: far beyond any bound under test; only there so that a regression fails, not hangs


# -- a misbehaving HTTP server -------------------------------------------------------------------------

class Received(NamedTuple):
    at: float  # time.monotonic() when the request was read in full
    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.target).query, keep_blank_values=True))


class Hostile:
    """A raw-socket HTTP/1.1 server in a thread: ``handler(server, conn, request)`` writes whatever it likes
    and returns True to keep the connection for the next request."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler
        self.received: list[Received] = []
        self.stop = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, name="hostile-accept")
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._connection, args=(conn,), name="hostile-conn")
            with self._lock:
                self._threads.append(t)
                self._conns.append(conn)
            t.start()

    def _connection(self, conn: socket.socket) -> None:
        conn.settimeout(0.1)
        buf = b""
        try:
            while not self.stop.is_set():
                while b"\r\n\r\n" not in buf:
                    try:
                        data = conn.recv(65536)
                    except TimeoutError:
                        if self.stop.is_set():
                            return
                        continue
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
                length = int(headers.get("content-length", "0"))
                while len(buf) < length:
                    try:
                        buf += conn.recv(65536)
                    except TimeoutError:
                        continue
                body, buf = buf[:length], buf[length:]
                method, target, _ = lines[0].split(" ", 2)
                req = Received(time.monotonic(), method, target, headers, body)
                with self._lock:
                    self.received.append(req)
                if not self.handler(self, conn, req):
                    return
        except OSError:
            return
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self._sock.close()
        self._thread.join(5)
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(5)
        assert not self._thread.is_alive() and not any(t.is_alive() for t in threads)


def send(conn: socket.socket, status: int, body: bytes | dict | list = b"", headers: dict[str, str] | None = None
         ) -> bool:
    raw = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(raw)}", "Content-Type: application/json"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + raw)
    return True


def zoomex_page(customers: list[dict], cursor: Any = "") -> dict:
    return {"ret_code": 0, "ret_msg": "OK", "result": {"next_cursor": cursor, "list": customers}}


@pytest.fixture
def hostile():
    servers: list[Hostile] = []

    def start(handler: Any) -> Hostile:
        server = Hostile(handler)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def broker(cli, server: Hostile, *args: str):
    return cli("broker", "--base-url", server.url, "--max-retries", "0", "--json", *args, env=ZOOMEX_ENV)


# -- 1. no run can hang ------------------------------------------------------------------------------------

def _drip(server: Hostile, conn: socket.socket, req: Received) -> bool:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
    while not server.stop.wait(0.1):
        conn.sendall(b" ")  # one byte at a time: every socket read succeeds well within the timeout
    return False


def _endless_chunks(server: Hostile, conn: socket.socket, req: Received) -> bool:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    while not server.stop.wait(0.1):
        conn.sendall(b"1\r\n \r\n")  # a chunked body that never ends
    return False


@pytest.mark.parametrize("handler", [_drip, _endless_chunks], ids=["drip", "endless-chunked"])
def test_a_body_that_never_ends_is_a_timeout_within_the_deadline(cli, hostile, handler):
    server = hostile(handler)
    started = time.monotonic()
    r = broker(cli, server, "--timeout", "1")
    elapsed = time.monotonic() - started
    assert r.code == 6 and r.out == ""
    assert "Zoomex did not answer within 1 s (connect and the whole answer)" in r.err and "--timeout" in r.err
    assert elapsed < HANG_GUARD
    assert [q.path for q in server.received] == ["/private/v1/broker/asset-balance"]


# -- 2. bounded answers ----------------------------------------------------------------------------------

def test_a_gzip_bomb_is_refused_with_exit_7_not_read_to_the_end(cli, hostile):
    bomb = gzip.compress(b" " * (80 * 2**20), 9)  # ~80 KB that decodes to 80 MiB

    def handler(server, conn, req):
        return send(conn, 200, bomb, {"Content-Encoding": "gzip"})

    server = hostile(handler)
    r = broker(cli, server)
    assert r.code == 7 and r.out == ""
    assert "Zoomex sent an answer larger than 64 MiB (decoded)" in r.err
    assert len(server.received) == 1  # not retried


def test_keep_alive_still_holds_one_connection_for_a_sequential_run(cli, hostile):
    pages = {None: zoomex_page([{"user_id": "1", "coins": [{"coin": "USDT", "total_balance": "1"}]}], "c2"),
             "c2": zoomex_page([{"user_id": "2", "coins": [{"coin": "BTC", "total_balance": "2"}]}], "")}
    peers = set()

    def handler(server, conn, req):
        peers.add(conn.getpeername())
        return send(conn, 200, pages[req.query.get("cursor")])

    server = hostile(handler)
    r = broker(cli, server)
    assert r.code == 0 and [row["user_id"] for row in r.json()] == ["1", "2"]
    assert len(server.received) == 2 and len(peers) == 1


# -- 3. stderr is not stdout -------------------------------------------------------------------------------

def _balcli(*args: str, **kwargs: Any) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "balcli", *args], timeout=60, check=False, **kwargs)


def test_a_reader_of_stderr_that_goes_away_changes_nothing_on_stdout(tmp_path):
    whole = _balcli("--sandbox", "broker", "--csv", capture_output=True)
    assert whole.returncode == 0 and whole.stdout.count(b"\n") > 100
    proc = subprocess.Popen([sys.executable, "-m", "balcli", "--sandbox", "-v", "broker", "--csv"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stderr.close()  # the log shipper died: every -v line now meets EPIPE
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and out == whole.stdout


def test_with_stderr_closed_nothing_reaches_stdout_by_accident_and_exit_codes_hold():
    def close_stderr() -> None:
        os.close(2)

    ok = _balcli("--sandbox", "-v", "broker", "--csv", stdout=subprocess.PIPE, preexec_fn=close_stderr)
    lines = ok.stdout.decode().splitlines()
    assert ok.returncode == 0 and lines[0] == "user_id,coin,total_balance"
    assert all(not line.startswith("balcli") and line.count(",") == 2 for line in lines)
    env = {**os.environ, **ZOOMEX_ENV}
    down = _balcli("-v", "broker", "--csv", "--base-url", "http://127.0.0.1:9", "--max-retries", "0",
                   stdout=subprocess.PIPE, preexec_fn=close_stderr, env=env)
    assert down.returncode == 6 and down.stdout == b""


# -- 4. no lost updates; 11. private folders ------------------------------------------------------------------

def test_concurrent_auth_set_runs_keep_every_entry(isolated):
    env = {**os.environ, "XDG_CONFIG_HOME": str(isolated.parent)}
    secrets = {"zoomex": "z" * 20, "coinw": "c" * 20, "binance": "b" * 20}
    procs = [subprocess.Popen([sys.executable, "-m", "balcli", "auth", "set", name, "--store", "file", "--stdin"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
             for name in secrets]
    for proc, secret in zip(procs, secrets.values()):
        proc.stdin.write(f"{secret[:1] * 16}\n{secret}\n".encode())
        proc.stdin.close()
    for proc in procs:
        proc.wait(timeout=60)
        assert proc.returncode == 0, proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
    import yaml

    stored = yaml.safe_load((isolated / "credentials.yaml").read_text())
    assert sorted(stored["default"]) == sorted(secrets)
    assert {name: f["api_secret"] for name, f in stored["default"].items()} == secrets
    assert stat.S_IMODE(isolated.stat().st_mode) == 0o700
    assert [p.name for p in isolated.iterdir() if p.name.endswith(".tmp")] == []


def test_config_init_force_on_a_full_disk_leaves_the_old_file_exactly_as_it_was(cli, config_dir, monkeypatch):
    path = config_dir / "config.yaml"
    path.write_text("defaults:\n  timeout: 7\n")
    real_write = os.write

    def full(fd, data):
        if len(data) > 100:
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    with monkeypatch.context() as mp:  # not monkeypatch.undo(): that would also undo the isolated config dir
        mp.setattr("balcli.files.os.write", full)
        r = cli("config", "init", "--force")
    assert r.code == 3 and r.out == ""
    assert f"cannot write {path}: No space left on device" in r.err and "left as it was" in r.err
    assert path.read_text() == "defaults:\n  timeout: 7\n"
    assert sorted(p.name for p in config_dir.iterdir() if not p.name.startswith(".config.yaml.lock")) == \
        ["config.yaml"]
    assert cli("config", "show", "--json").json()[3] == {"key": "timeout", "value": "7", "origin": "file"}


def test_auth_set_where_the_folder_cannot_be_made_is_exit_3(cli, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    config = tmp_path / "c.yaml"
    config.write_text(f"credentials_file: {blocker / 'credentials.yaml'}\n")
    r = cli("--config", str(config), "auth", "set", "zoomex", "--store", "file", "--stdin",
            stdin="k" * 16 + "\n" + "s" * 16 + "\n")
    assert r.code == 3 and f"cannot write {blocker / 'credentials.yaml'}" in r.err
    assert "s" * 16 not in r.err


def test_the_first_token_cache_write_creates_private_folders(cli, sandbox_env, isolated):
    r = cli("oauth", "balances", "--json")
    assert r.code == 0, r.err
    cache = next((isolated / "cache").iterdir())
    assert stat.S_IMODE(isolated.stat().st_mode) == 0o700
    assert stat.S_IMODE((isolated / "cache").stat().st_mode) == 0o700
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600


# -- 5. nothing derived from a secret leaks ------------------------------------------------------------------

def test_a_password_in_a_base_url_is_never_shown(cli, monkeypatch):
    r = cli("-v", "broker", "--base-url", "http://ops:hunter2pass@127.0.0.1:9", "--max-retries", "0",
            env=ZOOMEX_ENV)
    assert r.code == 6 and "hunter2pass" not in r.err and "http://***@127.0.0.1:9" in r.err
    monkeypatch.setenv("BALCLI_ZOOMEX_BASE_URL", "http://ops:hunter2pass@127.0.0.1:9")
    shown = cli("config", "show", "--json")
    assert shown.code == 0 and "hunter2pass" not in shown.out and "http://***@127.0.0.1:9" in shown.out


def test_an_echoed_coinw_sign_is_redacted_everywhere(cli, hostile):
    def handler(server, conn, req):
        sign = req.query["sign"]
        return send(conn, 200, {"code": 9999, "msg": f"check failed for {sign} (sign={sign})"})

    server = hostile(handler)
    r = cli("-vv", "spot", "--base-url", server.url, "--json", "--max-retries", "0", env=COINW_ENV)
    sign = server.received[0].query["sign"]
    assert r.code == 7 and r.out == "" and len(sign) >= 16
    assert sign not in r.err and sign.lower() not in r.err.lower() and "***" in r.err


def test_an_echoed_basic_authorization_is_redacted_with_what_decodes_from_it(cli, hostile):
    def handler(server, conn, req):
        auth = req.headers["authorization"]
        decoded = base64.b64decode(auth.split()[1]).decode()
        return send(conn, 400, {"error": "invalid_request",
                                "error_description": f"got Authorization: {auth} ({decoded}) raw {auth.split()[1]}"})

    server = hostile(handler)
    r = cli("-vv", "oauth", "balances", "--base-url", server.url, "--json", "--max-retries", "0", env=CRYPTOFUSE_ENV)
    basic = server.received[0].headers["authorization"].split()[1]
    assert r.code in (4, 7) and r.out == ""
    assert basic not in r.err and CRYPTOFUSE_ENV["BALCLI_CRYPTOFUSE_CLIENT_SECRET"] not in r.err


# -- 6. every row exactly once, or a loud failure ----------------------------------------------------------------

class FakeClient:
    """Hands ``asset_balance_pages`` prepared answers, one per cursor (no network)."""

    def __init__(self, pages: list[tuple[list[dict], Any]]) -> None:
        self.pages = pages
        self.asked: list[Any] = []

    def limiter(self, bucket: str, per_second: float, key: str | None = None) -> None:
        return None

    def call(self, api: Any, method: str, path: str, params: list, *, limiter: Any = None) -> dict:
        cursor = dict(params).get("cursor")
        self.asked.append(cursor)
        index = 0 if cursor is None else int(cursor[1:])
        customers, next_cursor = self.pages[index]
        return {"next_cursor": next_cursor, "list": customers}


def rows_of(pages: list[tuple[list[dict], Any]]) -> list[tuple[str, str]]:
    api = zoomex.ZoomexApi("http://x", "k", "s", 5000)
    return [(r["user_id"], r["coin"]) for page in zoomex.asset_balance_pages(FakeClient(pages), api) for r in page]


uids = st.sampled_from(["1", "2", "3", "101479471"])
coins = st.sampled_from(["USDT", "BTC", "ETH", "ZMX"])
customer = st.builds(lambda uid, cs: {"user_id": uid, "coins": [{"coin": c, "total_balance": "1"} for c in cs]},
                     uids, st.lists(coins, max_size=3, unique=True))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(customer, max_size=4), min_size=1, max_size=5))
def test_each_customer_and_coin_comes_out_exactly_once_whatever_the_paging(pages):
    paged = [(customers, f"p{i + 1}" if i + 1 < len(pages) else "") for i, customers in enumerate(pages)]
    if all(not customers for customers, _ in paged[:-1]) and len(paged) > 21:
        return
    expected: list[tuple[str, str]] = []
    for customers, _ in paged:
        for c in customers:
            for coin in c["coins"]:
                if (c["user_id"], coin["coin"]) not in expected:
                    expected.append((c["user_id"], coin["coin"]))
    assert sorted(rows_of(paged)) == sorted(expected)
    assert len(rows_of(paged)) == len(set(rows_of(paged)))


def test_a_customer_split_over_two_pages_keeps_the_second_pages_coins(cli, hostile):
    pages = {None: zoomex_page([{"user_id": "7", "coins": [{"coin": "USDT", "total_balance": "5"}]}], "next"),
             "next": zoomex_page([{"user_id": "7", "coins": [{"coin": "USDT", "total_balance": "5"},
                                                            {"coin": "BTC", "total_balance": "0.5"}]}], "")}
    server = hostile(lambda s, conn, req: send(conn, 200, pages[req.query.get("cursor")]))
    r = broker(cli, server)
    assert r.code == 0 and r.err == ""
    assert r.json() == [{"user_id": "7", "coin": "USDT", "total_balance": "5"},
                        {"user_id": "7", "coin": "BTC", "total_balance": "0.5"}]


@pytest.mark.parametrize("cursor", [0, {}, [], {"a": 1}, 5, True], ids=repr)
def test_a_cursor_that_is_not_a_string_is_exit_7_never_a_complete_run(cli, hostile, cursor):
    page = zoomex_page([{"user_id": "1", "coins": [{"coin": "USDT", "total_balance": "1"}]}], cursor)
    server = hostile(lambda s, conn, req: send(conn, 200, page))
    r = broker(cli, server, "--total")
    assert r.code == 7 and "the next cursor is not a string" in r.err and "not complete" in r.err
    assert r.out == "" and len(server.received) == 1


# -- 7. files that attack ------------------------------------------------------------------------------------

BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{b}: &{b} [{', '.join(['*' + a] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi"))


def test_a_yaml_alias_bomb_is_refused_at_once_naming_the_file(cli, tmp_path, config_dir):
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    r = cli("--config", str(path), "config", "show")
    assert r.code == 3 and r.out == "" and f"{path}: line 1: YAML anchors and aliases" in r.err
    creds = config_dir / "credentials.yaml"
    creds.write_text("default:\n  zoomex: &z {api_key: kkkkkkkkkkkkkkkk, api_secret: ssssssssssssssss}\n"
                     "other:\n  zoomex: *z\n")
    creds.chmod(0o600)
    r = cli("broker", "--json", "--base-url", "http://127.0.0.1:9")
    assert r.code == 3 and "anchors and aliases" in r.err and "ssss" not in r.err


def test_an_unquoted_offset_read_as_base_60_says_how_to_quote_it(cli, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("profiles:\n  default:\n    coinw:\n      timezone: +10:00\n")
    r = cli("--config", str(path), "config", "show")
    assert r.code == 3
    assert "YAML read the unquoted +10:00 as the number 600 (base 60)" in r.err
    assert 'hint: quote it: timezone: "+10:00"' in r.err


# -- 8. exit 1 means a bug ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "headers", "code", "says"), [
    (b"[" * 100_000 + b"]" * 100_000, {}, 7, "nested too deeply"),
    (b"{}", {"Retry-After": "inf"}, 5, "rate limit reached (HTTP 429)"),
    (b"{}", {"Retry-After": "1e400"}, 5, "rate limit reached (HTTP 429)"),
], ids=["deep-json", "retry-after-inf", "retry-after-1e400"])
def test_hostile_answers_get_their_spec_code_not_1(cli, hostile, body, headers, code, says):
    status = 429 if "Retry-After" in headers else 200
    server = hostile(lambda s, conn, req: send(conn, status, body, headers))
    r = cli("broker", "--base-url", server.url, "--json", "--max-retries", "2", env=ZOOMEX_ENV)
    assert r.code == code and says in r.err and "internal error" not in r.err
    assert len(server.received) == 1  # a year-long Retry-After is not waited for, nor retried


@pytest.mark.parametrize("amount", ["1E+2000000", "1_000", " 1.5 ", "١٢٣", "Infinity", "0x10"])
def test_an_amount_outside_the_plain_grammar_is_exit_7_in_rows_and_totals(cli, hostile, amount):
    page = zoomex_page([{"user_id": "1", "coins": [{"coin": "USDT", "total_balance": amount}]}])
    server = hostile(lambda s, conn, req: send(conn, 200, page))
    for extra in ((), ("--total",)):
        r = broker(cli, server, *extra)
        assert r.code == 7 and r.out == "" and "is not a decimal amount" in r.err, r.err


@pytest.mark.parametrize("uid", ["²", "1" * 5000, "١٢٣"])
@pytest.mark.parametrize("command", ["broker", "invitees"])
def test_a_uid_that_is_not_ascii_digits_is_a_usage_error(cli, uid, command):
    r = cli(command, "--uid", uid, "--json")
    assert r.code == 2 and "is not a UID" in r.err


@pytest.mark.parametrize("text", [b"default:\n- zoomex\n", b"default: \xff\xfe\n"], ids=["list", "latin-1"])
def test_a_malformed_credentials_file_is_exit_3(cli, config_dir, text):
    path = config_dir / "credentials.yaml"
    path.write_bytes(text)
    path.chmod(0o600)
    r = cli("broker", "--json", "--base-url", "http://127.0.0.1:9")
    assert r.code == 3 and str(path) in r.err and "internal error" not in r.err


def test_times_at_the_calendar_edges_are_exit_7(cli, hostile):
    snapshot = {"code": 200, "msg": "", "snapshotVos": [{"type": "spot", "updateTime": 253402300800000,
                                                         "data": {"totalAssetOfBtc": "1", "balances": []}}]}
    server = hostile(lambda s, conn, req: send(conn, 200, snapshot))
    r = cli("snapshot", "--base-url", server.url, "--json", "--max-retries", "0",
            env={"BALCLI_BINANCE_API_KEY": "k" * 20, "BALCLI_BINANCE_API_SECRET": "s" * 20})
    assert r.code == 7 and "'updateTime' is not epoch milliseconds" in r.err


def test_writing_to_a_full_disk_is_exit_3():
    with open("/dev/full", "wb") as full:
        r = _balcli("--sandbox", "broker", "--csv", stdout=full, stderr=subprocess.PIPE)
    assert r.returncode == 3
    assert r.stderr.decode().startswith("balcli: error: cannot write the output: No space left on device")


# -- 9. amounts are numbers as the API writes them ------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("0123456789.+-eE_ ٠١x²"), max_size=12))
def test_an_amount_is_accepted_only_in_the_plain_decimal_grammar(text):
    try:
        value = parse_amount(text)
    except ValueError:
        assert not AMOUNT_RE.fullmatch(text) or abs(Decimal(text).adjusted()) > 900
        return
    assert AMOUNT_RE.fullmatch(text) and value == Decimal(text)


# -- 10. Retry-After binds every worker ----------------------------------------------------------------------------

class Plain(Api):
    name = label = "Plain"

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def prepare(self, method: str, path: str, params: list, now_ms: int) -> Prepared:
        return Prepared(method, self.base_url + path, params)

    def check(self, answer: Any) -> Any:
        http_failure(answer)
        return answer.json()


def test_one_429_pauses_every_worker_of_the_bucket(hostile):
    first = threading.Event()
    sent_429: list[float] = []

    def handler(server, conn, req):
        if req.query.get("n") == "0" and not sent_429:
            sent_429.append(time.monotonic())
            first.set()  # the other workers now take their limiter slots: 0.5 s apart, before the hold began
            return send(conn, 429, {}, {"Retry-After": "1"})
        return send(conn, 200, {"ok": req.query.get("n")})

    server = hostile(handler)
    client = HttpClient(timeout=5, max_retries=2, pool_size=4)
    limiter = client.limiter("plain", 2.0)
    api = Plain(server.url)
    results: dict[int, Any] = {}

    def worker(n: int) -> None:
        if n:
            first.wait(5)
        results[n] = client.call(api, "GET", "/", [("n", str(n))], limiter=limiter)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(HANG_GUARD)
    client.close()
    assert results == {n: {"ok": str(n)} for n in range(4)}
    after = [q.at - sent_429[0] for q in server.received if q.at > sent_429[0]]
    assert len(after) == 4 and min(after) >= 0.95  # nobody sent again inside the Retry-After second


# -- 12. the sandbox answers as real clients expect ---------------------------------------------------------------

def test_the_sandbox_answers_what_real_sdks_ask(sandbox):
    import requests

    base = sandbox.base_url
    assert requests.get(f"{base}/api/v3/ping", timeout=5).json() == {}
    wrong = requests.get(f"{base}/api/v3/no/such/path", headers={"api_key": "x"}, timeout=5)
    assert wrong.status_code == 200 and wrong.json()["code"] == 500  # CoinW's answer, not Binance's 404
    assert requests.get(f"{base}/api/v3/no/such/path", timeout=5).status_code == 404
    bad = requests.get(f"{base}/user/balances/", headers={"Authorization": "Bearer nope"}, timeout=5)
    assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["WWW-Authenticate"]
    spot = requests.post(f"{base}/api/v1/private", params={"command": "noSuchCommand"}, timeout=5).json()
    assert "message" in spot and "msg" not in spot
    from balcli.sandbox import DEMO_CREDENTIALS

    cf = DEMO_CREDENTIALS["cryptofuse"]
    from urllib.parse import quote_plus

    encoded = base64.b64encode(f"{quote_plus(cf['client_id'])}:{quote_plus(cf['client_secret'])}".encode())
    token = requests.post(f"{base}/o/token/", data={"grant_type": "client_credentials", "scope": "read"},
                          headers={"Authorization": f"Basic {encoded.decode()}"}, timeout=5)
    assert token.status_code == 200 and token.json()["token_type"].lower() == "bearer"
