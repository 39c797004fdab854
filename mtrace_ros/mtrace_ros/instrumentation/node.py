"""TracedNode: an rclpy ``Node`` that traces every topic whose type can carry a trace."""

from typing import Any
from typing import Callable
from typing import Type
from typing import Union

from mtrace_ros.core.sampling import configure_node_sampling
from mtrace_ros.core.settings import node_setting
from mtrace_ros.core.settings import SAMPLE_RATIO_PARAMETER
from mtrace_ros.export.registry import configure_node_sinks
from mtrace_ros.export.registry import flush_before_shutdown
from mtrace_ros.instrumentation import layout_check
from mtrace_ros.instrumentation import routing
from mtrace_ros.instrumentation.callbacks import in_node
from mtrace_ros.instrumentation.callbacks import is_wrapped
from mtrace_ros.instrumentation.companion_publisher import create_companion_publisher
from mtrace_ros.instrumentation.companion_subscription import companion_callback
from mtrace_ros.instrumentation.companion_subscription import owning_its_records
from mtrace_ros.instrumentation.publisher import TracedPublisher
from mtrace_ros.instrumentation.publisher import watched
from mtrace_ros.instrumentation.publishing import publisher_class_for
from mtrace_ros.instrumentation.service import traced_client
from mtrace_ros.instrumentation.service import traced_service
from mtrace_ros.instrumentation.subscription import header_callback
from mtrace_ros.instrumentation.tasks import per_call_context
from rclpy.client import Client
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos import QoSProfile
from rclpy.service import Service
from rclpy.subscription import Subscription
from rclpy.timer import Timer


class TracedNode(Node):
    """
    A ``Node`` whose publishers and subscriptions carry traces, on every topic.

    Converting a node means changing its base class: ``create_publisher`` and
    ``create_subscription`` trace every message type, and no topic changes
    type. A type with a ``TracedHeader`` field carries the trace in place;
    any other type keeps its bytes, and its trace travels beside it on the
    hidden topic ``<topic>/_mtrace`` (see :mod:`mtrace_ros.wire.companion`),
    so other subscribers, recorders and tools keep working. The entities
    ``Node.__init__`` itself creates (``/parameter_events``, ``/rosout``,
    ``/clock``, parameter services) are left exactly as rclpy's ``Node``
    makes them. Envelopes, which change a topic's wire type, are opt-in:
    :func:`mtrace_ros.create_traced_publisher` and
    :func:`mtrace_ros.create_traced_subscription` with ``envelope=True``.
    ``MTRACE_EXCLUDE_TOPICS`` and the parameter ``mtrace.exclude_topics``
    name topics left untraced (no companion topic).

    The parameter ``mtrace.sinks`` (``--ros-args -p mtrace.sinks:=topic``)
    names span sinks of its process, like ``MTRACE_SINKS`` (both apply). It
    is read from the node's parameter overrides, not declared: the node lists
    exactly the parameters a ``Node`` would. So is ``mtrace.sample_ratio``,
    which overrides ``MTRACE_SAMPLE_RATIO`` (see :mod:`mtrace_ros.core.sampling`).
    """

    def __init__(self, node_name: str, **kwargs: Any) -> None:
        """Create the node as ``Node`` does, then the span sinks it and the environment name."""
        # Entities Node.__init__ creates (/parameter_events, /rosout, /clock, parameter
        # services) are the system's: left exactly as rclpy makes them, whatever their type.
        self._mtrace_ready = False
        super().__init__(node_name, **kwargs)
        self._mtrace_ready = True
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
        """
        Create a publisher as ``Node`` does; its messages carry the active trace.

        A type with a ``TracedHeader`` carries it in place; any other type on
        the companion topic (see :mod:`mtrace_ros.instrumentation.routing`).
        """
        if not self._mtrace_ready or getattr(publisher_class, 'mtrace_traced', False):
            return super().create_publisher(
                msg_type, topic, qos_profile, publisher_class=publisher_class, **kwargs)
        way = routing.route(self, msg_type, topic)
        if way == routing.COMPANION:
            return create_companion_publisher(
                self, super().create_publisher, msg_type, topic, qos_profile,
                publisher_class, **kwargs)
        if way == routing.HEADER:
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
        """
        Create a subscription as ``Node`` does; its callback runs in each message's trace.

        A type with a ``TracedHeader`` is read in place; any other type finds
        its trace on the companion topic.
        """
        if not self._mtrace_ready or is_wrapped(callback):
            return super().create_subscription(msg_type, topic, callback, qos_profile, **kwargs)
        way = routing.route(self, msg_type, topic)
        if way == routing.HEADER:
            callback = header_callback(
                self, msg_type, topic, callback, raw=kwargs.get('raw', False))
        elif way == routing.COMPANION:
            callback = companion_callback(
                self, routing.resolved_name(self, topic), callback, qos_profile)
        create = super().create_subscription
        subscription = owning_its_records(
            self, callback, lambda: create(msg_type, topic, callback, qos_profile, **kwargs))
        if way != routing.UNTRACED:
            layout_check.check(self, subscription.topic_name)
        return subscription

    def destroy_node(self) -> None:
        """
        Destroy the node as ``Node`` does, once its context's topic sinks delivered their spans.

        A node stopping in order (``destroy_node``, then ``rclpy.shutdown()``,
        which destroys the nodes left too) thus loses no span to the shutdown:
        afterwards the context can publish nothing more.
        """
        if self.context.ok():
            flush_before_shutdown(self.context)
        super().destroy_node()
