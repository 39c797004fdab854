"""
Recognize messages played back from a recording, by the node that publishes them.

``ros2 bag play`` republishes recorded messages with their recorded trace
headers. Continuing those traces would mix a replay into the recorded
traces, with hop latencies of hours. A replayed message is recognized by
its publisher, not by the age of its stamp (robots with unsynchronized
clocks would misfire): the ``publisher_gid`` of the message's
``MessageInfo`` is looked up once among the topic's publishers in the graph,
whose node names say which is rosbag2's player (``rosbag2_player``).
Distributions whose ``MessageInfo`` has no ``publisher_gid`` (Jazzy) cannot
tell: there every message continues its trace, as with ``MTRACE_REPLAY=continue``.
"""

from typing import Any
from typing import Dict

from mtrace_ros.core.settings import PLAYER_NODE_NAME
from mtrace_ros.instrumentation.endpoint_gids import gid_of
from mtrace_ros.wire.companion import GID_SIZE
from rclpy.node import Node

#: Graph look-ups for a publisher not yet discovered, before it is taken as no player.
MAX_LOOKUPS = 20


class ReplayDetector:
    """Says whether a message on one topic comes from rosbag2's player."""

    __slots__ = ('_node', '_topic', '_known', '_lookups')

    def __init__(self, node: Node, topic: str) -> None:
        """Watch ``topic`` (resolved) of ``node``'s graph."""
        self._node = node
        self._topic = topic
        self._known: Dict[bytes, bool] = {}
        self._lookups: Dict[bytes, int] = {}

    def from_player(self, info: Any) -> bool:
        """Return whether the message with this ``MessageInfo`` was published by the player."""
        gid = info.get('publisher_gid') if isinstance(info, dict) else None
        if not gid:
            return False
        key = bytes(gid['data'])[:GID_SIZE]
        known = self._known.get(key)
        if known is None:
            known = self._look_up(key)
        return known

    def _look_up(self, key: bytes) -> bool:
        for endpoint in self._node.get_publishers_info_by_topic(self._topic):
            self._known[gid_of(endpoint)] = endpoint.node_name == PLAYER_NODE_NAME
        if key in self._known:
            return self._known[key]
        # Not discovered yet: ask again with the next message, a bounded number of times.
        self._lookups[key] = self._lookups.get(key, 0) + 1
        if self._lookups[key] >= MAX_LOOKUPS:
            self._known[key] = False
        return False
