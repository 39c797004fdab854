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

from contextvars import ContextVar
import logging
import os
import sys
import threading
import time
import traceback
from typing import Dict
from typing import List
from typing import Mapping
from typing import Optional
from typing import Protocol
from typing import Tuple

from mtrace_ros.core import sampling
from mtrace_ros.core.context import current_trace
from mtrace_ros.core.context import FLAG_SAMPLED
from mtrace_ros.core.context import otel_parent
from mtrace_ros.core.context import TraceContext
from mtrace_ros.core.ids import new_span_id
from mtrace_ros.core.ids import new_trace_id
from mtrace_ros.core.text import encodable
from mtrace_ros.export.schema import attribute_value_problem
from mtrace_ros.export.schema import AttributeValue
from mtrace_ros.export.schema import Event
from mtrace_ros.export.schema import KIND_CANCEL
from mtrace_ros.export.schema import KIND_CLIENT
from mtrace_ros.export.schema import KIND_EXECUTE
from mtrace_ros.export.schema import KIND_GOAL
from mtrace_ros.export.schema import KIND_RECEIVE
from mtrace_ros.export.schema import KIND_RESULT
from mtrace_ros.export.schema import KIND_ROOT
from mtrace_ros.export.schema import KIND_SERVER
from mtrace_ros.export.schema import Link
from mtrace_ros.export.schema import NO_ATTRIBUTES
from mtrace_ros.export.schema import Publish
from mtrace_ros.export.schema import SpanRecord
from mtrace_ros.export.schema import Status
from mtrace_ros.export.schema import STATUS_CODES
from mtrace_ros.export.schema import STATUS_ERROR
from mtrace_ros.export.schema import STATUS_UNSET
from mtrace_ros.export.schema import UNSET

logger = logging.getLogger(__name__)

#: The node name of a root span that named none and published nothing.
_PROCESS_NAME = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else 'unknown'

#: The node whose timer or service callback runs now (set by TracedNode), for
#: spans opened there without a node name.
NODE_SCOPE: ContextVar[str] = ContextVar('mtrace_node', default='')

#: OpenTelemetry's default span limits: the most attributes and events a span keeps.
MAX_ATTRIBUTES = 128
MAX_EVENTS = 128


def exception_attributes(error: BaseException) -> Dict[str, AttributeValue]:
    """Return the ``exception.*`` attributes of an ``exception`` event (OTel conventions)."""
    return {
        'exception.type': error_type(error),
        'exception.message': str(error),
        'exception.stacktrace': ''.join(
            traceback.format_exception(type(error), error, error.__traceback__)),
    }


def error_type(error: BaseException) -> str:
    """Return the exception's class name, qualified by its module unless it is a builtin."""
    cls = type(error)
    module = cls.__module__
    return cls.__qualname__ if module == 'builtins' else f'{module}.{cls.__qualname__}'


class Span:
    """The record of one span; filled in while it runs, then handed to the sinks."""

    __slots__ = (
        'context', 'node', 'topic', 'kind', 'start_ns', 'end_ns', 'latency_ns',
        'error', 'publishes', 'links', 'name', 'attributes', 'events', 'status',
        '_recorded_exception', '_record',
    )

    def __init__(
        self,
        node: str,
        topic: Optional[str],
        kind: str,
        latency_ns: Optional[int] = None,
        name: Optional[str] = None,
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
        # (topic, subscriber count at publish time, time), in publish order.
        self.publishes: List[Tuple[str, int, int]] = []
        # (trace id, span id) of other traces this span combined (fan-in).
        self.links: List[Tuple[bytes, bytes]] = []
        self.name = name
        # Made on first use: most spans get none.
        self.attributes: Optional[Dict[str, AttributeValue]] = None
        self.events: Optional[List[Event]] = None
        self.status = UNSET
        self._recorded_exception: Optional[BaseException] = None
        self._record: Optional[SpanRecord] = None

    def add_publish(self, topic: str, subscriber_count: int) -> None:
        """Note a publish made inside this span."""
        self.publishes.append((topic, subscriber_count, time.time_ns()))

    def add_link(self, context: TraceContext) -> None:
        """Link this span to a span of another trace."""
        self.links.append((context.trace_id_bytes, context.span_id_bytes))

    def set_attribute(self, key: str, value: AttributeValue) -> Optional[str]:
        """Set an attribute; return what is wrong with it instead, if anything."""
        if not isinstance(key, str) or not key:
            return f'attribute key must be a non-empty str, got {key!r:.40}'
        problem = attribute_value_problem(value)
        if problem is not None:
            return f'attribute {key!r:.40}: {problem}'
        attributes = self.attributes
        if attributes is None:
            attributes = self.attributes = {}
        if key not in attributes and len(attributes) >= MAX_ATTRIBUTES:
            return f'attribute {key!r:.40} dropped: a span keeps {MAX_ATTRIBUTES} attributes'
        attributes[key] = tuple(value) if isinstance(value, list) else value
        return None

    def add_event(
        self, name: str, attributes: Optional[Mapping[str, AttributeValue]] = None,
        time_ns: Optional[int] = None,
    ) -> Optional[str]:
        """Add an event; return what is wrong with it instead, if anything."""
        if not isinstance(name, str):
            return f'event name must be a str, got {name!r:.40}'
        checked: Mapping[str, AttributeValue] = NO_ATTRIBUTES
        if attributes:
            for key, value in attributes.items():
                problem = attribute_value_problem(value)
                if not isinstance(key, str) or problem is not None:
                    return f'event {name!r:.40}: attribute {key!r:.40}: {problem or "bad key"}'
            checked = dict(attributes)
        events = self.events
        if events is None:
            events = self.events = []
        if len(events) >= MAX_EVENTS:
            return f'event {name!r:.40} dropped: a span keeps {MAX_EVENTS} events'
        events.append(Event(name, time.time_ns() if time_ns is None else time_ns, checked))
        return None

    def record_exception(
        self, error: BaseException, attributes: Optional[Mapping[str, AttributeValue]] = None,
        time_ns: Optional[int] = None,
    ) -> Optional[str]:
        """Add an ``exception`` event for ``error`` (once per exception)."""
        if not isinstance(error, BaseException):
            return f'record_exception needs an exception, got {type(error).__name__}'
        if error is self._recorded_exception:
            return None
        self._recorded_exception = error
        event_attributes = exception_attributes(error)
        event_attributes.update(attributes or {})
        return self.add_event('exception', event_attributes, time_ns)

    def set_status(self, code: str, message: str = '') -> Optional[str]:
        """Set the status (``unset``, ``ok``, ``error``); a description only goes with errors."""
        if code not in STATUS_CODES:
            return f'status must be one of {STATUS_CODES}, got {code!r:.40}'
        self.status = Status(code, message if code == STATUS_ERROR else '')
        return None

    def to_record(self) -> SpanRecord:
        """
        Return the ended span as the immutable record every sink receives.

        Its texts are made encodable here, once (:func:`.core.text.encodable`):
        an exception text or a user's string may hold a lone surrogate, and a
        record no sink can encode would be lost with the whole batch around it.
        An ended span is final: the record made when it ended is returned again.
        """
        if self._record is not None:
            return self._record
        context = self.context
        assert context is not None and self.end_ns is not None, 'only ended, recorded spans'
        status = self.status
        return SpanRecord(
            trace_id=context.trace_id,
            span_id=context.span_id,
            parent_span_id=context.parent_span_id,
            node=encodable(self.node),
            topic=self.topic,
            kind=self.kind,
            start_ns=self.start_ns,
            end_ns=self.end_ns,
            latency_ns=self.latency_ns,
            error=None if self.error is None else encodable(self.error),
            publishes=tuple(Publish(*publish) for publish in self.publishes),
            links=tuple(Link(trace_id.hex(), span_id.hex()) for trace_id, span_id in self.links),
            name=None if self.name is None else encodable(self.name),
            attributes=(NO_ATTRIBUTES if self.attributes is None
                        else _encodable_attributes(self.attributes)),
            events=() if self.events is None else tuple(map(_encodable_event, self.events)),
            status=Status(status.code, encodable(status.message)) if status.message else status,
        )


def _encodable_value(value: AttributeValue) -> AttributeValue:
    if isinstance(value, str):
        return encodable(value)
    if isinstance(value, tuple) and value and isinstance(value[0], str):
        return tuple(map(encodable, value))
    return value


def _encodable_attributes(attributes: Mapping[str, AttributeValue]) -> Dict[str, AttributeValue]:
    return {encodable(key): _encodable_value(value) for key, value in attributes.items()}


def _encodable_event(event: Event) -> Event:
    attributes = _encodable_attributes(event.attributes) if event.attributes else NO_ATTRIBUTES
    return Event(encodable(event.name), event.time_ns, attributes)


class SpanSink(Protocol):
    """Where ended spans go. ``submit`` must not block: sinks queue and drop."""

    def submit(self, record: SpanRecord) -> None:
        """Take an ended span's record; never block and never raise."""

    def close(self, timeout_sec: float) -> None:
        """Flush what is queued and release resources, in about ``timeout_sec``."""


_lock = threading.Lock()
_sinks: Tuple[SpanSink, ...] = ()


def recording() -> bool:
    """Return whether any sink is registered (spans are made only then)."""
    return bool(_sinks)


def sinks() -> Tuple[SpanSink, ...]:
    """Return the registered sinks, in the order they were added: the process's one list."""
    return _sinks


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


def remove_all_sinks() -> Tuple[SpanSink, ...]:
    """Unregister every sink at once (none is closed); return them."""
    global _sinks
    with _lock:
        removed, _sinks = _sinks, ()
    return removed


def _default_node() -> str:
    """Return the node of the TracedNode callback running now, or of the active span."""
    node = NODE_SCOPE.get()
    if not node:
        active = current_trace()
        span = None if active is None else active.span
        node = '' if span is None else span.node
    return node


def open_span(
    kind: str,
    parent: Optional[TraceContext] = None,
    *,
    node: str = '',
    topic: Optional[str] = None,
    latency_ns: Optional[int] = None,
    name: Optional[str] = None,
) -> TraceContext:
    """
    Open a span and return its context: a child of ``parent``, or the root of a new trace.

    The one way every path starts a span. The span is recorded (the
    context's ``span``) when a sink is registered and the trace is sampled;
    end it with :func:`end_span`. Without ``parent``, an active OpenTelemetry
    span (see :mod:`mtrace_ros.instrumentation.otel_context`) is continued;
    otherwise a new trace starts, and its sampling decision is made here,
    once (:mod:`mtrace_ros.core.sampling`). Children follow the parent's flag.

    :param kind: what the span is (:data:`KIND_ROOT`, :data:`KIND_RECEIVE`, ...).
    :param parent: the span this one continues: the publisher's context read
        from a message, an outside caller's, or ``None`` for a new trace.
    :param node: the node the span runs in ('' : the TracedNode whose timer
        or service runs now, else the active span's, else the first traced
        publisher's).
    :param topic: the topic of the handled message, if any.
    :param latency_ns: publish stamp of the handled message to now, if known.
    :param name: what the span is called (default: from its kind and topic).
    """
    if parent is None:
        parent = otel_parent()
    if parent is None:
        trace_id = new_trace_id()
        sampled = sampling.sample_root(trace_id)
    elif not _sinks:  # nothing is recorded: the context alone, for every hop
        return parent.child()
    else:
        sampled = parent.sampled
    span = None
    if _sinks and sampled:
        span = Span(node or _default_node(), topic, kind, latency_ns, name)
    if parent is None:
        context = TraceContext(
            trace_id, new_span_id(), None, FLAG_SAMPLED if sampled else 0, span)
    else:
        context = parent.child(span=span)
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
        span.record_exception(error)
        if span.status.code == STATUS_UNSET:
            span.status = Status(STATUS_ERROR, str(error))
    context = span.context
    if context is None or not context.sampled:
        return
    if not span.node:  # a root that named no node and published nothing
        span.node = _PROCESS_NAME
    record = span._record = span.to_record()
    # The context keeps its span (a worker may ask whether it ended); the span lets
    # go of the context: no reference cycle per message for the collector, and a
    # span ended twice is submitted once.
    span.context = None
    for sink in _sinks:
        try:
            sink.submit(record)
        except Exception:  # a sink must never break the callback it records
            logger.exception('mtrace: span sink %r failed; span dropped', sink)


__all__ = [
    'KIND_CANCEL',
    'KIND_CLIENT',
    'KIND_EXECUTE',
    'KIND_GOAL',
    'KIND_RECEIVE',
    'KIND_RESULT',
    'KIND_ROOT',
    'KIND_SERVER',
    'NODE_SCOPE',
    'Span',
    'SpanSink',
    'add_sink',
    'end',
    'end_span',
    'open_span',
    'recording',
    'remove_all_sinks',
    'remove_sink',
    'sinks',
]
