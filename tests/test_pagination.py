"""Pagination (balcli.pagination) and the guards of README "When things go wrong": every page is fetched, rows repeated across pages
are dropped, a cursor seen twice / a page that does not advance / an unreachable total is exit 7 (never a
hang), a changing total is warned about, and concurrent page fetches still come out strictly in order."""

from __future__ import annotations

import base64
import math
import random
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from balcli import cancel
from balcli.errors import ExitCode, Interrupted, NetworkError, ResponseError
from balcli.pagination import MAX_BARREN_PAGES, SeenKeys, cursor_pages, indexed_pages


def ident(item):
    return item["id"]


def rows(n: int, start: int = 0) -> list[dict]:
    return [{"id": i, "amount": f"{i}.5"} for i in range(start, start + n)]


def flat(pages) -> list:
    return [item["id"] for page in pages for item in page]


# -- the key memory ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sequence", [["0", 0, False], ["1", 1, True, 1.0], ["x", None, 0, 0.0, False]])
def test_seen_keys_keeps_keys_of_different_types_apart_in_the_fallback_set(sequence):
    # the table holds the first kind of canonical key ("0"); an int key then goes to the fallback set, where a
    # plain set would take False for 0 (hypothesis found ['0', 0, False] in test_performance)
    seen = SeenKeys()
    assert [seen.add(k) for k in sequence] == [True] * len(sequence)
    assert [seen.add(k) for k in sequence] == [False] * len(sequence)
    assert len(seen) == len(sequence)


# -- cursor pages -------------------------------------------------------------------------------------------

class CursorServer:
    """Pages of ``size`` rows, addressed by opaque cursors; ``script`` may override what a cursor answers."""

    def __init__(self, items: list[dict], size: int, script: dict | None = None) -> None:
        self.items, self.size, self.script = items, size, script or {}
        self.requests: list[str | None] = []

    @staticmethod
    def cursor(offset: int) -> str:
        return base64.b64encode(f"o:{offset}".encode()).decode()

    def __call__(self, cursor: str | None):
        self.requests.append(cursor)
        if cursor in self.script:
            return self.script[cursor]
        offset = 0 if cursor is None else int(base64.b64decode(cursor).decode()[2:])
        page = self.items[offset:offset + self.size]
        end = offset + self.size
        return page, (self.cursor(end) if end < len(self.items) else "")


def test_cursor_pages_follow_every_cursor_in_order():
    server = CursorServer(rows(7), 3)
    progress = []
    pages = list(cursor_pages(server, key=ident, label="T", on_page=lambda *a: progress.append(a)))
    assert [[r["id"] for r in p] for p in pages] == [[0, 1, 2], [3, 4, 5], [6]]
    assert server.requests == [None, CursorServer.cursor(3), CursorServer.cursor(6)]
    assert progress == [(1, 3, None), (2, 6, None), (3, 7, None)]


def test_cursor_pages_are_lazy():
    server = CursorServer(rows(9), 3)
    pages = cursor_pages(server, key=ident, label="T")
    assert server.requests == []
    next(pages)
    assert len(server.requests) == 1  # the next page is fetched only when it is wanted


def test_cursor_pages_drop_rows_repeated_across_pages():
    items = rows(6)
    script = {None: (items[0:3], "b"), "b": (items[2:5], "c"), "c": (items[4:6] + [items[0]], None)}
    pages = list(cursor_pages(CursorServer(items, 3, script), key=ident, label="T"))
    assert [[r["id"] for r in p] for p in pages] == [[0, 1, 2], [3, 4], [5]]


@pytest.mark.parametrize("max_items,expected_ids,expected_requests", [
    (1, [0], 1), (3, [0, 1, 2], 1), (4, [0, 1, 2, 3], 2), (7, list(range(7)), 3), (100, list(range(7)), 3),
])
def test_cursor_max_items_stops_early_and_fetches_no_more_than_needed(max_items, expected_ids,
                                                                      expected_requests):
    server = CursorServer(rows(7), 3)
    assert flat(cursor_pages(server, key=ident, label="T", max_items=max_items)) == expected_ids
    assert len(server.requests) == expected_requests


@pytest.mark.parametrize("script,cycle", [
    ({None: ([{"id": 1}], "a"), "a": ([{"id": 2}], "a")}, "a"),  # the same cursor again
    ({None: ([{"id": 1}], "a"), "a": ([{"id": 2}], "b"), "b": ([{"id": 3}], "a")}, "a"),  # back to an old one
    ({None: ([{"id": 1}], "a"), "a": ([], "b"), "b": ([], "a")}, "a"),  # empty pages cycling
])
def test_a_cursor_seen_twice_is_exit_7_naming_the_cursor(script, cycle):
    server = CursorServer([], 1, script)
    got = []
    with pytest.raises(ResponseError) as info:
        for page in cursor_pages(server, key=ident, label="Zoomex asset-balance"):
            got.append([r["id"] for r in page])
    assert info.value.exit_code == ExitCode.BAD_RESPONSE
    assert f"Zoomex asset-balance pagination cycle: cursor {cycle!r} was already used" in str(info.value)
    assert len(server.requests) == len(script)  # detected before the repeated cursor is fetched again
    assert got[0] == [1]


def test_an_empty_list_with_a_cursor_continues():
    script = {None: ([], "a"), "a": ([], "b"), "b": ([{"id": 1}, {"id": 2}], None)}
    server = CursorServer([], 1, script)
    assert flat(cursor_pages(server, key=ident, label="T")) == [1, 2]
    assert server.requests == [None, "a", "b"]


@pytest.mark.parametrize("end", [None, ""])
def test_cursor_ends_on_an_absent_or_empty_cursor(end):
    server = CursorServer([], 1, {None: ([{"id": 1}], end)})
    assert flat(cursor_pages(server, key=ident, label="T")) == [1]
    assert server.requests == [None]


def test_an_error_from_fetch_propagates_after_the_pages_before_it():
    def fetch(cursor):
        if cursor == "b":
            raise NetworkError("down")
        return [{"id": cursor or "first"}], "b"

    got = []
    with pytest.raises(NetworkError):
        for page in cursor_pages(fetch, key=ident, label="T"):
            got.append([r["id"] for r in page])
    assert got == [["first"]]


# -- indexed pages (page numbers and offsets) ---------------------------------------------------------------

class IndexedServer:
    """A listing with a total, served by page number (``pageNo`` from 1) or by offset, optionally capping the
    page size; ``mutate(n_requests, items)`` may change the data between requests."""

    def __init__(self, items: list[dict], *, cap: int | None = None, style: str = "page",
                 mutate=None) -> None:
        self.items, self.cap, self.style, self.mutate = items, cap, style, mutate
        self.requests: list[tuple[int, int]] = []  # mutate() sees how many, this one included
        self._lock = threading.Lock()

    def slice(self, offset: int, size: int) -> tuple[list[dict], int]:
        with self._lock:
            if self.mutate:
                self.mutate(len(self.requests), self.items)
            size = min(size, self.cap) if self.cap else size
            return list(self.items[offset:offset + size]), len(self.items)

    def by_page(self, page_no: int, page_size: int):
        with self._lock:
            self.requests.append((page_no, page_size))
        return self.slice((page_no - 1) * page_size, page_size)

    def by_offset(self, offset: int, limit: int):
        with self._lock:
            self.requests.append((offset, limit))
        return self.slice(offset, limit)

    def fetch(self, index: int, size: int):
        """The adapter a source writes: index -> page number (index + 1) or offset (index * size)."""
        if self.style == "page":
            return self.by_page(index + 1, size)
        return self.by_offset(index * size, size)


@pytest.mark.parametrize("style,expected_requests", [
    ("page", [(1, 10), (2, 10), (3, 10)]),
    ("offset", [(0, 10), (10, 10), (20, 10)]),
])
def test_indexed_pages_by_page_number_and_by_offset(style, expected_requests):
    server = IndexedServer(rows(25), style=style)
    progress = []
    pages = list(indexed_pages(server.fetch, page_size=10, key=ident, label="T",
                               on_page=lambda *a: progress.append(a)))
    assert [len(p) for p in pages] == [10, 10, 5] and flat(pages) == list(range(25))
    assert server.requests == expected_requests
    assert progress == [(1, 10, 25), (2, 20, 25), (3, 25, 25)]


@pytest.mark.parametrize("total", [0, 1, 10, 20])
def test_indexed_stops_at_the_total_without_an_extra_request(total):
    server = IndexedServer(rows(total))
    assert flat(indexed_pages(server.fetch, page_size=10, key=ident, label="T")) == list(range(total))
    assert len(server.requests) == max(1, math.ceil(total / 10))


@pytest.mark.parametrize("max_items,requests", [(1, 1), (10, 1), (11, 2), (24, 3), (25, 3), (500, 3)])
def test_indexed_max_items(max_items, requests):
    server = IndexedServer(rows(25))
    assert flat(indexed_pages(server.fetch, page_size=10, key=ident, label="T", max_items=max_items)) == \
        list(range(min(25, max_items)))
    assert len(server.requests) == requests


@pytest.mark.parametrize("style,expected_requests", [
    ("page", [(1, 50), (2, 20), (3, 20), (4, 20)]),
    ("offset", [(0, 50), (20, 20), (40, 20), (60, 20)]),
])
def test_a_server_capped_page_size_is_detected_from_a_short_first_page(style, expected_requests):
    server = IndexedServer(rows(65), cap=20, style=style)
    assert flat(indexed_pages(server.fetch, page_size=50, key=ident, label="T")) == list(range(65))
    assert server.requests == expected_requests


def test_a_short_first_page_that_holds_everything_is_not_a_cap():
    server = IndexedServer(rows(7))
    assert flat(indexed_pages(server.fetch, page_size=50, key=ident, label="T")) == list(range(7))
    assert server.requests == [(1, 50)]


def test_rows_appended_during_the_run_are_fetched_with_a_warning():
    def grow(n_requests, items):
        if n_requests == 2 and len(items) == 25:  # while page 2 is read: two new rows at the end
            items.extend(rows(2, start=25))

    warnings = []
    server = IndexedServer(rows(25), mutate=grow)
    got = flat(indexed_pages(server.fetch, page_size=10, key=ident, label="Invitees", warn=warnings.append))
    assert got == list(range(27))
    assert warnings == [("Invitees: the total changed during the run (25 -> 27); the rows reflect the data "
                         "as each page was read")]
    assert len(server.requests) == 3


def test_rows_removed_during_the_run_end_the_run_at_the_new_total_with_a_warning():
    def shrink(n_requests, items):
        if n_requests == 3 and len(items) == 25:  # while page 3 is read: the last three rows disappear
            del items[-3:]

    warnings = []
    server = IndexedServer(rows(25), mutate=shrink)
    assert flat(indexed_pages(server.fetch, page_size=10, key=ident, label="T", warn=warnings.append)) == \
        list(range(22))
    assert len(warnings) == 1 and "(25 -> 22)" in warnings[0]


def test_a_row_inserted_in_front_is_not_repeated_and_the_missing_row_is_exit_7():
    def insert_front(n_requests, items):
        if n_requests == 2 and items[0]["id"] == 0:  # rows shift by one between page 1 and page 2
            items.insert(0, {"id": 99})

    server = IndexedServer(rows(25), mutate=insert_front)
    got = []
    with pytest.raises(ResponseError) as info:
        for page in indexed_pages(server.fetch, page_size=10, key=ident, label="T"):
            got.extend(r["id"] for r in page)
    assert got == list(range(25))  # row 9 came again on page 2 and was dropped
    assert "page 4 is empty but only 25 of 26 rows were received" in str(info.value)  # no silent subset


def test_an_empty_page_while_rows_are_missing_is_exit_7():
    def fetch(index, size):
        return (rows(10, start=index * 10) if index < 2 else []), 35

    got = []
    with pytest.raises(ResponseError) as info:
        for page in indexed_pages(fetch, page_size=10, key=ident, label="CoinW invitees"):
            got.append([r["id"] for r in page])
    assert info.value.exit_code == 7 and len(got) == 2
    assert str(info.value) == "CoinW invitees: page 3 is empty but only 20 of 35 rows were received"


def test_an_empty_first_page_with_a_positive_total_is_exit_7():
    with pytest.raises(ResponseError, match="page 1 is empty but only 0 of 4 rows"):
        list(indexed_pages(lambda i, s: ([], 4), page_size=10, key=ident, label="T"))


def test_a_repeated_page_is_exit_7_not_a_hang():
    calls = []

    def fetch(index, size):  # a server that ignores the page number
        calls.append(index)
        return rows(10), 50

    with pytest.raises(ResponseError) as info:
        list(indexed_pages(fetch, page_size=10, key=ident, label="T"))
    assert info.value.exit_code == 7 and "page 2 repeats page 1" in str(info.value)
    assert calls == [0, 1]


def test_a_page_with_no_new_rows_is_exit_7():
    def fetch(index, size):  # page 3 brings back page 1's rows, reordered
        return (list(reversed(rows(10))) if index == 2 else rows(10, start=index * 10)), 50

    got = []
    with pytest.raises(ResponseError) as info:
        for page in indexed_pages(fetch, page_size=10, key=ident, label="T"):
            got.append([r["id"] for r in page])
    assert info.value.exit_code == 7 and len(got) == 2
    assert "page 3 brought no new rows (20 of 50 so far)" in str(info.value)


@pytest.mark.parametrize("concurrency", [1, 3])
def test_a_page_number_that_stops_advancing_ends_with_exit_7(concurrency):
    def fetch(index, size):  # past page 2 the server keeps answering page 2
        return rows(10, start=min(index, 1) * 10), 100

    with pytest.raises(ResponseError, match="page 3 repeats page 2"):
        list(indexed_pages(fetch, page_size=10, key=ident, label="T", concurrency=concurrency))


# -- identical rows within one page ---------------------------------------------------------------------------
# Only rows repeated across pages are dropped (README "Commands", oauth history). A page may hold two identical entries (Cryptofuse's
# history has no id: two equal deposits in the same second have the same key): both are rows. Before, the
# second was dropped as a repeat, and the run then ended with "page 2 is empty but only 30 of 31 rows".

def with_twin(n: int, at: int) -> list[dict]:
    items = rows(n)
    items.insert(at, dict(items[at]))
    return items


@pytest.mark.parametrize("style", ["page", "offset"])
@pytest.mark.parametrize("n,size,at", [(30, 100, 5), (10, 10, 5), (25, 10, 18), (25, 10, 10)])
def test_identical_rows_within_one_page_are_all_kept(style, n, size, at):
    items = with_twin(n, at)
    server = IndexedServer(items, style=style)
    got = flat(indexed_pages(server.fetch, page_size=size, key=ident, label="T", concurrency=3))
    assert got == [item["id"] for item in items]
    assert len(server.requests) == math.ceil(len(items) / size)


def test_identical_rows_within_one_page_are_kept_by_cursor_pages():
    items = with_twin(7, 4)  # ids 0 1 2 3 4 4 5 6
    script = {None: (items[0:3], "b"), "b": (items[3:6], "c"), "c": (items[5:8], None)}  # 4 again on page 3
    pages = list(cursor_pages(CursorServer(items, 3, script), key=ident, label="T"))
    assert [[r["id"] for r in p] for p in pages] == [[0, 1, 2], [3, 4, 4], [5, 6]]


@pytest.mark.parametrize("pager", ["indexed", "cursor"])
def test_a_row_of_an_earlier_page_is_dropped_however_often_a_later_page_repeats_it(pager):
    first, second = rows(3), [*rows(1, start=1), *rows(1, start=1), *rows(2, start=3)]  # 1 twice, then 3 4
    if pager == "indexed":
        got = flat(indexed_pages(lambda i, s: ([first, second][i], 5), page_size=4, key=ident, label="T"))
    else:
        got = flat(cursor_pages(lambda c: (second, None) if c else (first, "b"), key=ident, label="T"))
    assert got == [0, 1, 2, 3, 4]


def test_a_page_holding_only_an_earlier_row_twice_is_still_no_new_rows():
    def fetch(index, size):
        return (rows(3) if index == 0 else [*rows(1), *rows(1)]), 10

    with pytest.raises(ResponseError, match="page 2 brought no new rows"):
        list(indexed_pages(fetch, page_size=3, key=ident, label="T"))


def test_a_page_of_twins_that_repeats_the_page_before_is_still_exit_7():
    def fetch(index, size):  # the server ignores the page number; its one page holds a twin
        return [*rows(1), *rows(1), *rows(1, start=1)], 9

    with pytest.raises(ResponseError, match="page 2 repeats page 1"):
        list(indexed_pages(fetch, page_size=3, key=ident, label="T"))


def test_cursor_pages_of_twins_of_earlier_rows_count_as_barren():
    pages = {None: (rows(2), "c0")} | {f"c{i}": ([*rows(1), *rows(1)], f"c{i + 1}")
                                       for i in range(MAX_BARREN_PAGES + 5)}
    with pytest.raises(ResponseError, match="pages in a row brought no new rows"):
        list(cursor_pages(lambda c: pages[c], key=ident, label="T"))


# -- concurrency: bounded, and strictly in order ------------------------------------------------------------

class SlowServer:
    """Page k answers after ``delay(k)`` seconds (an Event wait); records what is in flight and in what order
    pages finished."""

    def __init__(self, total: int, size: int, delay, fail_at: int | None = None) -> None:
        self.total, self.size, self.delay, self.fail_at = total, size, delay, fail_at
        self.lock = threading.Lock()
        self.in_flight = self.max_in_flight = 0
        self.started: list[int] = []
        self.finished: list[int] = []

    def fetch(self, index: int, size: int):
        with self.lock:
            self.started.append(index)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            threading.Event().wait(self.delay(index))
            if index == self.fail_at:
                raise NetworkError(f"page {index + 1} failed")
            return rows(min(size, self.total - index * size), start=index * size), self.total
        finally:
            with self.lock:
                self.in_flight -= 1
                self.finished.append(index)


@pytest.mark.parametrize("concurrency", [2, 3, 5])
def test_concurrent_pages_are_yielded_strictly_in_order_when_later_pages_finish_first(concurrency):
    # pages 1..c are requested together; all start (a barrier), then finish in reverse order (page k waits
    # for page k+1), so the generator must hold the finished later pages back until page 1 arrives
    window = threading.Barrier(concurrency, timeout=5)
    done = {k: threading.Event() for k in range(1, concurrency + 2)}

    def gate(k):
        if 1 <= k <= concurrency:
            window.wait()
            if k < concurrency:
                assert done[k + 1].wait(5)
        return 0

    server = SlowServer(95, 10, delay=gate)
    real_fetch = server.fetch

    def fetch(index, size):
        try:
            return real_fetch(index, size)
        finally:
            if index in done:
                done[index].set()

    got = []
    for page in indexed_pages(fetch, page_size=10, key=ident, label="T", concurrency=concurrency):
        got.append([r["id"] for r in page])
    assert got == [list(range(i * 10, min(95, i * 10 + 10))) for i in range(10)]  # strictly in order
    assert server.finished[:concurrency + 1] == [0, *range(concurrency, 0, -1)]  # finished in reverse order
    assert server.max_in_flight == concurrency  # the pool was used, and never beyond its bound
    assert sorted(server.started) == list(range(10))  # each page fetched once, none beyond the total


@pytest.mark.parametrize("concurrency", [2, 4])
def test_random_finishing_order_never_exceeds_the_bound(concurrency):
    rnd = random.Random(concurrency)
    delays = [rnd.uniform(0, 0.003) for _ in range(40)]
    server = SlowServer(200, 5, delay=lambda k: delays[k])
    assert flat(indexed_pages(server.fetch, page_size=5, key=ident, label="T", concurrency=concurrency)) == \
        list(range(200))
    assert server.max_in_flight <= concurrency


@pytest.mark.parametrize("concurrency,fail_at", [(3, 4), (2, 1), (4, 7)])
def test_an_error_on_page_k_comes_after_the_pages_before_it_and_stops_requests(concurrency, fail_at):
    # the failing page is the slowest, so the pages after it are already in flight or done when it fails
    server = SlowServer(500, 10, delay=lambda k: 0.02 if k == fail_at else 0.001, fail_at=fail_at)
    got = []
    with pytest.raises(NetworkError, match=f"page {fail_at + 1} failed"):
        for page in indexed_pages(server.fetch, page_size=10, key=ident, label="T", concurrency=concurrency):
            got.append([r["id"] for r in page])
    assert [i for page in got for i in page] == list(range(fail_at * 10))  # pages before k, in order, no more
    assert max(server.started) <= fail_at + concurrency - 1  # only what the pool had in flight with page k
    # the pages in flight were ended and their threads joined before the error reached the consumer: nothing
    # is requested afterwards, with no need to wait and see
    assert server.in_flight == 0 and page_threads() == []


def test_closing_the_generator_early_stops_requesting_pages():
    server = SlowServer(1000, 10, delay=lambda k: 0.001)
    pages = indexed_pages(server.fetch, page_size=10, key=ident, label="T", concurrency=3)
    assert flat([next(pages), next(pages)]) == list(range(20))
    pages.close()  # `| head` or Ctrl-C
    assert len(server.started) <= 2 + 3
    assert server.in_flight == 0 and page_threads() == []  # joined by close(): none sends anything later


def test_closing_the_generator_cuts_short_the_back_offs_of_pages_in_flight():
    """`| head` while later pages wait out a back-off (or the rate limiter): the run ends at once, not after the
    wait, and no page is asked for again."""
    attempts: list[int] = []

    def fetch(index, size):
        attempts.append(index)
        if index > 0:
            cancel.pause(60)  # how the transport waits out a Retry-After
            if cancel.stopped():  # as the transport checks before each attempt
                raise Interrupted("cancelled")
        return rows(10, start=index * 10), 100

    pages = indexed_pages(fetch, page_size=10, key=ident, label="T", concurrency=3)
    assert flat([next(pages)]) == list(range(10))
    started = time.perf_counter()
    pages.close()
    assert time.perf_counter() - started < 30  # not the 60 s back-off (it takes milliseconds)
    assert page_threads() == []
    assert sorted(attempts) == sorted(set(attempts)) and set(attempts) <= {0, 1, 2, 3}  # none retried


def page_threads() -> list[str]:
    """The page threads still running. Each has finished its page by the time the generator is done; the
    thread's own exit may still be under way, hence the short join."""
    threads = [t for t in threading.enumerate() if t.name.startswith("balcli-page")]
    for thread in threads:
        thread.join(2)
    return [t.name for t in threads if t.is_alive()]


def test_concurrency_is_sequential_for_two_pages_or_fewer():
    server = SlowServer(20, 10, delay=lambda k: 0)
    got = flat(indexed_pages(server.fetch, page_size=10, key=ident, label="T", concurrency=5))
    assert got == list(range(20))
    assert server.started == [0, 1] and server.max_in_flight == 1


# -- a slow first page: the second is asked for before the total is known ---------------------------------------

class FirstPageGate:
    """Page 1 answers only once ``release`` is set (or after 5 s); records the requests in the order they began."""

    def __init__(self, server: IndexedServer, *, slow_first: bool = True) -> None:
        self.server, self.release = server, threading.Event()
        self.began: list[int] = []
        self.lock = threading.Lock()
        self.slow_first = slow_first
        self.second_came_first = False

    def fetch(self, index: int, size: int):
        with self.lock:
            self.began.append(index)
        cancel.sending()  # as the transport tells, when the request leaves
        if index == 0 and self.slow_first:
            self.second_came_first = self.release.wait(5)
        elif index == 1:
            self.release.set()  # page 2 was asked for while page 1 was still out
        return self.server.fetch(index, size)


def test_a_slow_first_page_has_the_second_asked_for_before_its_total_arrives():
    gate = FirstPageGate(IndexedServer(rows(35)))
    got = flat(indexed_pages(gate.fetch, page_size=10, key=ident, label="T", concurrency=3, speculate_after=0.01))
    assert got == list(range(35))
    assert gate.second_came_first  # page 2 was asked for while page 1 was out (page 1 waited for it)
    assert sorted(gate.server.requests) == [(1, 10), (2, 10), (3, 10), (4, 10)]  # no page asked for twice


def test_a_fast_first_page_sends_nothing_ahead_of_its_total():
    gate = FirstPageGate(IndexedServer(rows(8)), slow_first=False)
    got = flat(indexed_pages(gate.fetch, page_size=10, key=ident, label="T", concurrency=3, speculate_after=5))
    assert got == list(range(8)) and gate.server.requests == [(1, 10)]
    assert page_threads() == []


def test_a_slow_single_page_costs_one_unused_request_and_no_rows():
    gate = FirstPageGate(IndexedServer(rows(8)))
    got = flat(indexed_pages(gate.fetch, page_size=10, key=ident, label="T", concurrency=3, speculate_after=0.01))
    assert got == list(range(8)) and gate.second_came_first
    assert sorted(gate.server.requests) == [(1, 10), (2, 10)]  # the second page was asked for, and is empty
    assert page_threads() == []


def test_a_speculative_page_at_a_size_the_server_caps_is_not_used():
    gate = FirstPageGate(IndexedServer(rows(25), cap=5))
    got = flat(indexed_pages(gate.fetch, page_size=10, key=ident, label="T", concurrency=3, speculate_after=0.01))
    assert got == list(range(25))  # rows 10-14 of the speculative (page 2, size 10) answer are not taken
    assert sorted(gate.server.requests) == [(1, 10), (2, 5), (2, 10), (3, 5), (4, 5), (5, 5)]


def test_no_speculation_when_max_items_fits_the_first_page_or_when_sequential():
    for kwargs in ({"max_items": 10, "concurrency": 3}, {"concurrency": 1}):
        server = SlowServer(50, 10, delay=lambda k: 0.05 if k == 0 else 0)

        def fetch(index, size, server=server):
            cancel.sending()
            return server.fetch(index, size)

        list(indexed_pages(fetch, page_size=10, key=ident, label="T", speculate_after=0.001, **kwargs))
        assert server.started[:1] == [0] and server.max_in_flight == 1, kwargs


def test_a_page_sent_ahead_is_retried_only_once_the_first_page_shows_it_is_wanted():
    """The transport tells of each retry (``cancel.retrying``): for the page sent ahead of the total, that call
    returns (and the transport backs off and retries) only once the first page's total shows the page is needed."""
    events: list[str] = []
    release = threading.Event()

    def fetch(index, size):
        cancel.sending()
        if index == 0:
            release.wait(5)
            events.append("page 1 answered")
        elif index == 1:
            release.set()
            cancel.retrying()  # its first attempt failed
            events.append("page 2 retried")
        return rows(10, start=index * 10), 30

    got = flat(indexed_pages(fetch, page_size=10, key=ident, label="T", concurrency=3, speculate_after=0.01))
    assert got == list(range(30)) and events[:2] == ["page 1 answered", "page 2 retried"]


def test_a_page_sent_ahead_that_is_not_wanted_is_not_retried():
    attempts: list[int] = []
    release = threading.Event()

    def fetch(index, size):
        attempts.append(index)
        cancel.sending()
        if index == 0:
            release.wait(5)
        elif index == 1:
            release.set()
            cancel.retrying()  # raises: everything fitted on the first page
            raise AssertionError("an unneeded page was retried")
        return rows(8), 8

    assert flat(indexed_pages(fetch, page_size=10, key=ident, label="T", concurrency=3,
                              speculate_after=0.01)) == list(range(8))
    assert attempts == [0, 1] and page_threads() == []


def test_a_page_not_yet_out_when_the_first_is_retried_stays_in_and_comes_in_its_turn():
    """Page 2 is past its wait (say, in the rate limiter's queue) when page 1 fails an attempt: it does not leave
    ahead of the total; once page 1's total shows it is wanted, it is fetched, and asked for once."""
    sent: list[int] = []
    page_2_waiting, page_1_retrying = threading.Event(), threading.Event()

    def fetch(index, size):
        if index == 0:
            cancel.sending()
            sent.append(0)
            page_2_waiting.wait(5)
            cancel.retrying()  # page 1 failed an attempt and is retried
            page_1_retrying.set()
            cancel.sending()
            sent.append(0)
        elif index == 1:
            page_2_waiting.set()
            page_1_retrying.wait(5)
            cancel.sending()  # raises while page 1 is being retried; passes once the page is known to be wanted
            sent.append(1)
        else:
            sent.append(index)
        return rows(10, start=index * 10), 30

    got = flat(indexed_pages(fetch, page_size=10, key=ident, label="T", concurrency=3, speculate_after=0.01))
    assert got == list(range(30)) and sorted(sent) == [0, 0, 1, 2]


def test_a_bad_first_answer_leaves_no_page_thread_behind():
    def fetch(index, size):
        cancel.sending()
        time.sleep(0.05 if index == 0 else 0)
        return rows(10), None  # not a count: the generator fails between page 1's answer and its loop

    with pytest.raises(TypeError):
        list(indexed_pages(fetch, page_size=10, key=ident, label="T", concurrency=3, speculate_after=0.01))
    assert page_threads() == []


def test_a_first_page_being_retried_sends_nothing_ahead():
    attempts: list[int] = []

    def fetch(index, size):
        attempts.append(index)
        cancel.sending()
        if index == 0:
            cancel.retrying()  # page 1 failed an attempt and is retried: the API is struggling, not merely slow
            time.sleep(0.2)
        return rows(10, start=index * 10), 30

    got = flat(indexed_pages(fetch, page_size=10, key=ident, label="T", concurrency=3, speculate_after=0.05))
    assert got == list(range(30)) and sorted(attempts) == [0, 1, 2]  # none twice, none ahead


def test_the_wait_counts_from_the_first_request_leaving_not_from_its_preparation():
    attempts: list[int] = []

    def fetch(index, size):
        attempts.append(index)
        if index == 0:
            time.sleep(0.2)  # a first request's set-up (imports, a connection) is not the API being slow
        cancel.sending()
        return rows(8), 8

    assert flat(indexed_pages(fetch, page_size=10, key=ident, label="T", concurrency=3,
                              speculate_after=0.05)) == list(range(8))
    assert attempts == [0]


def test_an_error_on_a_slow_first_page_sends_no_second_one():
    attempts: list[int] = []

    def fetch(index, size):
        attempts.append(index)
        raise NetworkError("refused")

    with pytest.raises(NetworkError):
        list(indexed_pages(fetch, page_size=10, key=ident, label="T", concurrency=3, speculate_after=5))
    assert attempts == [0] and page_threads() == []


# -- properties ---------------------------------------------------------------------------------------------

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def listings(draw):
    total = draw(st.integers(0, 500))
    size = draw(st.integers(1, 60))
    max_items = draw(st.one_of(st.none(), st.integers(1, 520)))
    concurrency = draw(st.integers(1, 5))
    cap = draw(st.one_of(st.none(), st.integers(1, 60)))
    return total, size, max_items, concurrency, cap


def expected_ids(total: int, max_items: int | None) -> list[int]:
    return list(range(total if max_items is None else min(total, max_items)))


@FAST
@given(listings(), st.sampled_from(["page", "offset"]))
def test_indexed_styles_yield_each_item_exactly_once_in_order(listing, style):
    total, size, max_items, concurrency, cap = listing
    server = IndexedServer(rows(total), cap=cap, style=style)
    got = flat(indexed_pages(server.fetch, page_size=size, key=ident, label="T", max_items=max_items,
                             concurrency=concurrency))
    assert got == expected_ids(total, max_items)
    effective = min(size, cap) if cap and total > min(size, cap) else size
    assert len(server.requests) == max(1, math.ceil(len(got) / effective))  # no page fetched twice or in vain


@FAST
@given(listings())
def test_cursor_style_yields_each_item_exactly_once_in_order(listing):
    total, size, max_items, _, _ = listing
    server = CursorServer(rows(total), size)
    got = flat(cursor_pages(server, key=ident, label="T", max_items=max_items))
    assert got == expected_ids(total, max_items)
    assert len(server.requests) == max(1, math.ceil(len(got) / size))


@FAST
@given(listings(), st.sampled_from(["page", "offset", "cursor"]), st.integers(0, 2**32))
def test_duplicates_injected_across_page_boundaries_appear_exactly_once(listing, style, seed):
    total, size, max_items, concurrency, _ = listing
    items = rows(total)

    def with_duplicates(offset: int, page: list[dict]) -> list[dict]:
        """Repeat up to three rows of earlier pages around this page, as a shifting listing does."""
        if offset == 0 or not page:
            return page
        rnd = random.Random(seed + offset)  # per page, so that the pool's thread order does not matter
        before = items[max(0, offset - 3):offset]
        head = before[len(before) - rnd.randint(0, len(before)):]
        tail = rnd.sample(items[:offset], k=min(offset, rnd.randint(0, 2)))
        return head + page + tail

    if style == "cursor":
        def fetch_cursor(cursor):
            offset = int(cursor or 0)
            page = items[offset:offset + size]
            nxt = offset + size
            return with_duplicates(offset, page), (str(nxt) if nxt < total else None)

        got = flat(cursor_pages(fetch_cursor, key=ident, label="T", max_items=max_items))
    else:
        def fetch_index(index, page_size):
            offset = index * page_size
            return with_duplicates(offset, items[offset:offset + page_size]), total

        got = flat(indexed_pages(fetch_index, page_size=size, key=ident, label="T", max_items=max_items,
                                 concurrency=concurrency))
    assert got == expected_ids(total, max_items)


# -- a reported total below the rows the pages hold -----------------------------------------------------------

class LowTotalServer(IndexedServer):
    """Serves the real rows but reports ``total`` (too low) with every page."""

    def __init__(self, items: list[dict], total: int, **kwargs) -> None:
        super().__init__(items, **kwargs)
        self.reported = total

    def slice(self, offset: int, size: int) -> tuple[list[dict], int]:
        return super().slice(offset, size)[0], self.reported


@pytest.mark.parametrize("style", ["page", "offset"])
@pytest.mark.parametrize("concurrency", [1, 3])
@pytest.mark.parametrize("n,reported,requests", [
    (25, 1, 3),  # page 1 already holds more rows than the total: read on to the short page 3
    (25, 0, 3),  # a total of 0 with rows on page 1
    (25, 23, 3),  # the last page holds more rows than the total says
    (25, 19, 3),  # page 2 goes past the total (19 is not where a full page 2 ends)
    (30, 1, 4),  # every page full: only an empty page 4 shows the end
    (30, 15, 4),
])
def test_pages_beyond_the_reported_total_are_all_read_with_a_warning(style, concurrency, n, reported, requests):
    server = LowTotalServer(rows(n), reported, style=style)
    warnings = []
    got = flat(indexed_pages(server.fetch, page_size=10, key=ident, label="Cryptofuse balance history",
                             concurrency=concurrency, warn=warnings.append))
    assert got == list(range(n))  # never a silent subset
    assert warnings == [f"Cryptofuse balance history: the API reported a total of {reported} but its pages held "
                        f"{n} rows; every page was read"]
    assert len(server.requests) == requests


def test_a_short_first_page_beyond_the_total_is_read_on_at_its_size():
    # page 1 is short (20 of 50) and holds more than the total (3): a stale total or a server cap, or both;
    # the next page at the size page 1 had tells which
    server = LowTotalServer(rows(65), 3, cap=20)
    warnings = []
    assert flat(indexed_pages(server.fetch, page_size=50, key=ident, label="T", warn=warnings.append)) == \
        list(range(65))
    assert server.requests == [(1, 50), (2, 20), (3, 20), (4, 20)]
    assert len(warnings) == 1 and "total of 3 but its pages held 65 rows" in warnings[0]


def test_max_items_within_the_rows_beyond_a_low_total_needs_no_warning():
    server = LowTotalServer(rows(30), 1)
    warnings = []
    assert flat(indexed_pages(server.fetch, page_size=10, key=ident, label="T", max_items=15,
                              warn=warnings.append)) == list(range(15))
    assert len(server.requests) == 2 and warnings == []


def test_pages_beyond_the_total_that_bring_nothing_new_are_exit_7_not_a_hang():
    def fetch(index, size):  # two pages, alternating for ever, under a total of 1
        return rows(10, start=(index % 2) * 10), 1

    got = []
    with pytest.raises(ResponseError) as info:
        for page in indexed_pages(fetch, page_size=10, key=ident, label="T"):
            got.extend(r["id"] for r in page)
    assert info.value.exit_code == 7 and got == list(range(20))
    assert "page 3 brought no new rows after 20 rows, beyond the reported total of 1" in str(info.value)


@FAST
@given(listings(), st.sampled_from(["page", "offset"]), st.integers(0, 500))
def test_a_low_total_is_never_a_silent_subset(listing, style, under):
    """Every row, unless the low total is consistent with every page read (it ends where a full page ends):
    then nothing in the answers shows that rows are missing, and the total is trusted."""
    total, size, max_items, concurrency, cap = listing
    reported = max(0, total - under)
    server = LowTotalServer(rows(total), reported, cap=cap, style=style)
    warnings = []
    got = flat(indexed_pages(server.fetch, page_size=size, key=ident, label="T", max_items=max_items,
                             concurrency=concurrency, warn=warnings.append))
    if got != expected_ids(total, max_items):
        effective = min(size, cap) if cap else size
        assert got == expected_ids(reported, max_items) and reported % effective == 0 and reported > 0
    assert bool(warnings) == (len(got) > reported and (max_items is None or len(got) < max_items))
