"""
The one batching layer between ended spans and every exporter, shaped like OpenTelemetry's.

Spans end in user callbacks, and an exporter may be slow or broken (a full
disk, an OTLP endpoint that is down). So :meth:`BatchSpanProcessor.submit`
only puts the record on a bounded queue and never waits: when the queue is
full the record is dropped and counted. One thread per exporter takes
records off the queue in batches — when a batch is full, when the oldest
record has waited the schedule delay, or when a flush is asked — and hands
each batch to the exporter (:class:`SpanExporter`: ``export``, ``shutdown``,
``force_flush``, as OpenTelemetry's). Every record is counted exactly once:
exported, dropped (queue full, export failed, closed) or still queued (a
batch being exported counts as queued). The first drop of a processor is
logged once, as a warning; when it closes, a processor that dropped anything
says how many, so no loss is silent. That total is final: a batch the
exporter still holds when ``close`` gives up on it is counted in it as
dropped, whatever the exporter does with it later, and a span that ends
after it was said is dropped with a warning of its own.
"""

import collections
import os
import threading
import time
from typing import Deque
from typing import List
from typing import NamedTuple
from typing import Optional
from typing import Protocol
from typing import Sequence
from typing import Tuple
from typing import Union
import weakref

from mtrace_ros.core.settings import sink_settings
from mtrace_ros.core.text import ECHO_LIMIT
from mtrace_ros.core.text import printable
from mtrace_ros.export.schema import SpanRecord
import rclpy.logging

DEFAULT_CLOSE_TIMEOUT_SEC = 5.0

# How long close() still waits for a worker whose export it cut short.
_ABORT_WAIT_SEC = 1.0
_logger = rclpy.logging.get_logger('mtrace.sinks')


def _sink_name(exporter: 'SpanExporter', name: Optional[str]) -> str:
    """Return how warnings and stats name a sink: escaped, as it is printed."""
    return printable(str(name or getattr(exporter, 'name', None) or type(exporter).__name__))


def _describe(error: BaseException) -> str:
    """Return an exception as text fit for a log line: it may hold what a peer answered."""
    return printable(f'{type(error).__name__}: {error}', ECHO_LIMIT)


class SpanExporter(Protocol):
    """
    Where batches of span records go: the shape of OpenTelemetry's ``SpanExporter``.

    ``export`` is called from the processor's thread only, one batch at a
    time; it returns whether the batch was delivered (raising counts as a
    failure, and the exception's text says why). ``shutdown`` releases what
    the exporter holds and cuts a slow export short; it may be called twice.
    """

    def export(self, records: Sequence[SpanRecord]) -> bool:
        """Deliver a batch; return whether it was delivered."""

    def shutdown(self) -> None:
        """Release resources; cut an export in progress short."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Deliver anything the exporter itself buffers."""


class PartialExport(Exception):
    """Raised by an exporter that delivered only ``delivered`` records of a batch."""

    def __init__(self, delivered: int, reason: str) -> None:
        """Say how many records got through, and why the rest did not."""
        super().__init__(reason)
        self.delivered = delivered


class QuietDrop(Exception):
    """Raised by an exporter that cannot deliver for an expected reason (its context ended)."""

    def __init__(self, delivered: int = 0) -> None:
        """Say how many records of the batch got through before that."""
        super().__init__()
        self.delivered = delivered


class SinkStats(NamedTuple):
    """What one sink did: every record submitted to it is in exactly one of the counts."""

    name: str
    exported: int
    dropped: int
    queued: int


_processors: 'weakref.WeakSet[BatchSpanProcessor]' = weakref.WeakSet()


class BatchSpanProcessor:
    """Queue span records and export them in batches from a thread of its own."""

    #: The sink entry (:class:`.spec.SinkSpec`) that configured it; set by the registry.
    entry: Optional[Tuple[str, str]] = None

    def __init__(
        self, exporter: SpanExporter, name: Optional[str] = None, *,
        queue_size: Optional[int] = None, batch_size: Optional[int] = None,
        schedule_delay_ms: Optional[int] = None,
    ) -> None:
        """
        Start the processor's thread.

        :param exporter: where batches go.
        :param name: how warnings and stats name the sink (default: the
            exporter's ``name`` attribute, else its class name).
        :param queue_size: how many records may wait; more are dropped
            (default: ``MTRACE_SINK_QUEUE_SIZE``, ``OTEL_BSP_MAX_QUEUE_SIZE``, 2048).
        :param batch_size: the most records in one export (default:
            ``MTRACE_SINK_BATCH_SIZE``, ``OTEL_BSP_MAX_EXPORT_BATCH_SIZE``, 512).
        :param schedule_delay_ms: the longest a record waits for its batch to fill
            (default: ``MTRACE_SINK_SCHEDULE_DELAY_MS``, ``OTEL_BSP_SCHEDULE_DELAY``, 5000).
        """
        settings = sink_settings(_logger.warning)
        self.queue_size = settings.queue_size if queue_size is None else queue_size
        self.batch_size = settings.batch_size if batch_size is None else batch_size
        delay_ms = settings.schedule_delay_ms if schedule_delay_ms is None else schedule_delay_ms
        if self.queue_size < 1 or self.batch_size < 1 or delay_ms < 0:
            raise ValueError(
                f'queue_size and batch_size must be at least 1 and schedule_delay_ms at least '
                f'0, got {self.queue_size}, {self.batch_size}, {delay_ms}')
        self.schedule_delay_sec = delay_ms / 1000
        self.exporter = exporter
        self.name = _sink_name(exporter, name)
        self._exported = 0
        self._dropped = 0
        self._warned = False
        self._closed = False
        #: Set once close() said the final counts: the worker's late results change nothing.
        self._settled = False
        self._late_warned = False
        #: Set while exports fail: close() then cuts the exporter short at once.
        self._failing = False
        self._start()
        _processors.add(self)

    def _start(self) -> None:
        """Make the queue, its condition and the thread (again, in a forked child)."""
        self._lock = threading.Lock()
        self._condition = threading.Condition(self._lock)
        self._queue: Deque[SpanRecord] = collections.deque()
        self._flushes: List[threading.Event] = []
        #: How many records the exporter holds now (taken off the queue, not yet counted).
        self._in_flight = 0
        self._stopping = False
        self._thread = threading.Thread(
            target=self._run, name=f'mtrace-sink {self.name}', daemon=True)
        self._thread.start()

    @property
    def exported(self) -> int:
        """Count the records this sink exported."""
        return self._exported

    @property
    def dropped(self) -> int:
        """Count the records this sink dropped: queue full, export failed, or closed."""
        return self._dropped

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (records submitted now are dropped)."""
        return self._closed

    def stats(self) -> SinkStats:
        """Return the sink's counts now (a batch being exported is queued still)."""
        with self._lock:
            return SinkStats(
                self.name, self._exported, self._dropped, len(self._queue) + self._in_flight)

    def submit(self, record: SpanRecord) -> None:
        """Queue an ended span's record; drop it if the queue is full. Never blocks."""
        with self._lock:
            if not self._closed and len(self._queue) < self.queue_size:
                self._queue.append(record)
                if len(self._queue) in (1, self.batch_size):  # start the clock, or go now
                    self._condition.notify()
                return
            self._dropped += 1
            full, dropped = not self._closed, self._dropped
            late = self._settled and not self._late_warned
            self._late_warned = self._late_warned or late
        if full:
            self._warn_once(
                f'is dropping spans: its queue of {self.queue_size} spans is full (too slow)')
        elif late:  # after close() said its total: say the new one
            _logger.warning(
                f'span sink {self.name} is closed: a span that ended after it closed was '
                f'dropped ({dropped} spans dropped in all); further ones are counted, not logged')

    def force_flush(self, timeout_sec: float = DEFAULT_CLOSE_TIMEOUT_SEC) -> bool:
        """Export everything queued now, without closing; return whether it was done in time."""
        done = threading.Event()
        with self._lock:
            if self._closed or not self._thread.is_alive():
                return not self._queue
            self._flushes.append(done)
            self._condition.notify()
        return done.wait(timeout_sec)

    def close(self, timeout_sec: float = DEFAULT_CLOSE_TIMEOUT_SEC) -> None:
        """
        Export what is queued, then stop and shut the exporter down; wait about ``timeout_sec``.

        Records submitted after ``close`` are dropped. An exporter still busy
        at the deadline, or failing, is cut short (``shutdown``); what it had
        not exported is counted as dropped, and a sink that dropped anything
        says how many. The counts are final once said: a worker that outlives
        the wait (an exporter that ignores ``shutdown``) changes none of them.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._stopping = True
            self._condition.notify()
        if self._failing:  # nothing gets through: do not wait on retries
            self._shutdown_exporter()
        self._thread.join(timeout_sec)
        if self._thread.is_alive():
            self._shutdown_exporter()
            self._thread.join(_ABORT_WAIT_SEC)
        with self._lock:
            # Given up on: the queue, and the batch of a worker still exporting.
            self._dropped += len(self._queue) + self._in_flight
            self._queue.clear()
            self._in_flight = 0
            self._settled = True
            exported, dropped = self._exported, self._dropped
        if dropped:
            _logger.warning(
                f'span sink {self.name}: {dropped} spans dropped in all ({exported} exported)')

    def _shutdown_exporter(self) -> None:
        try:
            self.exporter.shutdown()
        except Exception as ex:  # never let a sink's cleanup break anything
            self._warn_once(f'failed to shut down: {_describe(ex)}')

    def _warn_once(self, problem: str) -> None:
        """Log the sink's first problem as a warning; later ones are only counted."""
        with self._lock:
            if self._warned:
                return
            self._warned = True
        _logger.warning(
            f'span sink {self.name} {problem}; further drops are counted, not logged')

    def _next_batch(self) -> Optional[List[SpanRecord]]:
        """Wait for a batch to leave; return it, ``[]`` for a flush point, ``None`` at the end."""
        with self._condition:
            while not self._queue and not self._stopping and not self._flushes:
                self._condition.wait()
            deadline = time.monotonic() + self.schedule_delay_sec
            while (len(self._queue) < self.batch_size and not self._stopping
                   and not self._flushes):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._condition.wait(remaining)
            if not self._queue and self._stopping:
                return None
            count = min(self.batch_size, len(self._queue))
            self._in_flight = count
            return [self._queue.popleft() for _ in range(count)]

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                break
            if batch:
                self._export(batch)
            with self._lock:
                flushes = self._flushes if not self._queue else []
                if flushes:
                    self._flushes = []
            if flushes:
                self._flush_exporter()
                for done in flushes:
                    done.set()
        self._shutdown_exporter()

    def _flush_exporter(self) -> None:
        flush = getattr(self.exporter, 'force_flush', None)
        if flush is not None:
            try:
                flush()
            except Exception as ex:
                self._warn_once(f'failed to flush: {_describe(ex)}')

    def _export(self, batch: List[SpanRecord]) -> None:
        delivered, reason = 0, None
        try:
            if self.exporter.export(batch):
                delivered = len(batch)
            else:
                reason = 'export failed'
        except PartialExport as ex:
            delivered, reason = ex.delivered, printable(str(ex), ECHO_LIMIT)
        except QuietDrop as ex:
            delivered = ex.delivered
        except Exception as ex:
            reason = _describe(ex)
        self._failing = delivered < len(batch) and reason is not None
        if reason is not None:  # said before it is counted: whoever sees the count sees why
            self._warn_once(f'is dropping spans: {reason}')
        with self._lock:
            if not self._settled:  # else close() counted the batch as dropped already
                self._exported += delivered
                self._dropped += len(batch) - delivered
                self._in_flight = 0

    def _after_fork(self) -> None:
        """In a forked child: the thread is gone; start a new one with an empty queue."""
        if not self._closed:
            self._start()


class SimpleSpanProcessor:
    """Export each record as its span ends, in that thread: for tests (OpenTelemetry's name)."""

    def __init__(self, exporter: SpanExporter, name: Optional[str] = None) -> None:
        """Export to ``exporter``, named as :class:`BatchSpanProcessor` names it."""
        self.exporter = exporter
        self.name = _sink_name(exporter, name)
        self._lock = threading.Lock()
        self.exported = 0
        self.dropped = 0
        self.closed = False

    def submit(self, record: SpanRecord) -> None:
        """Export ``record`` now; count it dropped, and say so, if that fails (never raises)."""
        problem = 'is closed' if self.closed else None
        if problem is None:
            try:
                if not self.exporter.export([record]):
                    problem = 'failed to export'
            except Exception as ex:
                problem = f'failed: {_describe(ex)}'
        if problem is not None:
            _logger.warning(f'span sink {self.name} {problem}; a span was dropped')
        with self._lock:
            if problem is None:
                self.exported += 1
            else:
                self.dropped += 1

    def stats(self) -> SinkStats:
        """Return the sink's counts now (nothing is ever queued)."""
        with self._lock:
            return SinkStats(self.name, self.exported, self.dropped, 0)

    def force_flush(self, timeout_sec: float = DEFAULT_CLOSE_TIMEOUT_SEC) -> bool:
        """Return True: nothing waits."""
        return True

    def close(self, timeout_sec: float = DEFAULT_CLOSE_TIMEOUT_SEC) -> None:
        """Shut the exporter down."""
        self.closed = True
        self.exporter.shutdown()


#: Either processor: what the registry holds.
Processor = Union[BatchSpanProcessor, SimpleSpanProcessor]


def _restart_in_child() -> None:
    for processor in list(_processors):
        processor._after_fork()


os.register_at_fork(after_in_child=_restart_in_child)
