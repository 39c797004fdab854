"""
The topic sink: spans published as ``mtrace_msgs/msg/Span`` for one collector to gather.

The sink publishes from a small node of its own, in the context of the node
that configured it (hidden: its name starts with ``_``). It ignores global
ROS arguments, so the ``-r __node:=...`` and topic remappings meant for the
user's node do not rename it or its topic. The span message has no trace
header and the publisher is a plain rclpy one, so publishing spans is never
traced and never records spans. When the context shuts down the sink closes
itself; spans still queued then are dropped and counted, without a warning.
"""

import os
from typing import Any
from typing import List

from mtrace_msgs.msg import Span as SpanMessage
from mtrace_ros.export import spans
from mtrace_ros.export.processor import QueuedSink
from mtrace_ros.export.schema import record_to_message
from mtrace_ros.export.schema import SPAN_QOS
from mtrace_ros.export.schema import SPAN_TOPIC
from mtrace_ros.export.schema import SpanRecord
from rclpy.context import Context
from rclpy.node import Node


class TopicSink(QueuedSink):
    """Publish spans on a ROS topic (default: :data:`.schema.SPAN_TOPIC`)."""

    def __init__(self, context: Context, topic: str = SPAN_TOPIC, **kwargs: Any) -> None:
        """
        Create the sink's node and publisher in ``context`` (which must be initialized).

        :param context: the rclpy context to publish in, usually the user's node's.
        :param topic: the absolute topic name.
        :param kwargs: ``queue_size``, ``batch_size`` (see :class:`QueuedSink`).
        """
        self.topic = topic
        self._context = context
        self._node = Node(
            f'_mtrace_spans_{os.getpid()}_{os.urandom(3).hex()}', context=context,
            use_global_arguments=False, enable_rosout=False, start_parameter_services=False)
        self._publisher = self._node.create_publisher(SpanMessage, topic, SPAN_QOS)
        super().__init__(f'topic:{topic}', **kwargs)
        context.on_shutdown(self._on_context_shutdown)

    def _on_context_shutdown(self) -> None:
        spans.remove_sink(self)
        self.close(timeout_sec=0.0)

    def _export(self, batch: List[SpanRecord]) -> None:
        if not self._context.ok():
            self._discard(len(batch), None)
            return
        try:
            for record in batch:
                self._publisher.publish(record_to_message(record))
        except Exception:
            if self._context.ok():
                raise
            self._discard(len(batch), None)  # the context shut down meanwhile

    def _release(self) -> None:
        if self._context.ok():
            self._node.destroy_node()
