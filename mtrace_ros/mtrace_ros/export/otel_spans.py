"""
Span records as OpenTelemetry SDK spans, with mtrace's own ids and OTel's conventions.

Imported only by the OTLP sink, so that ``import mtrace_ros`` never loads the
OpenTelemetry SDK. The SDK spans are built directly (no tracer, no id
generator), so the trace and span ids in Jaeger or Tempo are the ones in the
logs and in every ``TracedHeader``.

Names, kinds and attributes follow OpenTelemetry's messaging conventions
(status Development) and, for services, its RPC conventions:

* a traced callback: ``process /ns/topic``, CONSUMER, parented to the span
  that published the message (its creation context: a single-message push
  scenario) and linking to it;
* a root opened by a publish outside any trace: ``publish /ns/topic``,
  PRODUCER (its context is the message's creation context);
* ``start_trace`` and ``continue_trace`` spans: their name, INTERNAL and
  CONSUMER;
* publishes made inside a span: ``publish`` events (time, destination,
  subscriber count), not PRODUCER spans: the header's span id is the span
  that published, so a PRODUCER span would be a parent-less sibling that
  doubles the span count and shows nothing an event does not;
* services (kinds ``client`` / ``server``): named after the service, CLIENT
  or SERVER, ``rpc.system.name`` ``ros2``, ``rpc.method`` the service name;
* action phases the same way, ``rpc.method`` the action's own service
  (``/ns/action/_action/send_goal``, ``.../get_result``, ``.../cancel_goal``),
  CLIENT or SERVER by the span's ``ros.action.role``, and ``ros.action.name``;
  the execute callback is work the server does after answering the goal
  request: ``execute /ns/action``, INTERNAL.

ROS attributes are under ``ros.``, mtrace's own under ``mtrace.``. Status is
UNSET unless the span failed (ERROR, ``error.type``, an ``exception`` event)
or the user set it.
"""

import functools
import os
import socket
from typing import Any
from typing import Dict
from typing import List
from typing import Optional
from typing import Tuple

from mtrace_ros.export.schema import ACTION_ROLE_ATTRIBUTE
from mtrace_ros.export.schema import ACTION_SERVER
from mtrace_ros.export.schema import Event
from mtrace_ros.export.schema import KIND_CANCEL
from mtrace_ros.export.schema import KIND_CLIENT
from mtrace_ros.export.schema import KIND_EXECUTE
from mtrace_ros.export.schema import KIND_GOAL
from mtrace_ros.export.schema import KIND_RECEIVE
from mtrace_ros.export.schema import KIND_RESULT
from mtrace_ros.export.schema import KIND_ROOT
from mtrace_ros.export.schema import KIND_SERVER
from mtrace_ros.export.schema import SpanRecord
from mtrace_ros.export.schema import STATUS_ERROR
from mtrace_ros.export.schema import STATUS_OK
from opentelemetry.sdk.resources import OTELResourceDetector
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event as OtelEvent
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

#: ``messaging.system`` and ``rpc.system.name``: ROS 2 has no registered value.
SYSTEM = 'ros2'

SYSTEM_ATTRIBUTE = 'messaging.system'
OPERATION_NAME_ATTRIBUTE = 'messaging.operation.name'
OPERATION_TYPE_ATTRIBUTE = 'messaging.operation.type'
TOPIC_ATTRIBUTE = 'messaging.destination.name'
RPC_SYSTEM_ATTRIBUTE = 'rpc.system.name'
RPC_METHOD_ATTRIBUTE = 'rpc.method'
ERROR_TYPE_ATTRIBUTE = 'error.type'
ACTION_NAME_ATTRIBUTE = 'ros.action.name'
NODE_NAME_ATTRIBUTE = 'ros.node.name'
NODE_NAMESPACE_ATTRIBUTE = 'ros.node.namespace'
KIND_ATTRIBUTE = 'mtrace.kind'
LATENCY_ATTRIBUTE = 'mtrace.latency_ns'
PUBLISHED_TOPICS_ATTRIBUTE = 'mtrace.published_topics'
SUBSCRIBER_COUNTS_ATTRIBUTE = 'mtrace.subscriber_counts'
SUBSCRIBER_COUNT_ATTRIBUTE = 'mtrace.subscriber_count'

#: ROS's name for sending a message (``messaging.operation.name``) and the span
#: and event name it gives.
PUBLISH = 'publish'
PROCESS = 'process'
EXECUTE = 'execute'
#: The action service each phase calls, under the action's name (as rcl names them).
_ACTION_SERVICES = {
    KIND_GOAL: '/_action/send_goal',
    KIND_RESULT: '/_action/get_result',
    KIND_CANCEL: '/_action/cancel_goal',
}


def _package_version() -> str:
    try:
        from importlib.metadata import version
        return version('mtrace_ros')
    except Exception:  # run from a source tree without metadata
        return '0.0.0'


_SCOPE = InstrumentationScope('mtrace_ros', _package_version())
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_STATUSES = {
    STATUS_OK: Status(StatusCode.OK),
}
_UNSET = Status(StatusCode.UNSET)


def split_node(node: str) -> Tuple[str, str]:
    """Return ``(name, namespace)`` of a node's logger name: ``robot1.b`` -> ``b``, ``/robot1``."""
    namespace, _, name = node.rpartition('.')
    return name, '/' + namespace.replace('.', '/')


@functools.lru_cache(maxsize=256)
def _resource(node: str, service_name: str, resource_attributes: str) -> Resource:
    name, namespace = split_node(node)
    attributes: Dict[str, Any] = {
        'service.name': name,
        'host.name': socket.gethostname(),
        'process.pid': os.getpid(),
    }
    if namespace != '/':
        attributes['service.namespace'] = namespace
    # Resource.create lets these attributes win; the environment must win instead.
    return Resource.create(attributes).merge(OTELResourceDetector().detect())


def node_resource(node: str) -> Resource:
    """
    Return the resource of a node's spans: the node is the service.

    ``service.name`` is the node's name and ``service.namespace`` its ROS
    namespace; ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES``, when
    set, win (the node stays in each span's ``ros.node.name``).
    """
    return _resource(
        node, os.environ.get('OTEL_SERVICE_NAME', ''),
        os.environ.get('OTEL_RESOURCE_ATTRIBUTES', ''))


def _span_context(trace_id: str, span_id: str, *, remote: bool) -> SpanContext:
    return SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=remote, trace_flags=_SAMPLED)


def _shape(span: SpanRecord) -> Tuple[str, SpanKind, Dict[str, Any]]:
    """Return the span's name, kind and convention attributes."""
    kind = span.kind
    if kind == KIND_RECEIVE:
        attributes = _messaging(PROCESS, PROCESS, span.topic)
        name = span.name or (f'{PROCESS} {span.topic}' if span.topic else PROCESS)
        return name, SpanKind.CONSUMER, attributes
    if kind in (KIND_CLIENT, KIND_SERVER):
        method = span.topic or ''
        attributes = {RPC_SYSTEM_ATTRIBUTE: SYSTEM}
        if method:
            attributes[RPC_METHOD_ATTRIBUTE] = method
        return (span.name or method or SYSTEM,
                SpanKind.CLIENT if kind == KIND_CLIENT else SpanKind.SERVER, attributes)
    if kind in _ACTION_SERVICES or kind == KIND_EXECUTE:
        return _action_shape(span)
    if kind == KIND_ROOT and span.name is None and span.publishes:
        topic = span.publishes[0].topic
        return f'{PUBLISH} {topic}', SpanKind.PRODUCER, _messaging(PUBLISH, 'send', topic)
    return span.name or kind, SpanKind.INTERNAL, {}


def _action_shape(span: SpanRecord) -> Tuple[str, SpanKind, Dict[str, Any]]:
    """Return an action phase span's name, kind and convention attributes."""
    action = span.topic or ''
    attributes = {RPC_SYSTEM_ATTRIBUTE: SYSTEM, ACTION_NAME_ATTRIBUTE: action}
    service = _ACTION_SERVICES.get(span.kind)
    if service is None:
        return span.name or f'{EXECUTE} {action}', SpanKind.INTERNAL, attributes
    attributes[RPC_METHOD_ATTRIBUTE] = action + service
    server = span.attributes.get(ACTION_ROLE_ATTRIBUTE) == ACTION_SERVER
    return (span.name or action + service,
            SpanKind.SERVER if server else SpanKind.CLIENT, attributes)


def _messaging(operation: str, operation_type: str, topic: Optional[str]) -> Dict[str, Any]:
    attributes = {
        SYSTEM_ATTRIBUTE: SYSTEM,
        OPERATION_NAME_ATTRIBUTE: operation,
        OPERATION_TYPE_ATTRIBUTE: operation_type,
    }
    if topic:
        attributes[TOPIC_ATTRIBUTE] = topic
    return attributes


def _error_type(span: SpanRecord) -> Optional[str]:
    for event in span.events:
        if event.name == 'exception':
            value = event.attributes.get('exception.type')
            if isinstance(value, str):
                return value
    if span.error is not None:
        return span.error.partition(':')[0]
    return 'error' if span.status.code == STATUS_ERROR else None


def _attributes(span: SpanRecord, convention: Dict[str, Any]) -> Dict[str, Any]:
    name, namespace = split_node(span.node)
    attributes: Dict[str, Any] = {
        **convention,
        NODE_NAME_ATTRIBUTE: name,
        NODE_NAMESPACE_ATTRIBUTE: namespace,
        KIND_ATTRIBUTE: span.kind,
    }
    if span.latency_ns is not None:
        attributes[LATENCY_ATTRIBUTE] = span.latency_ns
    if span.publishes:
        attributes[PUBLISHED_TOPICS_ATTRIBUTE] = [publish.topic for publish in span.publishes]
        attributes[SUBSCRIBER_COUNTS_ATTRIBUTE] = [
            publish.subscriber_count for publish in span.publishes]
    error_type = _error_type(span)
    if error_type is not None:
        attributes[ERROR_TYPE_ATTRIBUTE] = error_type
    attributes.update(span.attributes)  # the user's own come last: they win
    return attributes


def _status(span: SpanRecord) -> Status:
    code = span.status.code
    if code == STATUS_ERROR:
        return Status(StatusCode.ERROR, span.status.message or span.error)
    if span.error is not None:  # a record from before statuses
        return Status(StatusCode.ERROR, span.error)
    return _STATUSES.get(code, _UNSET)


def _events(span: SpanRecord) -> List[OtelEvent]:
    events = [
        OtelEvent(PUBLISH, {TOPIC_ATTRIBUTE: publish.topic,
                            SUBSCRIBER_COUNT_ATTRIBUTE: publish.subscriber_count},
                  publish.time_ns or span.start_ns)
        for publish in span.publishes]
    events += [_event(event) for event in span.events]
    events.sort(key=lambda event: event.timestamp)
    return events


def _event(event: Event) -> OtelEvent:
    return OtelEvent(event.name, dict(event.attributes), event.time_ns)


def to_readable_span(span: SpanRecord) -> ReadableSpan:
    """Return a span record as an SDK span ready for an exporter."""
    parent_id = span.parent_span_id
    parent = None if parent_id is None else _span_context(span.trace_id, parent_id, remote=True)
    name, kind, convention = _shape(span)
    links = [
        Link(_span_context(trace_id, span_id, remote=True)) for trace_id, span_id in span.links]
    if kind is SpanKind.CONSUMER and parent is not None:
        # The conventions' link to the creation context, which is also the parent.
        links.insert(0, Link(parent))
    return ReadableSpan(
        name=name,
        context=_span_context(span.trace_id, span.span_id, remote=False),
        parent=parent,
        resource=node_resource(span.node),
        attributes=_attributes(span, convention),
        events=_events(span),
        links=links,
        kind=kind,
        status=_status(span),
        start_time=span.start_ns,
        end_time=span.end_ns,
        instrumentation_scope=_SCOPE,
    )


def export_spans(exporter: SpanExporter, batch: List[SpanRecord]) -> bool:
    """Export a batch of span records with an SDK exporter; return whether it succeeded."""
    return exporter.export([to_readable_span(span) for span in batch]) is SpanExportResult.SUCCESS
