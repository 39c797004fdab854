"""Span records for tests, made the way instrumentation makes them."""

import itertools
from typing import Iterable
from typing import Optional
from typing import Tuple

from mtrace_ros.core.context import TraceContext
from mtrace_ros.export import spans
from mtrace_ros.export.schema import SpanRecord

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
) -> SpanRecord:
    """Return the record of an ended span with distinct ids, made as instrumentation does."""
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
    return span.to_record()
