"""
Span records as OpenTelemetry SDK spans, with mtrace's own ids.

Imported only by the OTLP sink, so that ``import mtrace_ros`` never loads the
OpenTelemetry SDK. The SDK spans are built directly (no tracer, no id
generator), so the trace and span ids in Jaeger or Tempo are the ones in the
logs and in every ``TracedHeader``.
"""

import functools
from typing import Any
from typing import Dict
from typing import List

from mtrace_ros.export.schema import KIND_RECEIVE
from mtrace_ros.export.schema import SpanRecord
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.resources import SERVICE_NAME
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link
from opentelemetry.trace import SpanContext
from opentelemetry.trace import SpanKind
from opentelemetry.trace import Status
from opentelemetry.trace import StatusCode
from opentelemetry.trace import TraceFlags

#: Attribute names: OpenTelemetry messaging conventions where one fits.
TOPIC_ATTRIBUTE = 'messaging.destination.name'
SYSTEM_ATTRIBUTE = 'messaging.system'
KIND_ATTRIBUTE = 'mtrace.kind'
LATENCY_ATTRIBUTE = 'mtrace.latency_ns'
PUBLISHED_TOPICS_ATTRIBUTE = 'mtrace.published_topics'
SUBSCRIBER_COUNTS_ATTRIBUTE = 'mtrace.subscriber_counts'

_SCOPE = InstrumentationScope('mtrace_ros')
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_OK = Status(StatusCode.OK)


@functools.lru_cache(maxsize=256)
def node_resource(node: str) -> Resource:
    """Return the resource of a node's spans: the node name is the service name."""
    return Resource.create({SERVICE_NAME: node})


def _span_context(trace_id: str, span_id: str, *, remote: bool) -> SpanContext:
    return SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=remote, trace_flags=_SAMPLED)


def _attributes(span: SpanRecord) -> Dict[str, Any]:
    attributes: Dict[str, Any] = {SYSTEM_ATTRIBUTE: 'ros2', KIND_ATTRIBUTE: span.kind}
    if span.topic is not None:
        attributes[TOPIC_ATTRIBUTE] = span.topic
    if span.latency_ns is not None:
        attributes[LATENCY_ATTRIBUTE] = span.latency_ns
    if span.publishes:
        attributes[PUBLISHED_TOPICS_ATTRIBUTE] = [topic for topic, _ in span.publishes]
        attributes[SUBSCRIBER_COUNTS_ATTRIBUTE] = [count for _, count in span.publishes]
    return attributes


def to_readable_span(span: SpanRecord) -> ReadableSpan:
    """Return a span record as an SDK span ready for an exporter."""
    parent_id = span.parent_span_id
    receive = span.kind == KIND_RECEIVE
    return ReadableSpan(
        name=f'receive {span.topic}' if receive else 'root',
        context=_span_context(span.trace_id, span.span_id, remote=False),
        parent=(
            None if parent_id is None else _span_context(span.trace_id, parent_id, remote=True)),
        resource=node_resource(span.node),
        attributes=_attributes(span),
        links=[
            Link(_span_context(trace_id, span_id, remote=True))
            for trace_id, span_id in span.links],
        kind=SpanKind.CONSUMER if receive else SpanKind.INTERNAL,
        status=_OK if span.error is None else Status(StatusCode.ERROR, span.error),
        start_time=span.start_ns,
        end_time=span.end_ns,
        instrumentation_scope=_SCOPE,
    )


def export_spans(exporter: SpanExporter, batch: List[SpanRecord]) -> bool:
    """Export a batch of span records with an SDK exporter; return whether it succeeded."""
    return exporter.export([to_readable_span(span) for span in batch]) is SpanExportResult.SUCCESS
