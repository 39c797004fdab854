"""
Which route a topic's trace takes: in-band header, companion record, or envelope.

* ``HEADER``: the type has a ``TracedHeader`` field; the context goes in it
  (cheapest: nothing else on the wire).
* ``COMPANION``: any other type; the message keeps its type and bytes, and
  its context goes on the hidden companion topic (see
  :mod:`mtrace_ros.wire.companion`).
* ``ENVELOPE``: asked for with ``envelope=True``; the message travels inside
  a ``TracedEnvelope`` (the topic's wire type changes).
* ``UNTRACED``: tracing is off (``MTRACE_ENABLED=0``), or the topic is
  excluded from the companion route (``MTRACE_EXCLUDE_TOPICS``, the
  ``mtrace.exclude_topics`` parameter override): the endpoint is exactly
  rclpy's.

Envelopes stay envelopes with tracing off, so that both ends keep matching.
"""

from typing import Type

from mtrace_ros.core.settings import excluded_topics
from mtrace_ros.core.settings import tracing_enabled
from mtrace_ros.wire.message_types import header_field
from rclpy.node import Node

HEADER = 'header'
COMPANION = 'companion'
ENVELOPE = 'envelope'
UNTRACED = 'untraced'


def resolved_name(node: Node, topic: str) -> str:
    """Return ``topic`` expanded and remapped, or as given if it is not a valid name."""
    try:
        return node.resolve_topic_name(topic)
    except Exception:  # an invalid name: creating the endpoint raises the right error
        return topic


def is_excluded(node: Node, topic: str) -> bool:
    """Return whether ``topic`` is one of the node's excluded topics (compared resolved)."""
    names = excluded_topics(node)
    return bool(names) and resolved_name(node, topic) in {
        resolved_name(node, name) for name in names}


def route(node: Node, msg_type: Type, topic: str, *, envelope: bool = False) -> str:
    """Return the route of a traced endpoint of ``msg_type`` on ``topic`` of ``node``."""
    if envelope:
        return ENVELOPE
    if not tracing_enabled():
        return UNTRACED
    if header_field(msg_type) is not None:
        return HEADER
    return UNTRACED if is_excluded(node, topic) else COMPANION
