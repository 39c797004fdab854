"""
Traced publishers: every published message carries the active trace.

:class:`TracedPublisher` fills the ``TracedHeader`` field of message types
that have one, in place: the topic keeps its type. :class:`EnvelopePublisher`
carries any other type inside a ``TracedEnvelope``. Both are rclpy
``Publisher`` subclasses, created through ``Node.create_publisher(...,
publisher_class=...)``, rclpy's own seam for this.
"""

from typing import Any
from typing import Generic
from typing import Optional
from typing import Type
from typing import TypeVar
from typing import Union

from mtrace_msgs.msg import TracedEnvelope
from mtrace_ros.core.context import TraceContext
from mtrace_ros.core.settings import tracing_enabled
from mtrace_ros.export.registry import configure_from_environment
from mtrace_ros.instrumentation import routing
from mtrace_ros.instrumentation.companion_publisher import create_companion_publisher
from mtrace_ros.instrumentation.layout_check import LayoutWatch
from mtrace_ros.instrumentation.publishing import publish_in_trace
from mtrace_ros.instrumentation.publishing import publisher_class_for
from mtrace_ros.wire import envelope
from mtrace_ros.wire import traced_header
from mtrace_ros.wire.message_types import header_field
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos import QoSProfile
from rclpy.serialization import deserialize_message

MsgT = TypeVar('MsgT')


class TracedPublisher(Publisher, Generic[MsgT]):
    """
    A publisher that writes the active trace into each message's ``TracedHeader``.

    .. warning:: Create it with :func:`mtrace_ros.create_traced_publisher` or
       through a :class:`mtrace_ros.TracedNode`, not with this constructor.

    Inside a trace, the header gets that trace's id and the current span's id;
    outside any trace, each message starts a new root trace of its own.
    """

    #: mtrace's publisher classes are never traced twice (see ``publisher_class_for``).
    mtrace_traced = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = header_field(self.msg_type)
        if field is None:
            raise TypeError(
                f'{self.msg_type.__name__} has no TracedHeader field; '
                'use create_traced_publisher() to trace it in an envelope')
        self._header_field = field
        #: The resolved topic name and the node's logger name, read once (C calls).
        self.mtrace_topic = self.topic_name
        self.mtrace_node = self.logger_name
        #: Looks for peers with another layout of the type; set by the factories.
        self.mtrace_layout: Optional[LayoutWatch] = None

    def publish(self, msg: Union[MsgT, bytes]) -> None:
        """
        Fill the message's trace header from the active trace, then publish it.

        Serialized messages (``bytes``) are deserialized to fill the header.

        :raises TypeError: if ``msg`` is neither a ``msg_type`` nor ``bytes``.
        """
        if isinstance(msg, bytes):
            msg = deserialize_message(msg, self.msg_type)
        elif not isinstance(msg, self.msg_type):
            raise TypeError(f'Expected {self.msg_type}, got {type(msg)}')
        publish_in_trace(self, self._send_with_header, msg)

    def _send_with_header(self, context: TraceContext, msg: MsgT) -> None:
        traced_header.inject(getattr(msg, self._header_field), context)
        super().publish(msg)


class EnvelopePublisher(Publisher):
    """
    A publisher that sends messages of any type inside a ``TracedEnvelope``.

    .. warning:: Create it with :func:`mtrace_ros.create_traced_publisher`.

    :meth:`publish` takes messages of :attr:`payload_type` (or their serialized
    bytes); :attr:`msg_type`, the topic's type on the wire, is
    ``mtrace_msgs/msg/TracedEnvelope``.
    """

    #: mtrace's publisher classes are never traced twice (see ``publisher_class_for``).
    mtrace_traced = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The user's message type carried in the envelopes; set by the factory.
        self.payload_type: Optional[Type] = None
        #: Whether envelopes get the active trace (off: their header stays empty).
        self.tracing = True
        self.mtrace_topic = self.topic_name
        self.mtrace_node = self.logger_name
        #: Looks for peers with another layout of the type; set by the factories.
        self.mtrace_layout: Optional[LayoutWatch] = None

    def publish(self, msg: Any) -> None:
        """
        Wrap ``msg`` (a :attr:`payload_type` message, or its bytes) and publish it.

        :raises TypeError: if ``msg`` is neither a :attr:`payload_type` nor ``bytes``.
        """
        if self.payload_type is None:
            raise TypeError('EnvelopePublisher has no payload_type: '
                            'create it with mtrace_ros.create_traced_publisher()')
        if not isinstance(msg, (self.payload_type, bytes)):
            raise TypeError(f'Expected {self.payload_type}, got {type(msg)}')
        sealed = envelope.seal(msg, self.payload_type)
        if not self.tracing:
            super().publish(sealed)
            return
        publish_in_trace(self, self._send_sealed, sealed)

    def _send_sealed(self, context: TraceContext, sealed: TracedEnvelope) -> None:
        traced_header.inject(sealed.header, context)
        super().publish(sealed)


def create_traced_publisher(
    node: Node,
    msg_type: Type[MsgT],
    topic: str,
    qos_profile: Union[QoSProfile, int],
    *,
    envelope: bool = False,
    **kwargs: Any,
) -> Publisher:
    """
    Create a publisher whose messages carry the active trace.

    Takes the arguments of ``Node.create_publisher``. A type with a
    ``TracedHeader`` field keeps its type on the wire and gets the header
    filled in. Any other type keeps its type and bytes too, and each
    message's context goes on the hidden companion topic ``<topic>/_mtrace``
    (see :mod:`mtrace_ros.instrumentation.companion_publisher`).

    :param envelope: send messages inside a ``TracedEnvelope`` instead (opt-in:
        the topic's wire type changes, so only subscriptions made with
        :func:`mtrace_ros.create_traced_subscription` and ``envelope=True``
        can read it). With tracing switched off (``MTRACE_ENABLED=0``),
        envelopes are still used so that both ends keep matching.
    :return: a :class:`TracedPublisher`, a
        :class:`~mtrace_ros.instrumentation.companion_publisher.CompanionPublisher`,
        an :class:`EnvelopePublisher`, or rclpy's ``Publisher`` (tracing off,
        or the topic excluded with ``MTRACE_EXCLUDE_TOPICS``).
    """
    configure_from_environment(node)
    user_class = kwargs.pop('publisher_class', Publisher)
    way = routing.route(node, msg_type, topic, envelope=envelope)
    if way == routing.HEADER:
        return watched(node, node.create_publisher(
            msg_type, topic, qos_profile,
            publisher_class=publisher_class_for(TracedPublisher, user_class), **kwargs))
    if way == routing.COMPANION:
        return create_companion_publisher(
            node, node.create_publisher, msg_type, topic, qos_profile, user_class, **kwargs)
    if way == routing.UNTRACED:
        return node.create_publisher(
            msg_type, topic, qos_profile, publisher_class=user_class, **kwargs)
    publisher = node.create_publisher(
        TracedEnvelope, topic, qos_profile,
        publisher_class=publisher_class_for(EnvelopePublisher, user_class), **kwargs)
    publisher.payload_type = msg_type
    publisher.tracing = tracing_enabled()
    return watched(node, publisher) if publisher.tracing else publisher


def watched(node: Node, publisher: Any) -> Any:
    """Give a traced publisher its layout check (once: a TracedNode may have given it)."""
    if publisher.mtrace_layout is None:
        publisher.mtrace_layout = LayoutWatch(node, publisher.mtrace_topic)
    return publisher
