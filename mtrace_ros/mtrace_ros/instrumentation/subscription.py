"""
Traced subscriptions: each callback runs in the trace of the message it handles.

rclpy's ``create_subscription`` has no class hook, so the callback is
wrapped (see :mod:`mtrace_ros.instrumentation.callbacks`) and the returned
object is rclpy's own ``Subscription``.
"""

from typing import Any
from typing import Callable
from typing import Optional
from typing import Tuple
from typing import Type
from typing import Union

from mtrace_msgs.msg import TracedEnvelope
from mtrace_ros.core.settings import REPLAY_LINK
from mtrace_ros.core.settings import replay_mode
from mtrace_ros.core.settings import tracing_enabled
from mtrace_ros.export.registry import configure_from_environment
from mtrace_ros.instrumentation import layout_check
from mtrace_ros.instrumentation import routing
from mtrace_ros.instrumentation.callbacks import traced_callback
from mtrace_ros.instrumentation.callbacks import Unpack
from mtrace_ros.instrumentation.companion_subscription import companion_callback
from mtrace_ros.instrumentation.companion_subscription import owning_its_records
from mtrace_ros.instrumentation.replay import ReplayDetector
from mtrace_ros.wire import envelope
from mtrace_ros.wire.message_types import header_field
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rclpy.serialization import deserialize_message
from rclpy.subscription import Subscription


def _header_unpacker(msg_type: Type, field: str, raw: bool) -> Unpack:
    """Read the header of a message that has one; the user gets what rclpy gave."""
    if raw:
        def unpack_raw(data: bytes) -> Tuple[Any, bytes]:
            # The header is read from a deserialized copy; bytes that do not
            # deserialize still reach the user, who asked for raw bytes.
            try:
                return getattr(deserialize_message(data, msg_type), field), data
            except Exception:
                return None, data
        return unpack_raw

    def unpack(msg: Any) -> Tuple[Any, Any]:
        return getattr(msg, field), msg
    return unpack


def _envelope_unpacker(msg_type: Type, raw: bool) -> Unpack:
    """Open an envelope; the user gets the inner message (or its bytes, if raw)."""
    if raw:
        def unpack_raw(data: bytes) -> Tuple[Any, bytes]:
            sealed = deserialize_message(data, TracedEnvelope)
            return sealed.header, envelope.payload_bytes(sealed, msg_type)
        return unpack_raw

    def unpack(sealed: TracedEnvelope) -> Tuple[Any, Any]:
        return sealed.header, envelope.open_envelope(sealed, msg_type)
    return unpack


def _replay_detector(node: Node, topic: str) -> Optional[ReplayDetector]:
    """Return the detector of played-back messages, unless ``MTRACE_REPLAY=continue``."""
    return ReplayDetector(node, topic) if replay_mode() == REPLAY_LINK else None


def header_callback(
    node: Node, msg_type: Type, topic: str, callback: Callable[..., Any], *, raw: bool = False,
) -> Callable[..., Any]:
    """Return ``callback`` wrapped to run in each message's trace (header types only)."""
    field = header_field(msg_type)
    if field is None:
        raise TypeError(f'{msg_type.__name__} has no TracedHeader field')
    resolved = routing.resolved_name(node, topic)
    return traced_callback(
        callback, _header_unpacker(msg_type, field, raw),
        node_name=node.get_logger().name, topic=resolved,
        logger=node.get_logger(), tracing=tracing_enabled(),
        replay=_replay_detector(node, resolved), header_field=None if raw else field)


def create_traced_subscription(
    node: Node,
    msg_type: Type,
    topic: str,
    callback: Callable[..., Any],
    qos_profile: Union[QoSProfile, int],
    *,
    envelope: bool = False,
    **kwargs: Any,
) -> Subscription:
    """
    Create a subscription whose callback runs in the trace of each message.

    Takes the arguments of ``Node.create_subscription``, including ``raw=``,
    ``async def`` callbacks and callbacks taking a ``MessageInfo``. A type
    with a ``TracedHeader`` field is read in place; any other type too, and
    each message's context comes from its record on the companion topic
    (see :mod:`mtrace_ros.instrumentation.companion_subscription`).

    :param envelope: subscribe to the ``TracedEnvelope`` messages that
        :func:`mtrace_ros.create_traced_publisher` sends with ``envelope=True``,
        and hand the callback the original message.
    :return: rclpy's ``Subscription`` (its ``msg_type`` is the wire type).
    """
    configure_from_environment(node)
    raw = kwargs.get('raw', False)
    way = routing.route(node, msg_type, topic, envelope=envelope)
    if way == routing.HEADER:
        callback = header_callback(node, msg_type, topic, callback, raw=raw)
    elif way == routing.COMPANION:
        callback = companion_callback(
            node, routing.resolved_name(node, topic), callback, qos_profile)
    if way != routing.ENVELOPE:
        subscription = owning_its_records(node, callback, lambda: node.create_subscription(
            msg_type, topic, callback, qos_profile, **kwargs))
        layout_check.check(node, subscription.topic_name)
        return subscription
    resolved = routing.resolved_name(node, topic)
    wrapped = traced_callback(
        callback, _envelope_unpacker(msg_type, raw),
        node_name=node.get_logger().name, topic=resolved,
        logger=node.get_logger(), tracing=tracing_enabled(),
        replay=_replay_detector(node, resolved))
    subscription = node.create_subscription(
        TracedEnvelope, topic, wrapped, qos_profile, **kwargs)
    layout_check.check(node, resolved)
    return subscription
