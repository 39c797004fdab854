"""
Traced services: a server callback runs in a child span of its caller's client span.

The caller gets a client span (kind ``client``) covering the wait, from the
request to the response. The server callback runs in a child span of it
(kind ``server``). The response direction needs nothing on the wire: the
caller's continuation (a done callback, the code after ``await
client.call_async(...)``, ``client.call()``) keeps running in the caller's
own context, which the client span never replaces.

How the client span reaches the server depends on the request type:

- **In band**, when the request type has a ``TracedHeader`` field: the
  client span goes into the request's header, and the response's header, if
  the type has one, gets the server span. Exact, always.
- **Out of band**, for every other type (``std_srvs``, ``rcl_interfaces``,
  ...): the client publishes a ``TraceRecord`` of the request just before
  sending it (:mod:`mtrace_ros.instrumentation.request_records`), and the
  server matches it to the request by sequence number and stamp
  (:mod:`mtrace_ros.instrumentation.request_matcher`, which says when that
  is exact and what happens when it is not).

Seams. rclpy's ``create_service`` has no class hook and its executor calls
``srv.callback(request, Response())``: the callback is the one place that
sees each request before user code does, for every executor, so the server
side wraps it (as subscriptions are wrapped). Out of band, the callback also
needs the request's rmw header (its sequence number and source timestamp),
which only the take sees: the service's C++ impl object, ``srv.handle``, is
created as a Python subclass of rclpy's (:mod:`service_seam`), which notes
each header as it is taken. That object stays rclpy's own for the wait set
and for every method but the take, on Kilted and Jazzy, and every executor
in ``rclpy.executors`` takes through it. Rejected: a proxy object as
``srv.handle`` (the wait set accepts only the C++ type), assigning the class
of the object rclpy made (the C++ type forbids it), a second rcl service
(two servers on one name), and executor subclasses (users pick executors).
An executor that takes requests in C++ (rclpy's experimental
``EventsExecutor``) bypasses the take: its requests start new traces, with
one notice per service. rclpy's ``create_client`` has no class hook either,
but every call goes through ``Client.call_async`` (``call`` uses it too) and
every abandoned call through ``remove_pending_request``: the client rclpy
made is given the subclass :class:`TracedClient`, which adds no state to the
object but the open spans and, out of band, its record writer.
"""

import functools
import time
from typing import Any
from typing import Callable
from typing import Dict
from typing import Optional
import weakref

from mtrace_msgs.msg import TraceRecord
from mtrace_ros.core.context import current_trace
from mtrace_ros.core.context import TraceContext
from mtrace_ros.core.settings import tracing_enabled
from mtrace_ros.export import spans
from mtrace_ros.instrumentation import notices
from mtrace_ros.instrumentation.request_matcher import Match
from mtrace_ros.instrumentation.request_matcher import RequestMatcher
from mtrace_ros.instrumentation.request_records import RECORD_QOS
from mtrace_ros.instrumentation.request_records import RequestRecorder
from mtrace_ros.instrumentation.service_seam import create_service_seeing_headers
from mtrace_ros.instrumentation.service_seam import TakenHeaders
from mtrace_ros.instrumentation.side_channel import create_side_subscription
from mtrace_ros.instrumentation.side_channel import reporting_take_errors
from mtrace_ros.instrumentation.side_channel import taker
from mtrace_ros.instrumentation.side_channel import waiter
from mtrace_ros.instrumentation.spanned import spanned
from mtrace_ros.wire import traced_header
from mtrace_ros.wire.companion import request_record_topic
from mtrace_ros.wire.message_types import header_field
from rclpy.client import Client
from rclpy.node import Node
from rclpy.service import Service
from rclpy.subscription import Subscription
from rclpy.task import Future

_ABANDONED = 'service call abandoned (timed out or removed) before its response'


class TracedClient(Client):
    """
    A client whose requests carry a client span: in their ``TracedHeader``, or in a record.

    .. warning:: Create it with :func:`mtrace_ros.create_traced_client` or
       through a :class:`mtrace_ros.TracedNode`, not with this constructor.
    """

    mtrace_node: str
    #: The request's TracedHeader field; ``None`` out of band.
    mtrace_field: Optional[str]
    #: The record writer out of band; ``None`` in band.
    mtrace_records: Optional[RequestRecorder]
    mtrace_service: str
    mtrace_calls: Dict[int, TraceContext]

    def call_async(self, request: Any) -> Future:
        """Send ``request`` as ``Client.call_async`` does, inside a client span."""
        if not isinstance(request, self.srv_type.Request):
            raise TypeError()
        context = spans.open_span(
            spans.KIND_CLIENT, current_trace(), node=self.mtrace_node, topic=self.mtrace_service)
        try:
            if self.mtrace_records is None:
                traced_header.inject(getattr(request, self.mtrace_field), context)
                future = super().call_async(request)
            else:
                future = self.mtrace_records.send(
                    self, context, functools.partial(super().call_async, request))
        except BaseException as ex:
            spans.end_span(context, ex)
            raise
        self.mtrace_calls[id(future)] = context
        future.add_done_callback(self._end_call)
        return future

    def remove_pending_request(self, future: Future) -> None:
        """Forget ``future`` as ``Client`` does; a call abandoned unanswered ends its span."""
        super().remove_pending_request(future)
        if not future.done():
            self._end(future, TimeoutError(_ABANDONED))

    def wait_for_service(self, timeout_sec: Optional[float] = None) -> bool:
        """
        Wait for the service as ``Client.wait_for_service`` does.

        Out of band, then also wait (within ``timeout_sec``, at most
        :data:`~mtrace_ros.instrumentation.side_channel.RECORD_MATCH_WAIT_SEC`)
        until the record topic matches the traced servers the graph knows, so
        that the first call's record reaches them.
        """
        start = time.monotonic()
        ready = super().wait_for_service(timeout_sec)
        if ready and self.mtrace_records is not None:
            self.mtrace_records.wait_for_servers(timeout_sec, start)
        return ready

    def destroy(self) -> None:
        """Destroy the client as ``Client.destroy`` does, and its record writer."""
        super().destroy()
        if self.mtrace_records is not None:
            self.mtrace_records.destroy()

    def _end_call(self, future: Future) -> None:
        error = future.exception() if not future.cancelled() else None
        self._end(future, error)

    def _end(self, future: Future, error: Optional[BaseException]) -> None:
        context = self.mtrace_calls.pop(id(future), None)
        if context is not None:
            spans.end_span(context, error)


def traced_client(node: Node, client: Client) -> Client:
    """Make ``client`` (just created by ``node``) a :class:`TracedClient` if tracing is on."""
    if not tracing_enabled():
        return client
    field = header_field(client.srv_type.Request)
    client.__class__ = TracedClient
    client.mtrace_node = node.get_logger().name
    client.mtrace_field = field
    client.mtrace_service = client.service_name
    client.mtrace_calls = {}
    client.mtrace_records = (
        RequestRecorder(node, client.mtrace_service) if field is None else None)
    return client


def server_callback(
    node: Node, srv_type: Any, srv_name: str, callback: Callable[..., Any],
) -> Callable[..., Any]:
    """
    Return a service callback that runs ``callback`` in a server span of the caller's trace.

    Types without a ``TracedHeader`` in their request, and switched-off
    tracing, get ``callback`` back unchanged.
    """
    field = header_field(srv_type.Request)
    if field is None or not tracing_enabled():
        return callback
    response_field = header_field(srv_type.Response)
    node_name = node.get_logger().name
    logger = node.get_logger()
    name = _resolved(node, srv_name)

    def enter(request: Any) -> TraceContext:
        try:
            parent, problem = traced_header.read(getattr(request, field))
        except Exception as ex:  # a garbled header must not lose the request
            parent, problem = None, traced_header.Problem(
                'unreadable trace header', f'{type(ex).__name__}: {ex}')
        if problem is not None:
            kind = problem.kind
            if parent is None:
                kind += '; starting a new trace for each such request'
            notices.report(logger, name, kind, problem.detail)
        return spans.open_span(spans.KIND_SERVER, parent, node=node_name, topic=name)

    def leave(context: TraceContext, response: Any) -> None:
        if response_field is not None:
            header = getattr(response, response_field, None)
            if header is not None:
                traced_header.inject(header, context)

    return spanned(callback, lambda request, response: enter(request), leave)


class TracedService(Service):
    """
    A service whose requests are matched out of band: it owns its record subscription.

    .. warning:: Create it with :func:`mtrace_ros.create_traced_service` or
       through a :class:`mtrace_ros.TracedNode`, not with this constructor.
    """

    #: The subscription to the service's request records, read on demand by the matcher.
    mtrace_records: Subscription
    mtrace_matcher: RequestMatcher
    mtrace_node: 'weakref.ref[Node]'

    def destroy(self) -> None:
        """Destroy the service as ``Service.destroy`` does, and its record subscription."""
        super().destroy()
        _destroy_records(self.mtrace_node(), self.mtrace_records)


def traced_service(
    node: Node,
    srv_type: Any,
    srv_name: str,
    callback: Callable[..., Any],
    create: Callable[..., Service],
    wrap: Callable[[Callable[..., Any]], Callable[..., Any]] = lambda callback: callback,
    **kwargs: Any,
) -> Service:
    """
    Create a service whose callback runs in its caller's trace, in band or out of band.

    :param create: ``Node.create_service`` (of the node's base class, for a
        ``TracedNode``): makes in-band and untraced services.
    :param wrap: wraps the (traced) callback once more, e.g. in the node's scope.
    """
    if header_field(srv_type.Request) is not None or not tracing_enabled():
        return create(
            srv_type, srv_name, wrap(server_callback(node, srv_type, srv_name, callback)),
            **kwargs)
    name = _resolved(node, srv_name)
    logger = node.get_logger()
    # Raw: records are read from their bytes (see wire.companion.decode_record).
    records = create_side_subscription(
        node, TraceRecord, request_record_topic(name), RECORD_QOS, raw=True)
    try:
        matcher = RequestMatcher(
            logger, name,
            taker(records, reporting_take_errors(logger, name)),
            waiter(node, records), records.get_publisher_count)
        headers = TakenHeaders()
        service = create_service_seeing_headers(
            node, srv_type, srv_name,
            wrap(_matched_callback(node, name, callback, matcher, headers)), headers, **kwargs)
    except BaseException:
        _destroy_records(node, records)
        raise
    service.__class__ = TracedService
    service.mtrace_records = records
    service.mtrace_matcher = matcher
    service.mtrace_node = weakref.ref(node)
    return service


def _destroy_records(node: Optional[Node], records: Subscription) -> None:
    """Destroy a service's record subscription (a no-op once its node destroyed it)."""
    if node is not None:
        node.destroy_subscription(records)


def _matched_callback(
    node: Node, name: str, callback: Callable[..., Any], matcher: RequestMatcher,
    headers: TakenHeaders,
) -> Callable[..., Any]:
    """Return ``callback`` running in a server span of the caller its request was matched to."""
    node_name = node.get_logger().name
    logger = node.get_logger()

    def enter(request: Any, response: Any) -> TraceContext:
        header = headers.pop(request)
        try:
            match = matcher.no_header() if header is None else matcher.match(
                header.request_id.sequence_number, header.source_timestamp)
        except Exception as ex:  # matching must never lose the request
            notices.report(logger, name, 'trace record matching failed; starting a new trace',
                           f'{type(ex).__name__}: {ex}')
            match = Match(None)
        context = spans.open_span(spans.KIND_SERVER, match.parent, node=node_name, topic=name)
        if context.span is not None:
            for candidate in match.links:
                context.span.add_link(candidate)
        return context

    return spanned(callback, enter, lambda context, response: None)


def _resolved(node: Node, srv_name: str) -> str:
    try:
        return node.resolve_service_name(srv_name)
    except Exception:  # an invalid name: rclpy's create_service says so
        return srv_name


def create_traced_client(node: Node, srv_type: Any, srv_name: str, **kwargs: Any) -> Client:
    """
    Create a client on a plain ``Node`` whose calls carry the caller's trace.

    Takes ``Node.create_client``'s arguments. In band for request types with a
    ``TracedHeader`` field, out of band for the others.
    """
    return traced_client(node, node.create_client(srv_type, srv_name, **kwargs))


def create_traced_service(
    node: Node, srv_type: Any, srv_name: str, callback: Callable[..., Any], **kwargs: Any,
) -> Service:
    """
    Create a service on a plain ``Node`` whose callback runs in its caller's trace.

    Takes ``Node.create_service``'s arguments. In band for request types with
    a ``TracedHeader`` field, out of band for the others.
    """
    return traced_service(node, srv_type, srv_name, callback, node.create_service, **kwargs)


__all__ = ['TracedClient', 'TracedService', 'create_traced_client', 'create_traced_service']
