"""Spans as ``mtrace_msgs/msg/Span`` messages: the span topic's wire form.

Every process with the topic sink publishes its spans on :data:`SPAN_TOPIC`,
so one collector sees every host. :func:`span_message_to_dict` turns a
received message into the same record :meth:`mtrace_ros.spans.Span.to_dict`
gives, which is what the JSON Lines sink writes.
"""

from typing import Any
from typing import Dict
from typing import Optional

from builtin_interfaces.msg import Time
from mtrace_msgs.msg import Span as SpanMessage
from mtrace_msgs.msg import SpanLink
from mtrace_msgs.msg import SpanPublish
import numpy
from rclpy.qos import QoSProfile
from rclpy.qos import ReliabilityPolicy

from mtrace_ros.context import FLAG_SAMPLED
from mtrace_ros.context import TraceContext
from mtrace_ros.ids import INVALID_SPAN_ID
from mtrace_ros.spans import KIND_RECEIVE
from mtrace_ros.spans import KIND_ROOT
from mtrace_ros.spans import Span

#: The topic the topic sink publishes on and ``mtrace collect`` listens to.
SPAN_TOPIC = '/mtrace/spans'

_NS_PER_SEC = 1_000_000_000
_KIND_TO_WIRE = {KIND_ROOT: SpanMessage.KIND_ROOT, KIND_RECEIVE: SpanMessage.KIND_RECEIVE}
_KIND_FROM_WIRE = {wire: kind for kind, wire in _KIND_TO_WIRE.items()}


def span_qos() -> QoSProfile:
    """Return the QoS of the span topic: reliable, volatile, a deep history for bursts."""
    return QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)


def _uint8s(data: bytes) -> Any:
    return numpy.frombuffer(data, dtype=numpy.uint8)


def _time(stamp_ns: Optional[int]) -> Time:
    sec, nanosec = divmod(stamp_ns or 0, _NS_PER_SEC)
    return Time(sec=sec, nanosec=nanosec)


def _ns(stamp: Time) -> int:
    return stamp.sec * _NS_PER_SEC + stamp.nanosec


def span_to_message(span: Span) -> SpanMessage:
    """
    Return an ended, recorded span as a ``mtrace_msgs/msg/Span``.

    :raises ValueError: if the span has no context (it was never recorded).
    """
    context = span.context
    if context is None:
        raise ValueError('span_to_message() needs a recorded span (one with a context)')
    return SpanMessage(
        trace_id=_uint8s(context.trace_id_bytes),
        span_id=_uint8s(context.span_id_bytes),
        parent_span_id=_uint8s(context.parent_span_id_bytes or INVALID_SPAN_ID),
        node=span.node,
        topic=span.topic or '',
        kind=_KIND_TO_WIRE[span.kind],
        start=_time(span.start_ns),
        end=_time(span.end_ns),
        latency_ns=-1 if span.latency_ns is None else span.latency_ns,
        error=span.error or '',
        publishes=[
            SpanPublish(topic=topic, subscriber_count=count) for topic, count in span.publishes],
        links=[
            SpanLink(trace_id=_uint8s(trace_id), span_id=_uint8s(span_id))
            for trace_id, span_id in span.links],
    )


def span_from_message(msg: SpanMessage) -> Span:
    """
    Return the span a ``mtrace_msgs/msg/Span`` describes.

    :raises ValueError: if the message's kind is unknown.
    """
    try:
        kind = _KIND_FROM_WIRE[msg.kind]
    except KeyError:
        raise ValueError(f'unknown span kind {msg.kind} in a mtrace_msgs/msg/Span') from None
    parent = msg.parent_span_id.tobytes()
    span = Span(
        msg.node, msg.topic or None, kind, None if msg.latency_ns < 0 else msg.latency_ns)
    span.context = TraceContext(
        msg.trace_id.tobytes(), msg.span_id.tobytes(),
        None if parent == INVALID_SPAN_ID else parent, FLAG_SAMPLED)
    span.start_ns = _ns(msg.start)
    span.end_ns = _ns(msg.end)
    span.error = msg.error or None
    span.publishes = [(publish.topic, publish.subscriber_count) for publish in msg.publishes]
    span.links = [(link.trace_id.tobytes(), link.span_id.tobytes()) for link in msg.links]
    return span


def span_message_to_dict(msg: SpanMessage) -> Dict[str, Any]:
    """Return a ``mtrace_msgs/msg/Span`` as the JSON Lines record of :meth:`Span.to_dict`."""
    return span_from_message(msg).to_dict()
