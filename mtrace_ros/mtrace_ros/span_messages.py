"""
From the span topic's ``mtrace_msgs/Span`` message to the JSON Lines record.

The record is the one :meth:`mtrace_ros.spans.Span.to_dict` makes, so spans
written in-process and spans collected from the topic read the same.
"""

from typing import Any
from typing import Dict
from typing import Optional

from mtrace_msgs.msg import Span as SpanMsg
from mtrace_ros.spans import KIND_RECEIVE
from mtrace_ros.spans import KIND_ROOT

_KINDS = {SpanMsg.KIND_ROOT: KIND_ROOT, SpanMsg.KIND_RECEIVE: KIND_RECEIVE}


def _hex(values: Any) -> str:
    return bytes(bytearray(values)).hex()


def _time_ns(stamp: Any) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec


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
        'start_ns': _time_ns(msg.start),
        'end_ns': _time_ns(msg.end),
        'latency_ns': _or_none(msg.latency_ns, -1),
        'error': _or_none(msg.error, ''),
        'publishes': [
            {'topic': publish.topic, 'subscriber_count': publish.subscriber_count}
            for publish in msg.publishes],
        'links': [
            {'trace_id': _hex(link.trace_id), 'span_id': _hex(link.span_id)}
            for link in msg.links],
    }
