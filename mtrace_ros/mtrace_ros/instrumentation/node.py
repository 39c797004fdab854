"""TracedNode: an rclpy ``Node`` that traces every topic whose type can carry a trace."""

from typing import Any
from typing import Callable
from typing import Type
from typing import Union

from mtrace_ros.core.sampling import configure_node_sampling
from mtrace_ros.core.settings import node_setting
from mtrace_ros.core.settings import SAMPLE_RATIO_PARAMETER
from mtrace_ros.core.settings import tracing_enabled
from mtrace_ros.export.registry import configure_node_sinks
from mtrace_ros.instrumentation.callbacks import in_node
from mtrace_ros.instrumentation.callbacks import is_wrapped
from mtrace_ros.instrumentation.publisher import publisher_class_for
from mtrace_ros.instrumentation.publisher import TracedPublisher
from mtrace_ros.instrumentation.publisher import watched
from mtrace_ros.instrumentation.service import traced_client
from mtrace_ros.instrumentation.service import traced_service
from mtrace_ros.instrumentation.subscription import header_callback
from mtrace_ros.instrumentation.tasks import per_call_context
from mtrace_ros.wire.message_types import header_field
from rclpy.client import Client
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos import QoSProfile
from rclpy.service import Service
from rclpy.subscription import Subscription
from rclpy.timer import Timer


class TracedNode(Node):
    """
    A ``Node`` whose publishers and subscriptions carry traces, for types that can.

    Converting a node means changing its base class: ``create_publisher`` and
    ``create_subscription`` trace every message type that has a
    ``TracedHeader`` field (in place: the topic's type does not change). Every
    other type, and the system topics ``Node.__init__`` itself creates
    (``/parameter_events``, ``/rosout``), are left exactly as rclpy's ``Node``
    makes them, so other subscribers, recorders and tools keep working.
    Envelopes, which change a topic's wire type, are used only by the explicit
    :func:`mtrace_ros.create_traced_publisher` and
    :func:`mtrace_ros.create_traced_subscription`.

    The parameter ``mtrace.sinks`` (``--ros-args -p mtrace.sinks:=topic``)
    names span sinks of its process, like ``MTRACE_SINKS`` (both apply). It
    is read from the node's parameter overrides, not declared: the node lists
    exactly the parameters a ``Node`` would. So is ``mtrace.sample_ratio``,
    which overrides ``MTRACE_SAMPLE_RATIO`` (see :mod:`mtrace_ros.core.sampling`).
    """

    def __init__(self, node_name: str, **kwargs: Any) -> None:
        """Create the node as ``Node`` does, then the span sinks it and the environment name."""
        super().__init__(node_name, **kwargs)
        configure_node_sinks(self)
        configure_node_sampling(self, node_setting(self, SAMPLE_RATIO_PARAMETER))
        #: The node name its spans are recorded under (its logger name, e.g. ``robot1.b``).
        self.mtrace_node = self.get_logger().name

    def create_publisher(
        self,
        msg_type: Type,
        topic: str,
        qos_profile: Union[QoSProfile, int],
        *,
        publisher_class: Type[Publisher] = Publisher,
        **kwargs: Any,
    ) -> Publisher:
        """Create a publisher as ``Node`` does; traced if ``msg_type`` has a TracedHeader."""
        if header_field(msg_type) is not None and tracing_enabled():
            publisher_class = publisher_class_for(TracedPublisher, publisher_class)
        publisher = super().create_publisher(
            msg_type, topic, qos_profile, publisher_class=publisher_class, **kwargs)
        return watched(self, publisher) if isinstance(publisher, TracedPublisher) else publisher

    def create_timer(
        self, timer_period_sec: float, callback: Any, *args: Any, **kwargs: Any,
    ) -> Timer:
        """
        Create a timer as ``Node`` does; spans its callback opens are this node's.

        A ``start_trace()`` or ``continue_trace()`` in the callback is recorded
        under this node. Each call's task has a context of its own; without
        the task instrumentation (``MTRACE_TASKS=0``, or an rclpy it does not
        support), a coroutine callback gets a context of its own per call here
        instead, so that ``with start_trace(): await ...`` keeps its trace to
        itself while it waits.
        """
        return super().create_timer(
            timer_period_sec, per_call_context(in_node(callback, self.mtrace_node)),
            *args, **kwargs)

    def create_service(
        self, srv_type: Any, srv_name: str, callback: Callable[..., Any], **kwargs: Any,
    ) -> Service:
        """
        Create a service as ``Node`` does; its callback runs in its caller's trace.

        In band if its request has a TracedHeader, out of band otherwise (see
        :mod:`mtrace_ros.instrumentation.service`). Spans it opens are this
        node's (see create_timer).
        """
        # Node.__init__ creates its parameter services before mtrace_node is set: untraced.
        node = getattr(self, 'mtrace_node', '')
        if not node:
            return super().create_service(
                srv_type, srv_name, per_call_context(in_node(callback, node)), **kwargs)
        return traced_service(
            self, srv_type, srv_name, callback, super().create_service,
            lambda traced: per_call_context(in_node(traced, node)), **kwargs)

    def create_client(self, srv_type: Any, srv_name: str, **kwargs: Any) -> Client:
        """Create a client as ``Node`` does; its calls carry the trace (in or out of band)."""
        return traced_client(self, super().create_client(srv_type, srv_name, **kwargs))

    def create_subscription(
        self,
        msg_type: Type,
        topic: str,
        callback: Callable[..., Any],
        qos_profile: Union[QoSProfile, int],
        **kwargs: Any,
    ) -> Subscription:
        """Create a subscription as ``Node`` does; traced if ``msg_type`` has a TracedHeader."""
        if (header_field(msg_type) is not None and not is_wrapped(callback)
                and tracing_enabled()):
            callback = header_callback(
                self, msg_type, topic, callback, raw=kwargs.get('raw', False))
        return super().create_subscription(msg_type, topic, callback, qos_profile, **kwargs)
