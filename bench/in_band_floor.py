"""
The in-band floor: the least a Python tracer could add per hop, measured beside mtrace.

What every in-band hop must do, and nothing more: on publish, take the
active context (or a new root), copy its ids into the header's arrays, set
the flags and the stamp; on receive, read the ids, make the child context
and hold it in a ``ContextVar`` while the callback runs. No checks of the
input, no notices, no replay or layout checks, no spans, no OpenTelemetry
bridge; its callback takes no ``MessageInfo`` (mtrace's replay check needs
one). Its one-process throughput next to plain rclpy, in the same run as
mtrace's, says how far pure Python can go (bench/README.md).
"""

from contextvars import ContextVar
import dataclasses
import time
from typing import Any
from typing import Callable
from typing import Optional

from mtrace_ros.core.context import FLAG_SAMPLED
from mtrace_ros.core.context import TraceContext
from mtrace_ros.core.ids import new_span_id
from mtrace_ros.core.ids import new_trace_id
from rclpy.node import Node
from rclpy.publisher import Publisher
from ros_setup import Path
from ros_setup import qos

_NS_PER_SEC = 1_000_000_000
_NO_PARENT = bytes(8)
_CURRENT: ContextVar[Optional[TraceContext]] = ContextVar('floor_trace', default=None)


class _FloorPublisher(Publisher):
    """Writes the active context into the header, with no checks, then publishes."""

    def publish(self, msg: Any) -> None:
        context = _CURRENT.get()
        if context is None:
            context = TraceContext(new_trace_id(), new_span_id(), None, FLAG_SAMPLED)
        header = msg.header
        memoryview(header.trace_id)[:] = context.trace_id_bytes
        memoryview(header.span_id)[:] = context.span_id_bytes
        memoryview(header.parent_span_id)[:] = context.parent_span_id_bytes or _NO_PARENT
        header.flags = context.flags
        stamp = header.stamp
        stamp.sec, stamp.nanosec = divmod(time.time_ns(), _NS_PER_SEC)
        super().publish(msg)


def _in_received_trace(callback: Callable[[Any], None]) -> Callable[[Any], None]:
    def run(msg: Any) -> None:
        header = msg.header
        token = _CURRENT.set(TraceContext(
            header.trace_id.tobytes(), new_span_id(), header.span_id.tobytes(), header.flags))
        try:
            callback(msg)
        finally:
            _CURRENT.reset(token)
    return run


@dataclasses.dataclass(frozen=True)
class FloorPath(Path):
    """The embedded-header path through the floor tracer (task contexts on, as with mtrace)."""

    def create_publisher(self, node: Node, topic: str, depth: int) -> Any:
        """Create the floor's publisher."""
        return node.create_publisher(
            self.msg_type, topic, qos(depth), publisher_class=_FloorPublisher)

    def create_subscription(
        self, node: Node, topic: str, callback: Callable[[Any], None], depth: int,
    ) -> Any:
        """Create a subscription whose callback runs in the received context."""
        return node.create_subscription(
            self.msg_type, topic, _in_received_trace(callback), qos(depth))
