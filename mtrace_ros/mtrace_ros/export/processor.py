"""
The shared shape of every span sink: a bounded queue drained by one thread.

Spans end in user callbacks, and a sink may be slow or broken (a full disk,
an OTLP endpoint that is down). So :meth:`QueuedSink.submit` only puts the
span on a bounded queue and never waits: when the queue is full the span is
dropped and counted. A daemon thread per sink takes spans off the queue in
batches and exports them; a batch that fails is dropped and counted too. The
first drop of a sink is logged once, as a warning; later drops are only
counted (:attr:`QueuedSink.dropped`).
"""

import queue
import threading
import time
from typing import List

from mtrace_ros.export.schema import SpanRecord
import rclpy.logging

DEFAULT_QUEUE_SIZE = 10_000
DEFAULT_BATCH_SIZE = 512
DEFAULT_CLOSE_TIMEOUT_SEC = 5.0

# How long close() still waits for a worker whose export it aborted.
_ABORT_WAIT_SEC = 1.0
_STOP = object()
_logger = rclpy.logging.get_logger('mtrace.sinks')


class QueuedSink:
    """
    A span sink that exports spans from a background thread of its own.

    Subclasses implement :meth:`_export` (raise to fail a batch) and, if they
    hold resources, :meth:`_release` (called by the worker thread after the last
    batch) and :meth:`_abort` (called by :meth:`close` when the worker does not
    finish in time, to cut a slow export short).
    """

    def __init__(
        self, name: str, *, queue_size: int = DEFAULT_QUEUE_SIZE,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        """
        Start the sink's worker thread.

        :param name: how warnings name the sink, e.g. ``jsonl:/tmp/spans.jsonl``.
        :param queue_size: how many spans may wait; more are dropped.
        :param batch_size: the most spans handed to one :meth:`_export` call.
        """
        if queue_size < 1 or batch_size < 1:
            raise ValueError(
                f'queue_size and batch_size must be at least 1, got {queue_size}, {batch_size}')
        self.name = name
        self._queue: 'queue.Queue[object]' = queue.Queue(maxsize=queue_size)
        self._batch_size = batch_size
        self._lock = threading.Lock()
        self._dropped = 0
        self._exported = 0
        self._warned = False
        self._closed = False
        #: Set when an export failed or is failing: close() then aborts at once.
        self._failing = False
        self._thread = threading.Thread(
            target=self._run, name=f'mtrace-sink {name}', daemon=True)
        self._thread.start()

    @property
    def dropped(self) -> int:
        """Count the spans this sink dropped: queue full, export failed, or closed."""
        return self._dropped

    @property
    def exported(self) -> int:
        """Count the spans this sink exported."""
        return self._exported

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (spans submitted now are dropped)."""
        return self._closed

    def submit(self, record: SpanRecord) -> None:
        """Queue an ended span for export; drop it if the queue is full. Never blocks."""
        if self._closed:
            self._discard(1, None)
            return
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self._discard(1, f'its queue of {self._queue.maxsize} spans is full (too slow)')

    def close(self, timeout_sec: float = DEFAULT_CLOSE_TIMEOUT_SEC) -> None:
        """
        Export what is queued, then stop the worker; wait at most about ``timeout_sec``.

        Spans submitted after ``close`` are dropped. A worker still busy at the
        deadline, or whose last export failed, has its export aborted (and gets
        one more second to stop); whatever it had not exported is counted as
        dropped.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._failing:  # nothing gets through: do not wait on retries
            self._abort()
        deadline = time.monotonic() + timeout_sec
        try:
            self._queue.put(_STOP, timeout=timeout_sec)
        except queue.Full:
            pass
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            self._abort()
            self._thread.join(_ABORT_WAIT_SEC)
        dropped = self._drain()
        if self._thread.is_alive():  # it stops after its current export
            try:
                self._queue.put_nowait(_STOP)
            except queue.Full:
                pass
        self._discard(dropped, None)

    def _drain(self) -> int:
        """Empty the queue; return how many spans were in it."""
        count = 0
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return count
            count += item is not _STOP

    def _discard(self, count: int, reason: object) -> None:
        """Count ``count`` dropped spans; warn, once per sink, if a reason is given."""
        with self._lock:
            self._dropped += count
        if reason is not None:
            self._warn_once(f'is dropping spans: {reason}')

    def _warn_once(self, problem: str) -> None:
        """Log the sink's first problem as a warning; later ones are only counted."""
        with self._lock:
            if self._warned:
                return
            self._warned = True
        _logger.warning(
            f'span sink {self.name} {problem}; further drops are counted, not logged')

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch: List[SpanRecord] = []
            item = self._queue.get()
            while True:
                if item is _STOP:
                    stopping = True
                else:
                    batch.append(item)  # type: ignore[arg-type]
                if len(batch) >= self._batch_size:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._export_batch(batch)
        try:
            self._release()
        except Exception as ex:  # never let a sink's cleanup kill anything
            self._warn_once(f'failed to close: {type(ex).__name__}: {ex}')

    def _export_batch(self, batch: List[SpanRecord]) -> None:
        try:
            self._export(batch)
        except Exception as ex:
            self._failing = True
            self._discard(len(batch), f'{type(ex).__name__}: {ex}')
        else:
            self._failing = False
            self._exported += len(batch)

    def _export(self, batch: List[SpanRecord]) -> None:
        """Export a batch of ended spans; raise if it could not be exported."""
        raise NotImplementedError

    def _release(self) -> None:
        """Release what the sink holds; called once, by the worker thread, at the end."""

    def _abort(self) -> None:
        """Cut short an export that keeps :meth:`close` waiting (called by ``close``)."""
