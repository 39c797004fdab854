"""
The gid of an endpoint this process creates, which rclpy does not give.

A record names its publisher by gid, and a publisher that hands records to
readers in its own process tells them apart by gid. rclpy gives neither
publishers nor subscriptions their gid, but the graph lists a local endpoint
as soon as it is created: the new endpoint's gid is the one the graph lists
for its node and topic after the creation and did not list before.
Creations are serialized process-wide, so that the new gid is that one's.
"""

import threading
from typing import Callable
from typing import FrozenSet
from typing import Tuple
from typing import TypeVar

from mtrace_ros.wire.companion import GID_SIZE
from rclpy.node import Node
from rclpy.topic_endpoint_info import TopicEndpointInfo

T = TypeVar('T')

# One endpoint created at a time in this process, so that the new gid is ours.
_CREATION_LOCK = threading.Lock()


def gid_of(endpoint: TopicEndpointInfo) -> bytes:
    """Return a graph endpoint's gid as records and ``MessageInfo`` name it (16 bytes)."""
    return bytes(endpoint.endpoint_gid)[:GID_SIZE]


def own_gids(node: Node, topic: str, *, publishers: bool) -> FrozenSet[bytes]:
    """Return the gids (16 bytes) of ``node``'s publishers (or subscriptions) on ``topic``."""
    name, namespace = node.get_name(), node.get_namespace()
    endpoints = (node.get_publishers_info_by_topic(topic) if publishers
                 else node.get_subscriptions_info_by_topic(topic))
    return frozenset(
        gid_of(endpoint) for endpoint in endpoints
        if (endpoint.node_name, endpoint.node_namespace) == (name, namespace))


def created_with_gids(
    node: Node, topic: str, create: Callable[[], T], *, publishers: bool,
) -> Tuple[T, FrozenSet[bytes]]:
    """
    Return what ``create()`` returns, and the gids ``node`` gained on ``topic`` meanwhile.

    :param topic: the resolved topic of the endpoint ``create`` makes.
    :param publishers: whether that endpoint is a publisher (else a subscription).
    :returns: one gid when all went well; none or several when the graph did
        not show exactly one new endpoint (the caller says so).
    """
    with _CREATION_LOCK:
        before = own_gids(node, topic, publishers=publishers)
        created = create()
        return created, own_gids(node, topic, publishers=publishers) - before
