"""
The topic exporter: spans published as ``mtrace_msgs/msg/Span`` for one collector to gather.

The exporter publishes from a small node of its own, in the context of the
node that configured it (hidden: its name starts with ``_``). It ignores
global ROS arguments, so the ``-r __node:=...`` and topic remappings meant
for the user's node do not rename it or its topic. The span message has no
trace header and the publisher is a plain rclpy one, so publishing spans is
never traced and never records spans. A :class:`mtrace_ros.TracedNode` being
destroyed first flushes the topic sinks of its context. Once the context has
shut down, batches are dropped and counted without a warning (the registry
closes the sink).
Counts are exact: a batch says how many of its records were published. In a
forked child the exporter publishes nothing (the middleware's threads stayed in
the parent): its spans are dropped and counted, with one warning.
"""

import functools
import os
import threading
from typing import Optional
from typing import Sequence

from mtrace_msgs.msg import Span as SpanMessage
from mtrace_ros.export.processor import PartialExport
from mtrace_ros.export.processor import QuietDrop
from mtrace_ros.export.schema import record_to_message
from mtrace_ros.export.schema import SPAN_QOS
from mtrace_ros.export.schema import SPAN_TOPIC
from mtrace_ros.export.schema import SpanRecord
from rclpy.context import Context
from rclpy.node import Node


class ForkedChildError(RuntimeError):
    """The exporter was created before a fork: its node is the parent's."""


class TopicExporter:
    """Publish span records on a ROS topic (default: :data:`.schema.SPAN_TOPIC`)."""

    def __init__(self, context: Context, topic: str = SPAN_TOPIC) -> None:
        """
        Create the exporter's node and publisher in ``context`` (which must be initialized).

        :param context: the rclpy context to publish in, usually the user's node's.
        :param topic: the absolute topic name.
        """
        self.topic = topic
        self.name = f'topic:{topic}'
        self.context = context
        self._pid = os.getpid()
        self._node = Node(
            f'_mtrace_spans_{os.getpid()}_{os.urandom(3).hex()}', context=context,
            use_global_arguments=False, enable_rosout=False, start_parameter_services=False)
        self._publisher = self._node.create_publisher(SpanMessage, topic, SPAN_QOS)
        # Destroying a node from the context's own shutdown callbacks hangs on Jazzy: they
        # only note that it ends. A function, not a bound method, which rclpy would keep by
        # weak reference: this exporter dying after those callbacks ran (the registry's
        # held the last reference) made rclpy's weakref callback raise ValueError.
        self._context_ending = threading.Event()
        context.on_shutdown(functools.partial(threading.Event.set, self._context_ending))

    def _context_ok(self) -> bool:
        """
        Return whether the context still runs, without its lock.

        ``Context.ok()`` waits for the context's lock, which a thread shutting
        it down holds while it destroys the nodes: one of them may be waiting
        for this exporter's flush (:meth:`.TracedNode.destroy_node`).
        """
        handle = self.context.handle
        if self._context_ending.is_set() or handle is None:
            return False
        try:
            with handle:
                return handle.ok()
        except Exception:  # destroyed: not running
            return False

    def export(self, records: Sequence[SpanRecord]) -> bool:
        """
        Publish one message per record.

        A record that cannot be published does not stop the others: the batch
        then raises :class:`PartialExport` with the count that was published.
        """
        if os.getpid() != self._pid:
            raise ForkedChildError(
                "a forked child cannot publish through its parent's rclpy context and "
                'middleware')
        if not self._context_ok():
            raise QuietDrop()
        published = 0
        problem: Optional[Exception] = None
        for record in records:
            try:
                self._publisher.publish(record_to_message(record))
            except Exception as ex:
                if not self._context_ok():  # the context shut down meanwhile
                    raise QuietDrop(published) from None
                problem = problem or ex
            else:
                published += 1
        if problem is not None:
            raise PartialExport(published, f'{type(problem).__name__}: {problem}')
        return True

    def shutdown(self) -> None:
        """Destroy the exporter's node (if its context still runs, in this process)."""
        if os.getpid() == self._pid and self._context_ok():
            self._node.destroy_node()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Return True: messages are handed to the middleware when exported."""
        return True
