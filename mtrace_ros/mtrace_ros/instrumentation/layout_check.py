"""
Say once when a peer on a traced topic has another layout of its type, or envelopes.

``TracedHeader`` changed layout (it gained ``parent_span_id``) under the same
type name. Processes built before and after the change do not exchange
traced messages at all, and nothing says so (measured with Fast DDS: the
endpoints are not matched, no message and no warning on either side). The
graph shows it: every endpoint's type hash (``TopicEndpointInfo.topic_type_hash``).
A traced publisher looks at its topic when it is created and then, from its
``publish``, at most every :data:`CHECK_INTERVAL_NS`; an endpoint whose type
has the same name and another hash is reported on the node's logger once
(then at most once a minute, like every notice).

Envelopes are opt-in (``envelope=True``) at both ends: an end with them and
one without have different wire types, are never connected, and would be
silently deaf; the same checks report that, naming the topic and both types.
"""

import time
from typing import List
from typing import Sequence

from mtrace_ros.instrumentation import notices
from rclpy.node import Node
from rclpy.topic_endpoint_info import TopicEndpointInfo

#: How often a publishing endpoint looks at its topic's peers.
CHECK_INTERVAL_NS = 10 * 1_000_000_000
ENVELOPE_TYPE = 'mtrace_msgs/msg/TracedEnvelope'
ENVELOPE_PROBLEM = ('one end of this topic sends envelopes (envelope=True) and the other does '
                    'not: they do not connect; use envelope=True on both ends or on neither')
PROBLEM = ('a peer has another layout of this message type (built with another '
           'mtrace_msgs?): the middleware does not connect them; rebuild both with the same '
           'mtrace_msgs')


def mismatched(
    own: Sequence[TopicEndpointInfo], peers: Sequence[TopicEndpointInfo],
) -> List[TopicEndpointInfo]:
    """Return the peers whose type has the name of one of ``own``'s types but another hash."""
    hashes = {str(endpoint.topic_type_hash) for endpoint in own}
    names = {endpoint.topic_type for endpoint in own}
    return [peer for peer in peers
            if peer.topic_type in names and str(peer.topic_type_hash) not in hashes]


def mismatched_envelopes(
    own: Sequence[TopicEndpointInfo], peers: Sequence[TopicEndpointInfo],
) -> List[TopicEndpointInfo]:
    """Return the peers that use envelopes where ``own`` does not, or the other way round."""
    enveloped = {endpoint.topic_type == ENVELOPE_TYPE for endpoint in own}
    return [peer for peer in peers if (peer.topic_type == ENVELOPE_TYPE) not in enveloped]


def _name(endpoint: TopicEndpointInfo) -> str:
    return f'{endpoint.node_namespace.rstrip("/")}/{endpoint.node_name}'


def check(node: Node, topic: str) -> None:
    """Report the endpoints on ``topic`` whose layout of the type differs from ``node``'s."""
    try:
        endpoints = [
            *node.get_publishers_info_by_topic(topic),
            *node.get_subscriptions_info_by_topic(topic)]
        name, namespace = node.get_name(), node.get_namespace()
    except Exception:  # a node being destroyed: nothing to say
        return
    own = [e for e in endpoints if (e.node_name, e.node_namespace) == (name, namespace)]
    if not own:
        return
    for peer in mismatched(own, endpoints):
        notices.report(node.get_logger(), topic, PROBLEM, (
            f'{_name(peer)} has {peer.topic_type_hash}, this node {own[0].topic_type_hash}'))
    for peer in mismatched_envelopes(own, endpoints):
        notices.report(node.get_logger(), topic, ENVELOPE_PROBLEM, (
            f'{_name(peer)} has {peer.topic_type}, this node {own[0].topic_type}'))


class LayoutWatch:
    """Checks one topic of one node now, then at most every :data:`CHECK_INTERVAL_NS`."""

    __slots__ = ('_node', '_topic', '_next_ns')

    def __init__(self, node: Node, topic: str) -> None:
        """Check ``topic`` (resolved) of ``node`` at once."""
        self._node = node
        self._topic = topic
        self._next_ns = 0
        self.maybe_check()

    def maybe_check(self) -> None:
        """Check the topic if the last check is old enough (one clock read otherwise)."""
        now = time.monotonic_ns()
        if now >= self._next_ns:
            self._next_ns = now + CHECK_INTERVAL_NS
            check(self._node, self._topic)
