"""
Out-of-band services, client side: a record of each traced request, sent before it.

A client's requests get sequence numbers 1, 2, 3, ... from rmw, assigned as
rclpy's ``Client.call_async`` sends them; the server sees the same number.
:meth:`RequestRecorder.send` publishes the record of the number the request
is about to get (sends are serialized here, so the next number is the last
plus one), sends, and reads the number it got back from
``Client._pending_requests``; if an rmw numbered differently, it publishes
the record again with the right number (the wrong one expires unmatched at
the server).
"""

import os
import threading
import time
from typing import Callable
from typing import Optional

from mtrace_msgs.msg import TraceRecord
from mtrace_ros.core.context import TraceContext
from mtrace_ros.instrumentation.side_channel import wait_for_readers
from mtrace_ros.wire.companion import GID_SIZE
from mtrace_ros.wire.companion import make_record
from mtrace_ros.wire.companion import RecordKey
from mtrace_ros.wire.companion import request_record_topic
from rclpy.client import Client
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy
from rclpy.qos import HistoryPolicy
from rclpy.qos import QoSProfile
from rclpy.qos import ReliabilityPolicy
from rclpy.task import Future

#: Records are reliable, and kept for a reader that matches after they were sent (the
#: first request to a server just discovered); both sides keep the last 256.
RECORD_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=256, reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL)


class RequestRecorder:
    """The record writer of one client: its id, and the sequence number of its next request."""

    def __init__(self, node: Node, resolved_service: str) -> None:
        """Create the record publisher of a client of ``resolved_service`` on ``node``."""
        self._node = node
        self.topic = request_record_topic(resolved_service)
        # rclpy's own method: a TracedNode's would give the record topic a companion of its own.
        self.publisher = Node.create_publisher(node, TraceRecord, self.topic, RECORD_QOS)
        #: Stands for the client's gid, which rmw does not give a server.
        self.client_id = os.urandom(GID_SIZE)
        self._lock = threading.Lock()
        self._next = 1

    def send(self, client: Client, context: TraceContext, send: Callable[[], Future]) -> Future:
        """Publish the record of ``context``'s request, then send it; return its future."""
        with self._lock:
            stamp = time.time_ns()
            expected = self._next
            record = make_record(context, RecordKey(self.client_id, expected), stamp)
            self.publisher.publish(record)
            future = send()
            sent = _sequence_number(client, future)
            if sent is not None and sent != expected:
                self.publisher.publish(
                    make_record(context, RecordKey(self.client_id, sent), stamp))
            self._next = (expected if sent is None else sent) + 1
        return future

    def wait_for_servers(self, timeout_sec: Optional[float], start: float) -> None:
        """Wait until every traced server known to the graph is matched (see wait_for_readers)."""
        wait_for_readers(self._node, self.publisher, timeout_sec, start)

    def destroy(self) -> None:
        """Destroy the record publisher (a no-op once its node destroyed it)."""
        self._node.destroy_publisher(self.publisher)


def _sequence_number(client: Client, future: Future) -> Optional[int]:
    """Return the sequence number ``future``'s request got (``None``: already answered)."""
    with client._lock:
        for sequence_number, pending in client._pending_requests.items():
            if pending is future:
                return sequence_number
    return None
