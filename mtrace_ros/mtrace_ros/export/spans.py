"""
Spans: what each root and each traced callback did, and where the records go.

A :class:`Span` is recorded for each root (explicit with
:func:`mtrace_ros.start_trace`, or automatic when publishing outside any
trace) and each traced callback of a sampled trace. It is handed to every
registered sink when it ends (the sinks themselves, and how a process chooses
them, are in :mod:`mtrace_ros.export`). With no sink registered no span is
created, so tracing costs only the context switch.
"""

import logging
import os
import sys
import threading
import time
from typing import Any
from typing import Dict
from typing import List
from typing import Optional
from typing import Protocol
from typing import Tuple

from mtrace_ros.core.context import TraceContext

logger = logging.getLogger(__name__)

#: The node name of a root span that named none and published nothing.
_PROCESS_NAME = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else 'unknown'

KIND_ROOT = 'root'
KIND_RECEIVE = 'receive'


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

    def to_dict(self) -> Dict[str, Any]:
        """
        Return the span as one JSON Lines record (the format of ``mtrace collect``).

        Ids are lowercase hex; times are integer nanoseconds since the epoch;
        ``latency_ns`` is ``None`` when unknown; ``error`` is ``None`` when the
        span ended normally.
        """
        context = self.context
        return {
            'trace_id': context.trace_id if context else None,
            'span_id': context.span_id if context else None,
            'parent_span_id': context.parent_span_id if context else None,
            'node': self.node,
            'topic': self.topic,
            'kind': self.kind,
            'start_ns': self.start_ns,
            'end_ns': self.end_ns,
            'latency_ns': self.latency_ns,
            'error': self.error,
            'publishes': [
                {'topic': topic, 'subscriber_count': count} for topic, count in self.publishes],
            'links': [
                {'trace_id': trace_id.hex(), 'span_id': span_id.hex()}
                for trace_id, span_id in self.links],
        }


class SpanSink(Protocol):
    """Where ended spans go. ``submit`` must not block: sinks queue and drop."""

    def submit(self, span: Span) -> None:
        """Take an ended span; never block and never raise."""

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


def begin(
    node: str, topic: Optional[str], kind: str, latency_ns: Optional[int] = None,
) -> Optional[Span]:
    """Start a span if any sink is registered, else return ``None``."""
    if not _sinks:
        return None
    return Span(node, topic, kind, latency_ns)


def end(span: Span, error: Optional[BaseException] = None) -> None:
    """End a span and submit it to every sink."""
    span.end_ns = time.time_ns()
    if error is not None:
        span.error = f'{type(error).__name__}: {error}'
    context = span.context
    if context is None or not context.sampled:
        return
    if not span.node:  # a root that named no node and published nothing
        span.node = _PROCESS_NAME
    for sink in _sinks:
        try:
            sink.submit(span)
        except Exception:  # a sink must never break the callback it records
            logger.exception('mtrace: span sink %r failed; span dropped', sink)
