"""
Spans: the one lifecycle every traced path uses, and where ended spans go.

:func:`open_span` opens a span and its trace context in one step, for every
kind: a root (explicit with :func:`mtrace_ros.start_trace`, or automatic when
publishing outside any trace), a traced callback handling a message, and the
kinds that build on them. The span model: the ``span_id`` a message carries
is the span that published it (a root, or the callback that handled a
message); a receiving callback's span is its child. There are no separate
send spans. A :class:`Span` is recorded only for sampled traces while a sink
is registered; :func:`end` turns it into a :class:`SpanRecord` (the one
schema, :mod:`mtrace_ros.export.schema`) and hands that to every sink. With
no sink registered no span is created, so tracing costs only the context.
"""

import logging
import os
import sys
import threading
import time
from typing import List
from typing import Optional
from typing import Protocol
from typing import Tuple

from mtrace_ros.core.context import new_root
from mtrace_ros.core.context import TraceContext
from mtrace_ros.export.schema import KIND_RECEIVE
from mtrace_ros.export.schema import KIND_ROOT
from mtrace_ros.export.schema import Link
from mtrace_ros.export.schema import Publish
from mtrace_ros.export.schema import SpanRecord

logger = logging.getLogger(__name__)

#: The node name of a root span that named none and published nothing.
_PROCESS_NAME = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else 'unknown'


class Span:
    """The record of one span; filled in while it runs, then handed to the sinks."""

    __slots__ = (
        'context', 'node', 'topic', 'kind', 'start_ns', 'end_ns', 'latency_ns',
        'error', 'publishes', 'links',
    )

    def __init__(
        self,
        node: str,
        topic: Optional[str],
        kind: str,
        latency_ns: Optional[int] = None,
    ) -> None:
        """Start a span now; its :attr:`context` is set by whoever creates the context."""
        self.context: Optional[TraceContext] = None
        self.node = node
        self.topic = topic
        self.kind = kind
        self.start_ns = time.time_ns()
        self.end_ns: Optional[int] = None
        self.latency_ns = latency_ns
        self.error: Optional[str] = None
        # (topic, subscriber count at publish time), in publish order.
        self.publishes: List[Tuple[str, int]] = []
        # (trace id, span id) of other traces this span combined (fan-in).
        self.links: List[Tuple[bytes, bytes]] = []

    def add_publish(self, topic: str, subscriber_count: int) -> None:
        """Note a publish made inside this span."""
        self.publishes.append((topic, subscriber_count))

    def add_link(self, context: TraceContext) -> None:
        """Link this span to a span of another trace."""
        self.links.append((context.trace_id_bytes, context.span_id_bytes))

    def to_record(self) -> SpanRecord:
        """Return the ended span as the immutable record every sink receives."""
        context = self.context
        assert context is not None and self.end_ns is not None, 'only ended, recorded spans'
        return SpanRecord(
            trace_id=context.trace_id,
            span_id=context.span_id,
            parent_span_id=context.parent_span_id,
            node=self.node,
            topic=self.topic,
            kind=self.kind,
            start_ns=self.start_ns,
            end_ns=self.end_ns,
            latency_ns=self.latency_ns,
            error=self.error,
            publishes=tuple(Publish(topic, count) for topic, count in self.publishes),
            links=tuple(Link(trace_id.hex(), span_id.hex()) for trace_id, span_id in self.links),
        )


class SpanSink(Protocol):
    """Where ended spans go. ``submit`` must not block: sinks queue and drop."""

    def submit(self, record: SpanRecord) -> None:
        """Take an ended span's record; never block and never raise."""

    def close(self) -> None:
        """Flush what is queued and release resources."""


_lock = threading.Lock()
_sinks: Tuple[SpanSink, ...] = ()


def recording() -> bool:
    """Return whether any sink is registered (spans are made only then)."""
    return bool(_sinks)


def add_sink(sink: SpanSink) -> None:
    """Register a sink: every span that ends from now on is submitted to it."""
    global _sinks
    with _lock:
        _sinks = _sinks + (sink,)


def remove_sink(sink: SpanSink) -> None:
    """Unregister a sink (it is not closed)."""
    global _sinks
    with _lock:
        _sinks = tuple(s for s in _sinks if s is not sink)


def open_span(
    kind: str,
    parent: Optional[TraceContext] = None,
    *,
    node: str = '',
    topic: Optional[str] = None,
    latency_ns: Optional[int] = None,
) -> TraceContext:
    """
    Open a span and return its context: a child of ``parent``, or the root of a new trace.

    The one way every path starts a span. The span is recorded (the
    context's ``span``) when a sink is registered and the trace is sampled;
    end it with :func:`end_span`.

    :param kind: what the span is (:data:`KIND_ROOT`, :data:`KIND_RECEIVE`, ...).
    :param parent: the span this one continues: the publisher's context read
        from a message, an outside caller's, or ``None`` for a new trace.
    :param node: the node the span runs in ('' : the first traced publisher's).
    :param topic: the topic of the handled message, if any.
    :param latency_ns: publish stamp of the handled message to now, if known.
    """
    span = None
    if _sinks and (parent is None or parent.sampled):
        span = Span(node, topic, kind, latency_ns)
    context = new_root(span=span) if parent is None else parent.child(span=span)
    if span is not None:
        span.context = context
    return context


def end_span(context: TraceContext, error: Optional[BaseException] = None) -> None:
    """End the span ``context`` records, if it records one (see :func:`open_span`)."""
    if context.span is not None:
        end(context.span, error)


def end(span: Span, error: Optional[BaseException] = None) -> None:
    """End a span and submit its record to every sink."""
    span.end_ns = time.time_ns()
    if error is not None:
        span.error = f'{type(error).__name__}: {error}'
    context = span.context
    if context is None or not context.sampled:
        return
    if not span.node:  # a root that named no node and published nothing
        span.node = _PROCESS_NAME
    record = span.to_record()
    for sink in _sinks:
        try:
            sink.submit(record)
        except Exception:  # a sink must never break the callback it records
            logger.exception('mtrace: span sink %r failed; span dropped', sink)


__all__ = [
    'KIND_RECEIVE',
    'KIND_ROOT',
    'Span',
    'SpanSink',
    'add_sink',
    'end',
    'end_span',
    'open_span',
    'recording',
    'remove_sink',
]
