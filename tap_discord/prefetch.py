"""Fetch the pages of upcoming targets in worker threads; hand them over in order.

Why: Discord lets a bot read about one message page per second per channel but 50
requests per second in all, so reading one channel at a time uses a small fraction
of the allowance. The SDK is single-threaded, and its state, message writer, sessions
and metric meters are not thread-safe, so only HTTP moves to worker threads here:

* Workers claim targets in order and fetch each target's pages in order (each worker
  with its own `requests.Session`; the rate limiter behind it is shared, and gives
  the target nearest the output the next free slot of the global rate, so targets
  finish about in output order and the main thread writes while others are still
  fetched). They never touch SDK state, records or metrics.
* The main thread drains the targets in order with `pages(i)`, so what the tap emits,
  and when it writes STATE, is exactly what the sequential walk produces.
* Memory is bounded in bytes: a page is kept as its raw response body (compact; the
  main thread parses it when it emits it), and at most `budget` bytes are buffered or
  reserved for requests in flight, in total, plus at most `lane_cap` pages for the
  target the main thread is draining. That target is exempt from the budget,
  otherwise a budget filled by later targets would deadlock. A request in flight
  reserves the size of the largest page seen so far, so the budget can be overrun by
  at most one page's difference per worker.
* When the memory budget is full, later targets' pages are parked on disk, within
  `spill_budget` bytes (`spill.py` says why); a target's file is emptied as soon as
  its pages have been read. A failure to write there (a full disk) ends parking for
  the run, with a warning, and the page stays in memory.
* A worker's exception is stored with its target and re-raised by `pages(i)` on the
  main thread, after the pages fetched before it: the same point, and the same error,
  as in a sequential run. A fatal (not skippable) error stops work on later targets.
* Threads are daemons and stop at `close()`, so an exception, SIGINT or SIGTERM never
  leaves the process waiting for them.
* Each thread waits on a condition of its own (one lock for all), and a change wakes
  only the threads it can let go on: the main thread for a page of the target it
  drains, the worker of that target, and the waiting worker nearest the output when
  bytes are freed. Waking every thread at every page would cost each page a GIL
  hand-over per worker, and the main thread, whose CPU bounds an unthrottled run,
  would spend that time getting the GIL back.
"""

from __future__ import annotations

import ctypes
import datetime
import logging
import sys
import threading
import time
import typing as t
from collections import deque
from dataclasses import dataclass, field

import requests

from tap_discord.sdkcontract import utc_now
from tap_discord.spill import MAX_SPILL_FILES, SpillFile

if t.TYPE_CHECKING:
    from collections.abc import Generator, Iterator, Sequence
    from types import TracebackType

    from singer_sdk.helpers.types import Context

#: Pages the target being drained may hold beyond the byte budget.
DRAINED_LANE_PAGES = 8
#: Bytes a request in flight reserves before any page has been seen (a page of 100
#: messages is about 100 KB).
FIRST_PAGE_ESTIMATE = 128 * 1024
#: How long `close()` waits for workers in total; they are daemons, this is courtesy.
CLOSE_JOIN_SECONDS = 1.0
#: How often the main thread checks that workers are still alive while it waits.
LIVENESS_CHECK_SECONDS = 1.0
#: glibc's `M_MMAP_THRESHOLD` parameter, and the value set (see `map_large_blocks`).
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 64 * 1024


@dataclass(frozen=True)
class Page:
    """One fetched page: its raw JSON body, and its response's status and timing (metrics).

    The body stays bytes until the main thread emits it: parsed records take several
    times the memory, and parsing on the main thread keeps the workers' GIL time short.
    """

    body: bytes
    response: requests.Response
    #: True when the worker saw the records' ids strictly decreasing (Discord's order).
    newest_first: bool = False
    #: When the page arrived: its records' `time_extracted`.
    extracted_at: datetime.datetime = field(default_factory=utc_now)

    @property
    def size(self) -> int:
        """What the page costs the budget: its body's length."""
        return len(self.body)


@dataclass(frozen=True, slots=True)
class ParkedPage:
    """A page whose body waits in its target's spill file: what rebuilds it, and no more.

    Not the page's response shell (a `requests.Response` is over 1 KB): many
    thousands of parked pages must stay small in memory.
    """

    offset: int
    size: int  # the body's length, what the page costs the disk budget
    status: int
    url: str | None
    newest_first: bool
    extracted_at: datetime.datetime

    @classmethod
    def of(cls, page: Page, offset: int) -> ParkedPage:
        """What to keep of `page`, whose body was written at `offset`."""
        response = page.response
        return cls(
            offset,
            page.size,
            response.status_code,
            response.url,
            page.newest_first,
            page.extracted_at,
        )

    def rebuild(self, body: bytes) -> Page:
        """The page again, with its body read back."""
        shell = response_shell(self.status, self.url)
        return Page(body, shell, self.newest_first, self.extracted_at)


def response_shell(status_code: int, url: str | None) -> requests.Response:
    """What the main thread reads of a page's response (status, URL), without its body.

    A buffered page then costs its body only, not also a full response object.
    """
    shell = requests.Response()
    shell.status_code = status_code
    shell.url = url  # type: ignore[assignment]
    return shell


class PageSource(t.Protocol):
    """What a stream offers worker threads: a session per worker and a thread-safe pager."""

    def new_worker_session(self) -> requests.Session:
        """A session for one worker thread."""

    def fetch_pages(
        self, session: requests.Session, context: Context, priority: int | None = None
    ) -> Generator[Page, None, None]:
        """The pages of one target, in order, fetched with `session`.

        `priority` is the target's place in the output: lower values should get the
        shared rate limit's slots first.
        """


@dataclass
class _Lane:
    """One target's buffer: pages not yet drained, and how the fetching ended."""

    #: Where this target's worker waits for room (shares the prefetcher's lock).
    room: threading.Condition
    pages: deque[Page | ParkedPage] = field(default_factory=deque)
    held: int = 0  # pages buffered or in flight
    reserved: int = 0  # bytes reserved for the page in flight
    to_disk: bool = False  # the page in flight is to be parked on disk
    spill: SpillFile | None = None  # where its parked pages wait (created by its worker)
    spill_slot: bool = False  # counted among the open spill files
    parked: int = 0  # parked pages not read yet
    done: bool = False
    error: BaseException | None = None


class Prefetcher:
    """Worker threads that read targets ahead of the main thread, within a byte budget."""

    def __init__(
        self,
        source: PageSource,
        contexts: Sequence[Context],
        *,
        workers: int,
        budget: int,
        lane_cap: int,
        skippable: tuple[type[BaseException], ...] = (),
        page_estimate: int = FIRST_PAGE_ESTIMATE,
        before_wait: t.Callable[[], None] | None = None,
        spill_budget: int = 0,
        spill_dir: str | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        """Prepare one lane per target; `skippable` errors do not stop later targets.

        `budget` is in bytes of page bodies; `lane_cap` in pages; `page_estimate` is
        what a request in flight reserves until a larger page has been seen.
        `before_wait` runs on the main thread before it waits for a page.
        `spill_budget` is in bytes parked on disk, in `spill_dir` (0: none).
        """
        if workers < 1 or budget < 1 or lane_cap < 1:
            msg = "workers, budget and lane_cap must be at least 1"
            raise ValueError(msg)
        self._source = source
        self._contexts = list(contexts)
        self._lock = threading.Lock()
        self._news = threading.Condition(self._lock)  # the main thread waits here
        self._lanes = [_Lane(threading.Condition(self._lock)) for _ in self._contexts]
        self._max_workers = workers
        self._active = 0  # worker threads started and not finished claiming
        self._budget = budget
        self._lane_cap = lane_cap
        self._skippable = skippable
        self._before_wait = before_wait
        self._held = 0  # bytes buffered or reserved, all lanes
        self._spill_budget = spill_budget if SpillFile.supported() else 0
        self._spill_dir = spill_dir
        self._spilled = 0  # bytes in spill files or reserved there, all lanes
        self._spill_files = 0
        self._log = logger or logging.getLogger(__name__)
        self._estimate = page_estimate  # bytes a request in flight reserves
        self._next = 0  # next target a worker may claim
        self._current = 0  # target the main thread drains
        self._stop_after = sys.maxsize  # no target beyond a fatal error
        self._closed = False
        self._started = False
        self._waiting: set[int] = set()  # targets waiting for a budget slot
        self._threads: list[threading.Thread] = []
        self.peak_held = 0  # for tests and benchmarks: the most bytes ever held at once
        self.peak_spilled = 0  # and the most bytes ever parked on disk at once

    def __enter__(self) -> Prefetcher:
        """Start the workers."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the workers, whatever happened."""
        self.close()

    def start(self) -> None:
        """Start the worker threads (daemons: they never keep the process alive)."""
        map_large_blocks()
        with self._lock:
            self._started = True
            self._add_workers()

    def extend(self, contexts: Sequence[Context]) -> None:
        """Add targets after the others (output order), with workers for them if needed.

        Why: the targets of a guild's threads are known only once its threads are
        listed, which the main thread does while workers already read its channels.
        """
        with self._lock:
            for context in contexts:
                self._contexts.append(context)
                self._lanes.append(_Lane(threading.Condition(self._lock)))
            if self._started and not self._closed:  # more lanes may need more workers
                self._add_workers()

    def _add_workers(self) -> None:
        """Start workers for unclaimed lanes, up to `workers` at once (the lock held)."""
        if self._next > self._stop_after:  # a fatal error: no lane will be claimed
            return
        unclaimed = len(self._lanes) - self._next
        for _ in range(min(self._max_workers - self._active, unclaimed)):
            thread = threading.Thread(
                target=self._work, name=f"tap-discord-prefetch-{len(self._threads)}", daemon=True
            )
            self._threads.append(thread)
            self._active += 1
            thread.start()

    def close(self) -> None:
        """Stop claiming and fetching, drop buffered pages, give workers a moment to end."""
        with self._lock:
            self._closed = True
            for lane in self._lanes:
                lane.pages.clear()
                if not lane.to_disk:  # else its worker is writing: it closes the file
                    self._release_spill(lane)
            self._wake_everyone()
        deadline = time.monotonic() + CLOSE_JOIN_SECONDS
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        if self.peak_spilled:
            self._log.info(
                "Message pages parked on disk while earlier channels were written: "
                "at most %.1f MB at once (prefetch_spill_mb)",
                self.peak_spilled / (1024 * 1024),
            )

    @property
    def spilled_bytes(self) -> int:
        """Bytes parked on disk (or reserved there) now: 0 once every target is read."""
        with self._lock:
            return self._spilled

    # Main thread ------------------------------------------------------------------

    def pages(self, index: int) -> Iterator[Page]:
        """Target `index`'s pages in order, then its error if it had one (main thread).

        Targets must be drained in increasing order; the one drained is never held back
        by the budget.
        """
        with self._lock:
            self._current = index
            self._lanes[index].room.notify()  # its lane may now exceed the budget
        while (page := self._take(index)) is not None:
            yield page

    def _take(self, index: int) -> Page | None:
        """The lane's next page, None at its end; re-raise the worker's error there."""
        lane = self._lanes[index]
        if self._before_wait is not None and not lane.pages and not lane.done:
            self._before_wait()  # a page may arrive meanwhile: harmless
        error: BaseException | None = None
        with self._lock:
            while not lane.pages and not lane.done:
                self._wait_for_workers()
            page: Page | ParkedPage | None = None
            if lane.pages:
                page = lane.pages.popleft()
                lane.held -= 1
                if isinstance(page, Page):
                    self._held -= page.size
                lane.room.notify()
                self._wake_first_waiting()
            else:
                error, lane.error = lane.error, None
                self._release_spill(lane)
        if isinstance(page, ParkedPage):
            return self._unpark(lane, page)
        if error is not None:
            raise error
        return page

    def _unpark(self, lane: _Lane, parked: ParkedPage) -> Page:
        """Read a parked page back; empty the lane's file once it has none left unread."""
        assert lane.spill is not None  # set by its worker before the page was delivered
        page = parked.rebuild(lane.spill.read(parked.offset, parked.size))
        with self._lock:
            lane.parked -= 1
            if lane.parked == 0 and not lane.to_disk and not self._closed:
                self._spilled -= lane.spill.clear()
                self._wake_first_waiting()
        return page

    def _wait_for_workers(self) -> None:
        """Wait for a worker's news; fail rather than hang if every worker is gone."""
        if self._closed:
            msg = "the page prefetcher was closed while a target was being read"
            raise RuntimeError(msg)
        if not any(thread.is_alive() for thread in self._threads):
            msg = "every page prefetch worker stopped before its target was read"
            raise RuntimeError(msg)
        self._news.wait(LIVENESS_CHECK_SECONDS)

    # Worker threads ----------------------------------------------------------------

    def _work(self) -> None:
        """Claim targets in order and fetch them, until none is left or we are closed."""
        ended = False  # `_claim` counted this worker out
        try:
            session = self._source.new_worker_session()
            try:
                while (index := self._claim()) is not None:
                    self._fill(index, session)
                ended = True
            finally:
                session.close()
        finally:
            if not ended:  # died of an exception: count it out here
                with self._lock:
                    self._active -= 1

    def _claim(self) -> int | None:
        """The next unclaimed target, or None when there is none or work has stopped."""
        with self._lock:
            index = self._next
            if self._closed or index >= len(self._lanes) or index > self._stop_after:
                self._active -= 1  # this worker ends
                return None
            self._next += 1
            return index

    def _fill(self, index: int, session: requests.Session) -> None:
        """Fetch one target page by page, each page reserved in the budget beforehand."""
        pages = self._source.fetch_pages(session, self._contexts[index], priority=index)
        try:
            while self._reserve(index):
                try:
                    page = next(pages, None)
                except BaseException as exc:  # re-raised by pages() on the main thread
                    self._finish(index, exc)
                    return
                if page is None:
                    self._finish(index, None)
                    return
                lane = self._lanes[index]
                self._deliver(index, self._park(lane, page) if lane.to_disk else page)
        finally:
            pages.close()

    def _reserve(self, index: int) -> bool:
        """Wait for room for one more page of `index`; False if it is no longer wanted.

        Free room goes to the waiting target nearest the output: its pages are drained
        (and their bytes freed) soonest, which keeps many targets fetching at once.
        """
        lane = self._lanes[index]
        with self._lock:
            try:
                while not (self._closed or index > self._stop_after):
                    drained = index == self._current and lane.held < self._lane_cap
                    first = not self._waiting or min(self._waiting) >= index
                    room = self._held + self._estimate <= self._budget
                    if drained or (room and first):
                        self._hold(index, to_disk=False)
                        return True
                    if first and index != self._current and self._disk_room(lane):
                        self._hold(index, to_disk=True)
                        return True
                    if index != self._current:  # the drained one waits for the main thread
                        self._waiting.add(index)  # only, never for room: others may have it
                    lane.room.wait()
                return False
            finally:
                if index in self._waiting:
                    self._waiting.discard(index)
                    self._wake_first_waiting()  # now first in line, maybe with room

    def _hold(self, index: int, *, to_disk: bool) -> None:
        """Reserve room for the lane's next page, in memory or on disk (the lock held)."""
        lane = self._lanes[index]
        lane.held += 1
        lane.reserved = self._estimate
        lane.to_disk = to_disk
        if to_disk:
            if not lane.spill_slot:
                lane.spill_slot = True
                self._spill_files += 1
            self._spilled += self._estimate
            self.peak_spilled = max(self.peak_spilled, self._spilled)
        else:
            self._held += self._estimate
            self.peak_held = max(self.peak_held, self._held)

    def _disk_room(self, lane: _Lane) -> bool:
        """Whether the lane's next page may be parked on disk (the lock held)."""
        if self._spilled + self._estimate > self._spill_budget:
            return False
        return lane.spill_slot or self._spill_files < MAX_SPILL_FILES

    def _park(self, lane: _Lane, page: Page) -> Page | ParkedPage:
        """Write the page to the lane's spill file (worker thread, outside the lock).

        On failure (a full disk, a directory gone) the page stays in memory, and no
        page is parked again this run.
        """
        try:
            if lane.spill is None:
                lane.spill = SpillFile(self._spill_dir)
            return ParkedPage.of(page, lane.spill.append(page.body))
        except Exception as exc:  # whatever it is, the page is safe in memory
            with self._lock:
                if self._spill_budget:
                    self._spill_budget = 0
                    self._log.warning(
                        "Could not park message pages on disk in %s (%s); pages wait in "
                        "memory only from now on. Check prefetch_spill_dir and its free "
                        "space, or set prefetch_spill_mb to 0.",
                        self._spill_dir or "the temporary directory",
                        getattr(exc, "strerror", None) or exc,
                    )
            return page

    def _deliver(self, index: int, page: Page | ParkedPage) -> None:
        """Buffer a fetched (or parked) page in place of its reservation."""
        lane = self._lanes[index]
        with self._lock:
            if lane.to_disk:
                self._spilled -= lane.reserved
            else:
                self._held -= lane.reserved
            if isinstance(page, ParkedPage):
                self._spilled += page.size
                lane.parked += 1
            else:
                self._held += page.size
            lane.reserved = 0
            lane.to_disk = False
            self._estimate = max(self._estimate, page.size)
            self.peak_held = max(self.peak_held, self._held)
            self.peak_spilled = max(self.peak_spilled, self._spilled)
            if self._closed:
                lane.held -= 1
                if isinstance(page, Page):
                    self._held -= page.size
                self._release_spill(lane)
            else:
                lane.pages.append(page)
            self._wake_main(index)
            self._wake_first_waiting()  # a page smaller than its reservation frees room

    def _finish(self, index: int, error: BaseException | None) -> None:
        """End a lane, releasing the unused reservation; a fatal error stops later lanes."""
        lane = self._lanes[index]
        with self._lock:
            lane.held -= 1
            if lane.to_disk:
                self._spilled -= lane.reserved
            else:
                self._held -= lane.reserved
            lane.reserved = 0
            lane.to_disk = False
            lane.done = True
            lane.error = error
            if self._closed:  # close() left its file to this worker
                self._release_spill(lane)
            if error is not None and not isinstance(error, self._skippable):
                self._stop_after = min(self._stop_after, index)
                self._wake_everyone()  # workers past the error stop
            self._wake_main(index)
            self._wake_first_waiting()

    def _release_spill(self, lane: _Lane) -> None:
        """Close the lane's spill file and give back its bytes and slot (the lock held)."""
        if lane.spill is not None:
            self._spilled -= lane.spill.end
            lane.spill.close()
            lane.spill = None
            lane.parked = 0
        if lane.spill_slot:
            lane.spill_slot = False
            self._spill_files -= 1
            self._wake_first_waiting()

    # Wake-ups (the lock held) --------------------------------------------------------

    def _wake_main(self, index: int) -> None:
        """Wake the main thread if it drains `index` (news of any other lane can wait)."""
        if index == self._current:
            self._news.notify()

    def _wake_first_waiting(self) -> None:
        """Wake the waiting worker nearest the output: freed room is its first."""
        if self._waiting:
            self._lanes[min(self._waiting)].room.notify()

    def _wake_everyone(self) -> None:
        """Wake every thread: closing, or a fatal error that stops later lanes."""
        self._news.notify_all()
        for lane in self._lanes:
            lane.room.notify_all()


def map_large_blocks() -> None:
    """On glibc, give blocks of 64 KB or more (page bodies) their own memory mappings.

    Why: page bodies (~100 KB) are allocated in worker threads and freed on the main
    thread. From the heap (glibc's default below 128 KB, and a threshold it raises as
    it goes) they fragment it, and the tap's peak RSS grew with the history read
    (146 MB at 100k messages, 234 MB at 1M); mapped, each is returned to the system
    when freed, and the peak stays flat. Elsewhere this does nothing.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl has no mallopt)
        return
    mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
