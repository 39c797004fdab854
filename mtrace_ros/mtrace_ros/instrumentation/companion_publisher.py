"""
The publishing end of the companion route: a record beside each message.

A :class:`CompanionPublisher` publishes messages of any type unchanged on
their topic; just before each one, it publishes the message's
``TraceRecord`` on the hidden companion topic (see
:mod:`mtrace_ros.wire.companion`), keyed by its own gid and the message's
publication sequence number.

rclpy gives a publisher neither its gid nor its sequence numbers. The gid is
found in the graph (:mod:`.endpoint_gids`). Records are written as bytes
(:func:`mtrace_ros.wire.companion.encode_record`), or, while every reader of
them is a traced subscription of this process, put straight into their
inboxes (:mod:`.local_records`). The
companion publisher has no QoS event handlers, and is in a callback group
that executors skip: it adds nothing to an executor's wait set. Sequence numbers
are counted here: 1, 2, 3, ... per writer, as Fast DDS numbers them
(measured with rclpy 9.1.2 and 7.1.6, rmw_fastrtps_cpp), also for
serialized (``bytes``) messages. A publish that raises before reaching the
middleware (a wrong type) uses no number. A middleware that numbers
otherwise (or not at all) makes every message start a new trace at the
subscriber, which counts and reports it: nothing is attached to a wrong trace.
"""

import threading
import time
from typing import Any
from typing import Callable
from typing import Optional
from typing import Tuple
from typing import Type
from typing import Union
import weakref

from mtrace_msgs.msg import TraceRecord
from mtrace_ros.core.context import TraceContext
from mtrace_ros.instrumentation import notices
from mtrace_ros.instrumentation.endpoint_gids import created_with_gids
from mtrace_ros.instrumentation.layout_check import LayoutWatch
from mtrace_ros.instrumentation.local_records import in_process_record
from mtrace_ros.instrumentation.local_records import LocalRoute
from mtrace_ros.instrumentation.publishing import publish_in_trace
from mtrace_ros.instrumentation.publishing import publisher_class_for
from mtrace_ros.instrumentation.record_inbox import ON_DEMAND
from mtrace_ros.wire.companion import companion_qos
from mtrace_ros.wire.companion import companion_topic
from mtrace_ros.wire.companion import encode_record
from mtrace_ros.wire.companion import GID_SIZE
from mtrace_ros.wire.companion import RecordKey
from rclpy.event_handler import PublisherEventCallbacks
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos import QoSProfile

_new = tuple.__new__  # a RecordKey per message at half the cost of its own __new__

NO_RECORD = 'cannot publish a trace record; the message goes without one'
_NO_GID = ('cannot find its own gid in the graph: its messages carry no trace records '
           '(subscribers start new traces)')


class CompanionPublisher(Publisher):
    """
    A publisher whose messages keep their type, with their trace on the companion topic.

    .. warning:: Create it through a :class:`mtrace_ros.TracedNode` or
       :func:`mtrace_ros.create_traced_publisher`, not with this constructor.

    Inside a trace, each record gets that trace's id and the current span's
    id; outside any trace, each message starts a new root trace of its own.
    """

    #: mtrace's publisher classes are never traced twice (see ``publisher_class_for``).
    mtrace_traced = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.mtrace_topic = self.topic_name
        self.mtrace_node = self.logger_name
        #: Looks for peers with another type or layout; set by the factories.
        self.mtrace_layout: Optional[LayoutWatch] = None
        self._records: Optional[Publisher] = None
        self._route: Optional[LocalRoute] = None
        self._gid = bytes(GID_SIZE)
        self._sequence = 0
        self._publish_lock = threading.Lock()
        self._node: Optional['weakref.ref[Node]'] = None
        self._logger: Any = None

    @property
    def mtrace_gid(self) -> Optional[bytes]:
        """Return this publisher's gid (16 bytes), or ``None`` if it publishes no records."""
        return self._gid if self._records is not None else None

    def publish(self, msg: Any) -> None:
        """
        Publish ``msg`` (a ``msg_type`` message or its bytes) after its trace record.

        :raises TypeError: if ``msg`` is neither a ``msg_type`` nor ``bytes``.
        """
        if self._records is None:
            super().publish(msg)
            return
        if not isinstance(msg, (self.msg_type, bytes)):
            raise TypeError(f'Expected {self.msg_type}, got {type(msg)}')
        publish_in_trace(self, self._send_with_record, msg)

    def _send_with_record(self, context: TraceContext, msg: Any) -> None:
        with self._publish_lock:  # record order and sequence numbers follow the writer's
            sequence = self._sequence + 1
            key = _new(RecordKey, (self._gid, sequence))
            try:
                readers = self._route.readers()
                if readers is None:
                    self._records.publish(encode_record(context, key))
                else:
                    record = in_process_record(context, key, time.time_ns())
                    for put in readers:
                        put(record)
            except Exception as ex:  # the message goes out all the same, untraced
                notices.report(self._logger, self.mtrace_topic, NO_RECORD,
                               f'{type(ex).__name__}: {ex}')
            super().publish(msg)
            self._sequence = sequence

    def destroy(self) -> None:
        """Destroy the publisher and its companion publisher."""
        records, self._records = self._records, None
        super().destroy()
        node = self._node() if self._node is not None else None
        if records is not None and node is not None:
            node.destroy_publisher(records)

    def _attach(self, node: Node, records: Publisher, gid: bytes, route: LocalRoute) -> None:
        self._node = weakref.ref(node)
        self._logger = node.get_logger()
        self._gid = gid
        self._route = route
        self._records = records


def create_companion_publisher(
    node: Node,
    create: Callable[..., Publisher],
    msg_type: Type,
    topic: str,
    qos_profile: Union[QoSProfile, int],
    user_class: Type[Publisher] = Publisher,
    **kwargs: Any,
) -> Publisher:
    """
    Create a :class:`CompanionPublisher` with ``create`` (a ``create_publisher``).

    Its companion publisher is created first (a subscriber that sees the data
    publisher can already see where its records come from), with the QoS of
    :func:`mtrace_ros.wire.companion.companion_qos`.
    """
    qos = qos_profile if isinstance(qos_profile, QoSProfile) else QoSProfile(depth=qos_profile)
    resolved = node.resolve_topic_name(topic)
    records_topic, records_qos = companion_topic(resolved), companion_qos(qos)

    def create_both() -> Tuple[Publisher, Publisher]:
        records = Node.create_publisher(
            node, TraceRecord, records_topic, records_qos, callback_group=ON_DEMAND,
            event_callbacks=PublisherEventCallbacks(use_default_callbacks=False))
        try:
            return records, create(
                msg_type, topic, qos_profile,
                publisher_class=publisher_class_for(CompanionPublisher, user_class), **kwargs)
        except BaseException:
            node.destroy_publisher(records)
            raise

    (records, publisher), new = created_with_gids(node, resolved, create_both, publishers=True)
    if len(new) != 1:
        node.destroy_publisher(records)
        notices.report(node.get_logger(), resolved, _NO_GID, f'{len(new)} new gids')
        return publisher
    publisher._attach(
        node, records, next(iter(new)), LocalRoute(node, records, records_topic, records_qos))
    publisher.mtrace_layout = LayoutWatch(node, resolved)
    return publisher
