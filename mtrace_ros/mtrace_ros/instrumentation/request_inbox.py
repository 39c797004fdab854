"""
A subscription read on demand: request records wait in it until a request needs them.

The subscription belongs to a callback group that never executes, so no
executor waits on it or runs a callback for it: the records stay queued in
the middleware (bounded by the QoS depth) until the server, about to run a
callback, takes them all (:meth:`RequestInbox.take`) or waits for the next
one (:meth:`RequestInbox.wait`) in a wait set of its own.
"""

from typing import List

from mtrace_msgs.msg import TraceRecord
from mtrace_ros.instrumentation.side_channel import create_side_subscription
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy
from rclpy.qos import HistoryPolicy
from rclpy.qos import QoSProfile
from rclpy.qos import ReliabilityPolicy

#: Records are reliable, and kept for a reader that matches after they were sent (the
#: first request to a server just discovered); both sides keep the last 256.
RECORD_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=256, reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL)


class RequestInbox:
    """The records of one topic, taken when asked for."""

    def __init__(self, node: Node, topic: str) -> None:
        """Subscribe ``node`` to ``topic``, with no callback ever run."""
        self._node = node
        self._subscription = create_side_subscription(node, TraceRecord, topic, RECORD_QOS)

    def take(self) -> List[TraceRecord]:
        """Return every record that arrived since the last call; never blocks."""
        taken = []
        handle = self._subscription.handle
        with handle:
            while True:
                message_and_info = handle.take_message(TraceRecord, False)
                if message_and_info is None:
                    return taken
                taken.append(message_and_info[0])

    def wait(self, timeout_ns: int) -> None:
        """Return when a record is ready to take, or after ``timeout_ns``."""
        wait_set = _rclpy.WaitSet(1, 0, 0, 0, 0, 0, self._node.context.handle)
        handle = self._subscription.handle
        with handle:
            wait_set.add_subscription(handle)
            wait_set.wait(timeout_ns)

    def writers(self) -> int:
        """Return the number of matched record writers: traced clients."""
        return self._subscription.get_publisher_count()

    def destroy(self) -> None:
        """Destroy the subscription (a no-op once its node destroyed it)."""
        self._node.destroy_subscription(self._subscription)
