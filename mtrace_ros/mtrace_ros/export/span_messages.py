"""
Spans as ``mtrace_msgs/Span`` messages: the span topic's wire form.

Every process with the topic sink publishes its spans on :data:`SPAN_TOPIC`,
so one collector sees every host. :func:`span_message_to_dict` turns a
received message into the JSON Lines record
:meth:`mtrace_ros.export.spans.Span.to_dict` makes, so spans written in-process and
spans collected from the topic read the same.
"""

from typing import Any
from typing import Dict
from typing import Optional

from builtin_interfaces.msg import Time
from mtrace_msgs.msg import Span as SpanMsg
from mtrace_msgs.msg import SpanLink
from mtrace_msgs.msg import SpanPublish
from mtrace_ros.core.clock import split_ns
from mtrace_ros.core.clock import time_to_ns
from mtrace_ros.core.ids import INVALID_SPAN_ID
from mtrace_ros.export.spans import KIND_RECEIVE
from mtrace_ros.export.spans import KIND_ROOT
from mtrace_ros.export.spans import Span
import numpy
from rclpy.qos import QoSProfile
from rclpy.qos import ReliabilityPolicy

#: Where mtrace publishes the spans of every process (``mtrace collect`` listens here).
SPAN_TOPIC = '/mtrace/spans'
#: Reliable and volatile: matches reliable publishers and keeps bursts of spans.
SPAN_QOS = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)

_KINDS = {SpanMsg.KIND_ROOT: KIND_ROOT, SpanMsg.KIND_RECEIVE: KIND_RECEIVE}
_WIRE_KINDS = {kind: wire for wire, kind in _KINDS.items()}


def _uint8s(data: bytes) -> Any:
    return numpy.frombuffer(data, dtype=numpy.uint8)


def _time(stamp_ns: int) -> Time:
    sec, nanosec = split_ns(stamp_ns)
    return Time(sec=sec, nanosec=nanosec)


def span_to_message(span: Span) -> SpanMsg:
    """
    Return an ended, recorded span as the ``mtrace_msgs/Span`` the topic sink publishes.

    :raises ValueError: if the span has no context (it was never recorded).
    """
    context = span.context
    if context is None:
        raise ValueError('span_to_message() needs a recorded span (one with a context)')
    return SpanMsg(
        trace_id=_uint8s(context.trace_id_bytes),
        span_id=_uint8s(context.span_id_bytes),
        parent_span_id=_uint8s(context.parent_span_id_bytes or INVALID_SPAN_ID),
        node=span.node,
        topic=span.topic or '',
        kind=_WIRE_KINDS[span.kind],
        start=_time(span.start_ns),
        end=_time(span.end_ns or span.start_ns),
        latency_ns=-1 if span.latency_ns is None else span.latency_ns,
        error=span.error or '',
        publishes=[
            SpanPublish(topic=topic, subscriber_count=count) for topic, count in span.publishes],
        links=[
            SpanLink(trace_id=_uint8s(trace_id), span_id=_uint8s(span_id))
            for trace_id, span_id in span.links],
    )


def _hex(values: Any) -> str:
    return bytes(bytearray(values)).hex()


def _or_none(value: Any, empty: Any) -> Optional[Any]:
    return None if value == empty else value


def span_message_to_dict(msg: SpanMsg) -> Dict[str, Any]:
    """
    Return the JSON Lines record of a ``Span`` message, as ``Span.to_dict()`` does.

    The message's "none" markers become ``None``: an all-zero parent (a root),
    an empty topic, latency -1 and an empty error. An unknown kind number is
    kept as its decimal string, so a newer publisher is still readable.
    """
    parent = bytes(bytearray(msg.parent_span_id))
    return {
        'trace_id': _hex(msg.trace_id),
        'span_id': _hex(msg.span_id),
        'parent_span_id': parent.hex() if any(parent) else None,
        'node': msg.node,
        'topic': _or_none(msg.topic, ''),
        'kind': _KINDS.get(msg.kind, str(msg.kind)),
        'start_ns': time_to_ns(msg.start),
        'end_ns': time_to_ns(msg.end),
        'latency_ns': _or_none(msg.latency_ns, -1),
        'error': _or_none(msg.error, ''),
        'publishes': [
            {'topic': publish.topic, 'subscriber_count': publish.subscriber_count}
            for publish in msg.publishes],
        'links': [
            {'trace_id': _hex(link.trace_id), 'span_id': _hex(link.span_id)}
            for link in msg.links],
    }
