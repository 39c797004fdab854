"""Spans for tests: real :class:`mtrace_ros.spans.Span` records and their span topic messages."""

import itertools
from typing import Iterable
from typing import Optional
from typing import Tuple

from mtrace_msgs.msg import Span as SpanMsg
from mtrace_msgs.msg import SpanLink
from mtrace_msgs.msg import SpanPublish
from mtrace_ros import spans
from mtrace_ros.context import TraceContext

_counter = itertools.count(1)


def make_span(
    *,
    node: str = 'b',
    topic: Optional[str] = '/a_to_b',
    latency_ns: Optional[int] = 800_000,
    root: bool = False,
    error: Optional[BaseException] = None,
    publishes: Iterable[Tuple[str, int]] = (),
    links: Iterable[TraceContext] = (),
) -> spans.Span:
    """Return an ended span with distinct ids, made the way instrumentation makes them."""
    n = next(_counter)
    span = spans.Span(node, topic, spans.KIND_ROOT if root else spans.KIND_RECEIVE, latency_ns)
    span.context = TraceContext(
        bytes([0x4b, *range(14), n % 256]), n.to_bytes(8, 'big'),
        None if root else (n + 1000).to_bytes(8, 'big'))
    for publish in publishes:
        span.add_publish(*publish)
    for link in links:
        span.add_link(link)
    spans.end(span, error)
    return span


def to_message(span: spans.Span) -> SpanMsg:
    """Return the ``mtrace_msgs/Span`` a span publisher sends for ``span``."""
    context = span.context
    msg = SpanMsg(node=span.node, topic=span.topic or '', error=span.error or '')
    msg.trace_id = list(context.trace_id_bytes)
    msg.span_id = list(context.span_id_bytes)
    msg.parent_span_id = list(context.parent_span_id_bytes or bytes(8))
    msg.kind = SpanMsg.KIND_ROOT if span.kind == spans.KIND_ROOT else SpanMsg.KIND_RECEIVE
    msg.start.sec, msg.start.nanosec = divmod(span.start_ns, 1_000_000_000)
    msg.end.sec, msg.end.nanosec = divmod(span.end_ns, 1_000_000_000)
    msg.latency_ns = -1 if span.latency_ns is None else span.latency_ns
    msg.publishes = [SpanPublish(topic=topic, subscriber_count=count)
                     for topic, count in span.publishes]
    msg.links = [SpanLink(trace_id=list(trace_id), span_id=list(span_id))
                 for trace_id, span_id in span.links]
    return msg
