"""
Traced services, in band: the request's ``TracedHeader`` carries the caller's client span.

The caller gets a client span (kind ``client``) covering the wait, from the
request to the response; its context goes into the request's header. The
server callback runs in a child span of it (kind ``server``), and the
response's header, if the type has one, gets the server span. The response
direction needs nothing on the wire: the caller's continuation (a done
callback, the code after ``await client.call_async(...)``, ``client.call()``)
keeps running in the caller's own context, which the client span never
replaces.

Seams. rclpy's ``create_service`` has no class hook and its executor calls
``srv.callback(request, Response())``: the callback is the one place that
sees each request with its header before user code does, for every executor,
so the server side wraps it (as subscriptions are wrapped). rclpy's
``create_client`` has no class hook either, but every call goes through
``Client.call_async`` (``call`` uses it too) and every abandoned call through
``remove_pending_request``: the client rclpy made is given the subclass
:class:`TracedClient`, which adds no state to the object but the open spans.
"""

from typing import Any
from typing import Callable
from typing import Dict
from typing import Optional

from mtrace_ros.core.context import current_trace
from mtrace_ros.core.context import TraceContext
from mtrace_ros.core.settings import tracing_enabled
from mtrace_ros.export import spans
from mtrace_ros.instrumentation import notices
from mtrace_ros.instrumentation.spanned import spanned
from mtrace_ros.wire import traced_header
from mtrace_ros.wire.message_types import header_field
from rclpy.client import Client
from rclpy.node import Node
from rclpy.service import Service
from rclpy.task import Future

_ABANDONED = 'service call abandoned (timed out or removed) before its response'


class TracedClient(Client):
    """
    A client whose requests carry a client span in their ``TracedHeader``.

    .. warning:: Create it with :func:`mtrace_ros.create_traced_client` or
       through a :class:`mtrace_ros.TracedNode`, not with this constructor.
    """

    mtrace_node: str
    mtrace_field: str
    mtrace_service: str
    mtrace_calls: Dict[int, TraceContext]

    def call_async(self, request: Any) -> Future:
        """Send ``request`` as ``Client.call_async`` does, inside a client span."""
        if not isinstance(request, self.srv_type.Request):
            raise TypeError()
        context = spans.open_span(
            spans.KIND_CLIENT, current_trace(), node=self.mtrace_node, topic=self.mtrace_service)
        traced_header.inject(getattr(request, self.mtrace_field), context)
        try:
            future = super().call_async(request)
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

    def _end_call(self, future: Future) -> None:
        error = future.exception() if not future.cancelled() else None
        self._end(future, error)

    def _end(self, future: Future, error: Optional[BaseException]) -> None:
        context = self.mtrace_calls.pop(id(future), None)
        if context is not None:
            spans.end_span(context, error)


def traced_client(node: Node, client: Client) -> Client:
    """Make ``client`` (just created by ``node``) a :class:`TracedClient`, if its type can be."""
    field = header_field(client.srv_type.Request)
    if field is None or not tracing_enabled():
        return client
    client.__class__ = TracedClient
    client.mtrace_node = node.get_logger().name
    client.mtrace_field = field
    client.mtrace_service = client.service_name
    client.mtrace_calls = {}
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


def _resolved(node: Node, srv_name: str) -> str:
    try:
        return node.resolve_service_name(srv_name)
    except Exception:  # an invalid name: rclpy's create_service says so
        return srv_name


def create_traced_client(node: Node, srv_type: Any, srv_name: str, **kwargs: Any) -> Client:
    """
    Create a client on a plain ``Node`` whose calls carry the caller's trace.

    Takes ``Node.create_client``'s arguments. In band for request types with a
    ``TracedHeader`` field; other types get rclpy's own client.
    """
    return traced_client(node, node.create_client(srv_type, srv_name, **kwargs))


def create_traced_service(
    node: Node, srv_type: Any, srv_name: str, callback: Callable[..., Any], **kwargs: Any,
) -> Service:
    """
    Create a service on a plain ``Node`` whose callback runs in its caller's trace.

    Takes ``Node.create_service``'s arguments. In band for request types with
    a ``TracedHeader`` field; other types get rclpy's own service.
    """
    return node.create_service(
        srv_type, srv_name, server_callback(node, srv_type, srv_name, callback), **kwargs)


__all__ = ['TracedClient', 'create_traced_client', 'create_traced_service']
