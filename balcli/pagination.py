"""Lazy page generators, guarded (README "When things go wrong"): every page is fetched (no silent subset), a cursor
seen twice or a page that brings nothing new is an error (exit 7), never a hang; rows repeated across pages
are dropped; a total that changes during the run is warned about; an empty page while rows are still missing
is an error; pages that hold more rows than the reported total are all read (to a short or empty page), with a
warning.

Cursor pagination is sequential by nature (each cursor comes from the previous page). Page-number and offset
pagination know every page's address once the first page gives the total, so the rest are fetched by a small
bounded pool of threads (all under the source's one rate limiter) and still yielded strictly in order. When the
consumer stops early (``| head``, an error, Ctrl-C) or the generator is closed, the pages still in flight are
stopped (``balcli.cancel``: no further attempt, no back-off waited out) and waited for before the generator
is done: no page fetch outlives its run of pages.
"""

from __future__ import annotations

import math
import threading
from array import array
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from balcli.cancel import running_until
from balcli.errors import BalcliError, ResponseError

if TYPE_CHECKING:
    from concurrent.futures import Future  # imported when pages are fetched concurrently

T = TypeVar("T")
# An empty page with a next cursor is legal ("do not stop merely because list is empty"), but a run of them
# that never ends is a server fault, not a reason to hang.
MAX_BARREN_PAGES = 20
Key = Callable[[T], Hashable]
Warn = Callable[[str], None]
OnPage = Callable[[int, int, int | None], None]  # pages so far, rows so far, total (if known)


def _ignore(*_: Any) -> None:
    return None


class SeenKeys:
    """The row keys already yielded, to drop rows repeated across pages, in memory that stays small.

    A run over 100,000 broker customers must stream in flat memory, but every key has to be remembered:
    a plain set of the UID strings costs about 100 bytes a key (10 MB for 100,000), more than the rest of
    the run grows. Keys that are integers or canonical decimal strings (``"101479471"``: no sign, no
    leading zero, at most 18 digits, so that distinct strings are distinct numbers) are kept as 8-byte
    entries of an open-addressing hash table in an ``array`` (2 MB for 100,000); any other key goes to an
    ordinary set, and so does a key of the other type when a run mixes ``int`` and ``str`` keys (``123`` and
    ``"123"`` stay distinct; so do ``0`` and ``False``). Exact either way: nothing is dropped unless its key
    was really seen.
    """

    _EMPTY = -1  # no stored key is negative
    _MIX = 0x9E3779B97F4A7C15  # Fibonacci hashing: UIDs close together land far apart

    __slots__ = ("_bits", "_count", "_kind", "_other", "_table")

    def __init__(self) -> None:
        self._bits = 10
        self._table = array("q", [self._EMPTY]) * (1 << self._bits)
        self._count = 0
        self._kind: type | None = None  # str or int: the type of the keys the table holds
        self._other: set[Hashable] = set()

    def __len__(self) -> int:
        return self._count + len(self._other)

    def add(self, key: Hashable) -> bool:
        """Remember ``key``; True if it is new."""
        number = self._number(key, claim=True)
        if number is None:
            return self._add_other(key)
        i = self._slot(number)
        if self._table[i] == number:
            return False
        self._table[i] = number
        self._added()
        return True

    def _number(self, key: Hashable, *, claim: bool) -> int | None:
        """The table entry for ``key``, or None when it belongs in the fallback set (``claim``: the first key
        decides which type the table holds)."""
        kind = type(key)
        # ignores: mypy does not narrow `key` from the exact type tests on `kind` (exact: a bool is no int key)
        if kind is str and key.isdigit() and key.isascii() and len(key) <= 18 and (key[0] != "0" or key == "0"):  # type: ignore[attr-defined,arg-type,index]
            number = int(key)  # type: ignore[call-overload]
        elif kind is int and 0 <= key < 1 << 63:  # type: ignore[operator]
            number = key
        else:
            return None
        if self._kind is not kind:
            if self._kind is not None or not claim:
                return None
            self._kind = kind
        return number  # type: ignore[return-value]

    def _add_other(self, key: Hashable) -> bool:
        # Other keys than str are kept with their type: a plain set takes 0, False and 0.0 for one key.
        entry = self._entry(key)
        if entry in self._other:
            return False
        self._other.add(entry)
        return True

    @staticmethod
    def _entry(key: Hashable) -> Hashable:
        return key if type(key) is str else (type(key), key)

    def _slot(self, number: int) -> int:
        """Where ``number`` is in the table, or the empty slot where it would go."""
        table, mask = self._table, len(self._table) - 1
        i = ((number * self._MIX) & 0xFFFFFFFFFFFFFFFF) >> (64 - self._bits)
        while True:
            found = table[i]
            if found == self._EMPTY or found == number:
                return i
            i = (i + 1) & mask

    def _added(self) -> None:
        self._count += 1
        if self._count * 2 > len(self._table):
            self._grow()

    def _grow(self) -> None:
        old = self._table
        self._bits += 1
        self._table = array("q", [self._EMPTY]) * (1 << self._bits)
        for number in old:
            if number != self._EMPTY:
                self._table[self._slot(number)] = number


class KeyIndex(SeenKeys):
    """A small number (0 to 2**31 - 1) for each key, in the memory of ``SeenKeys`` plus 4 bytes a slot: for
    facts kept about every row key of a run (which coins a broker customer has had yielded). A key only
    ``add``-ed reads as 0, so one index can serve as a run's ``SeenKeys`` too."""

    __slots__ = ("_other_values", "_values")

    def __init__(self) -> None:
        super().__init__()
        self._values = array("i", [0]) * len(self._table)
        self._other_values: dict[Hashable, int] = {}

    def get(self, key: Hashable) -> int | None:
        number = self._number(key, claim=False)
        if number is None:
            entry = self._entry(key)
            return self._other_values.get(entry, 0 if entry in self._other else None)
        i = self._slot(number)
        return self._values[i] if self._table[i] == number else None

    def put(self, key: Hashable, value: int) -> None:
        number = self._number(key, claim=True)
        if number is None:
            self._other.add(self._entry(key))
            self._other_values[self._entry(key)] = value
            return
        i = self._slot(number)
        self._values[i] = value
        if self._table[i] != number:
            self._table[i] = number
            self._added()

    def _grow(self) -> None:
        old_table, old_values = self._table, self._values
        self._bits += 1
        self._table = array("q", [self._EMPTY]) * (1 << self._bits)
        self._values = array("i", [0]) * len(self._table)
        for number, value in zip(old_table, old_values):
            if number != self._EMPTY:
                j = self._slot(number)
                self._table[j], self._values[j] = number, value


def cursor_pages(
    fetch: Callable[[str | None], tuple[list[T], str | None]], *, key: Key[T], label: str,
    max_items: int | None = None, on_page: OnPage = _ignore, keep_repeats: bool = False,
    seen: SeenKeys | None = None,
) -> Iterator[list[T]]:
    """Follow ``next`` cursors from ``fetch(None)`` until an empty/absent cursor; yield deduplicated pages.

    Only ``None`` and ``""`` end the run: any other cursor that is not a string (``0``, ``{}``, ``[]``) is a
    malformed answer (exit 7), never taken for "no more pages". ``keep_repeats``: items whose key an earlier
    page held are yielded too (not counted as new rows), for a caller that merges them (a broker customer whose
    coins span two pages). ``seen``: the keys' memory, when the caller keeps facts about the same keys (a
    ``KeyIndex``, where a key added here reads as 0)."""
    seen_cursors: set[str] = set()
    seen_keys = seen if seen is not None else SeenKeys()
    cursor: str | None = None
    pages = rows = barren = 0
    while True:
        items, next_cursor = fetch(cursor)
        pages += 1
        if next_cursor is not None and not isinstance(next_cursor, str):
            raise ResponseError(f"{label}: the next cursor is not a string ({type(next_cursor).__name__} "
                                f"{str(next_cursor)[:40]!r}) after {pages} pages, {rows} rows",
                                "the API's paging is malformed (or a proxy altered the answer); the run is not "
                                "complete, run again later or with -vv to see the answer")
        fresh = _fresh(items, [key(item) for item in items], seen_keys)
        repeats: list[T] = []
        if keep_repeats and len(fresh) < len(items):
            kept = {id(item) for item in fresh}
            repeats = [item for item in items if id(item) not in kept]
        barren = 0 if fresh else barren + 1
        if barren > MAX_BARREN_PAGES:
            raise ResponseError(f"{label}: {barren} pages in a row brought no new rows (after {pages} pages, "
                                f"{rows} rows); the cursors never end", "the API's paging is inconsistent; "
                                "run again later")
        if max_items is not None and rows + len(fresh) > max_items:
            fresh = fresh[: max_items - rows]
        rows += len(fresh)
        on_page(pages, rows, None)
        yield fresh + repeats if repeats else fresh
        if not next_cursor or (max_items is not None and rows >= max_items):
            return
        if next_cursor in seen_cursors or next_cursor == cursor:
            raise ResponseError(f"{label} pagination cycle: cursor {next_cursor!r} was already used "
                                f"(after {pages} pages, {rows} rows)", "the API's paging is inconsistent; "
                                "run again later", api_message=None)
        if cursor is not None:
            seen_cursors.add(cursor)
        cursor = next_cursor


def indexed_pages(
    fetch: Callable[[int, int], tuple[list[T], int]], *, page_size: int, key: Key[T], label: str,
    max_items: int | None = None, concurrency: int = 1, warn: Warn = _ignore, on_page: OnPage = _ignore,
    speculate_after: float | None = None,
) -> Iterator[list[T]]:
    """Pages addressed by index (0-based) and size: ``fetch(index, size) -> (items, total)``.

    Page numbers are ``index + 1``; offsets are ``index * size``. ``size`` is ``page_size`` unless the first
    page shows the server caps it lower (a short first page while the total says more rows exist).

    The reported total ends the run only while it is consistent with the pages: once the pages have held more
    rows than it says, it is stale, and the run reads on (one page at a time) until a short or an empty page,
    then warns. A total above the rows the pages hold ends with an empty page: an error (exit 7).

    ``speculate_after`` (concurrent runs; seconds, the rate limiter's spacing): when the first page's request has
    been out that long without an answer, the second is asked for before the total is known, so that a slow API
    costs one latency and not two before the pages flow at the full rate. A fast first answer (the usual case)
    sends nothing more; a slow one costs one unneeded request when everything fits on the first page (its rows
    are never used). See ``_SecondPage``.
    """
    workers = _Workers()
    ahead: deque[tuple[int, Future[Any]]] = deque()
    second = None
    try:
        if speculate_after is not None and concurrency > 1 and (max_items is None or max_items > page_size):
            second = _SecondPage(fetch, page_size, speculate_after, workers)
        first, total = running_until(None, fetch, 0, page_size, on_retry=second.give_up if second else None,
                                     on_send=second.first_sent.set if second else None)
        # A short first page is the server's cap unless it holds exactly the total: with more rows to come, or
        # with more rows than the (then stale) total, the next pages are asked for at that size.
        size = len(first) if 0 < len(first) < page_size and total != len(first) else page_size
        first_total = total
        seen = SeenKeys()
        rows = pages = 0
        target = _target(total, max_items)
        planned = math.ceil(target / size) if size else 0

        concurrent = concurrency > 1 and planned > 2
        next_index = 1
        # The second page at the size asked for is read next when the total says so, or when a full first page
        # already holds more rows than a (stale) total.
        if second is not None and second.settle(
                wanted=size == page_size and (planned >= 2 or len(first) == size > total)):
            ahead.append((1, second.future))
            next_index = 2

        def submit_more() -> None:
            nonlocal next_index
            while concurrent and len(ahead) < concurrency and next_index < planned:
                ahead.append((next_index, workers.start(fetch, next_index, size)))
                next_index += 1

        def beyond_total() -> None:
            warn(f"{label}: the API reported a total of {total} but its pages held {rows} rows; every page was read")

        index, items = 0, first
        previous_keys: list[Hashable] | None = None
        while True:
            pages += 1
            if total != first_total:
                warn(f"{label}: the total changed during the run ({first_total} -> {total}); "
                     "the rows reflect the data as each page was read")
                first_total = total
                target = _target(total, max_items)
                planned = max(planned, math.ceil(target / size))
            keys = [key(item) for item in items]
            if not items:
                if rows < target:
                    raise ResponseError(
                        f"{label}: page {index + 1} is empty but only {rows} of {total} rows were received",
                        "the API's paging is inconsistent; run again later")
                if rows > total and (max_items is None or rows < max_items):
                    beyond_total()
                on_page(pages, rows, total if rows <= total else None)
                return
            if keys == previous_keys:
                raise ResponseError(f"{label}: page {index + 1} repeats page {index} (pagination does not advance)",
                                    "the API's paging is inconsistent; run again later")
            fresh = _fresh(items, keys, seen)
            if not fresh and rows < target:
                raise ResponseError(f"{label}: page {index + 1} brought no new rows ({rows} of {total} so far)",
                                    "the API's paging is inconsistent; run again later")
            if not fresh and rows > total and len(items) >= size:  # past a stale total, and not advancing
                raise ResponseError(f"{label}: page {index + 1} brought no new rows after {rows} rows, beyond the "
                                    f"reported total of {total}", "the API's paging is inconsistent; run again later")
            if max_items is not None and rows + len(fresh) > max_items:
                fresh = fresh[: max_items - rows]
            rows += len(fresh)
            done = max_items is not None and rows >= max_items
            stale = not done and rows > total  # the total is too low: only a short page shows the end
            # Only now ask for the pages ahead: a page that shows the paging is broken (empty while rows are
            # missing, a repeat, a row without its key) ends the run without sending more requests. Pages past
            # a stale total are not planned, so they are asked for one at a time.
            submit_more()
            on_page(pages, rows, None if stale else total)
            yield fresh
            previous_keys = keys
            if stale and len(items) < size:
                beyond_total()
                return
            if done or (not stale and rows >= target):
                return
            index += 1
            if ahead and ahead[0][0] == index:
                items, total = ahead.popleft()[1].result()
            else:
                items, total = fetch(index, size)
    finally:
        _stop(workers, ahead, second)


def _stop(workers: _Workers, ahead: deque[tuple[int, Future[Any]]], second: _SecondPage | None) -> None:
    """Pages still in flight when the consumer stops (| head, an error, Ctrl-C, close()) are stopped: one not yet
    started never starts, one being retried or waiting for the rate limiter ends at once, and one whose request is
    on the wire ends with that request (bounded by --timeout). Then they are waited for."""
    if second is not None:
        second.stop()
    workers.stop.set()
    for _, fut in ahead:
        fut.cancel()
    workers.join()


class _SecondPage:
    """The second page, asked for before the first page's total is known when the first is slow to come back.

    Once the first page's request has left, this page's thread waits ``after`` seconds (the rate limiter's
    spacing) for its answer. If the first page is back by then, or is being retried (the API is failing, not
    merely slow: ``give_up``), this page is not asked for ahead of the total. Otherwise its request is prepared,
    and the transport's hooks decide at the last moment: it leaves only while the first page is neither being
    retried nor known to make it unneeded, and a failed attempt is retried only once the consumer has
    ``settle``d that the page is wanted (its thread waits for that). A page that could not go out ahead of the
    total but is wanted is then fetched by the same thread, in its turn.
    """

    def __init__(self, fetch: Callable[[int, int], Any], size: int, after: float, workers: _Workers) -> None:
        self._fetch, self._after = fetch, after
        self._lock = threading.Lock()
        self.first_sent = threading.Event()  # the first page's request left (or the wait is over anyway)
        self._halt = threading.Event()  # the first page is back or being retried, or the run ended
        self._settled = threading.Event()  # the consumer decided (settle), or the run ended
        self._committed = False  # past the wait: this thread will deliver the page if it is wanted
        self._wanted = False
        self.future = workers.start(self._run, 1, size)

    def give_up(self) -> None:
        """The first page is being retried: nothing more leaves ahead of it (a request already out stays out)."""
        with self._lock:
            self._halt.set()
            self.first_sent.set()

    def settle(self, *, wanted: bool) -> bool:
        """The first page is back: whether the consumer takes this page from ``future`` (it is wanted, and this
        thread is past its wait, so it delivers the page, sent ahead or fetched in its turn)."""
        with self._lock:
            self._wanted = wanted
            self._halt.set()
            self._settled.set()
            self.first_sent.set()
            return self._committed and wanted

    def stop(self) -> None:
        """The run is ending: nothing more leaves, and a thread waiting for a decision goes."""
        with self._lock:
            self._wanted = False
            self._halt.set()
            self._settled.set()
            self.first_sent.set()

    def _run(self, index: int, size: int) -> Any:
        self.first_sent.wait()
        self._halt.wait(self._after)
        with self._lock:
            if self._halt.is_set():
                return None
            self._committed = True
        try:
            return running_until(None, self._fetch, index, size, on_send=self._may_send, on_retry=self._may_retry)
        except _Speculation:  # it could not go out ahead of the total
            self._settled.wait()
            return self._fetch(index, size) if self._wanted else None

    def _may_send(self) -> None:
        """Ahead of the total (nothing halted it yet), or once known to be wanted: the request may leave."""
        with self._lock:
            if self._halt.is_set() and not self._wanted:
                raise _Speculation("the page is not to be asked for ahead of the first page's total")

    def _may_retry(self) -> None:
        self._settled.wait()  # retried only once known to be wanted (the transport's back-off follows)
        if not self._wanted:
            raise _Speculation("a page asked for ahead of the total is not retried unless it is wanted")


def _fresh(items: list[T], keys: list[Hashable], seen: SeenKeys) -> list[T]:
    """The items whose key no earlier page held; remember this page's keys.

    Only rows repeated *across* pages are dropped (README "Commands"): two equal keys within one page are two rows (the
    Cryptofuse history has no id, so two identical entries, e.g. equal deposits in the same second, share the
    whole-row key).
    """
    new = [seen.add(k) for k in keys]
    if all(new):
        return items
    first_here = {(type(k), k) for k, is_new in zip(keys, new) if is_new}  # typed, as SeenKeys keeps them
    return [item for item, k, is_new in zip(items, keys, new) if is_new or (type(k), k) in first_here]


class _Workers:
    """The page threads of one run of pages: each fetches one page; ``stop`` ends them early (see
    ``balcli.cancel``) and ``join()`` returns once none of them is still at work.

    The consumer keeps no reference to the thread objects: a thread object freed on the main thread runs a
    clean-up callback there, and a Ctrl-C that lands in such a callback is swallowed (the run would go on). So
    each thread counts itself in and out, and ``join`` waits for the count to reach zero. A thread that starts
    after ``stop`` is set leaves without fetching anything."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self._idle = threading.Condition()
        self._busy = 0

    def start(self, fetch: Callable[[int, int], Any], index: int, size: int) -> Future:
        """``fetch(index, size)`` on a daemon thread of its own (should the consumer's join itself be cut short,
        by a second Ctrl-C, a page on the wire never holds up the interpreter's exit)."""
        from concurrent.futures import Future

        fut: Future = Future()

        def target() -> None:
            with self._idle:
                self._busy += 1
            try:
                if self.stop.is_set() or not fut.set_running_or_notify_cancel():
                    return
                try:
                    fut.set_result(running_until(self.stop, fetch, index, size))
                except BaseException as exc:  # noqa: BLE001 - handed to the consumer, in page order
                    fut.set_exception(exc)
            finally:
                with self._idle:
                    self._busy -= 1
                    self._idle.notify_all()

        threading.Thread(target=target, daemon=True, name=f"balcli-page-{index + 1}").start()
        return fut

    def join(self) -> None:
        with self._idle:
            self._idle.wait_for(lambda: self._busy == 0)


class _Speculation(BalcliError):
    """A page asked for ahead of the total failed an attempt before it was known to be wanted."""


def _target(total: int, max_items: int | None) -> int:
    return total if max_items is None else min(total, max_items)
