"""
Where a service callback learns its request's rmw header: the service impl's take.

rclpy's executors take a request with ``srv.handle.service_take_request(
Request)``, which returns the request and its ``rmw_service_info_t`` header,
then call ``srv.callback(request, Response())`` without the header. The
handle is rclpy's C++ service object (``_rclpy.Service``); a Python subclass
of it is still that object for the wait set, on Kilted and Jazzy alike, and
overrides the take: :class:`HeaderSeeingService` notes each taken request's
header in :class:`TakenHeaders`, where the callback, which gets the same
request object, finds it. :func:`create_service_seeing_headers` does what
``Node.create_service`` does with that impl in place of rclpy's.
"""

from collections import OrderedDict
import threading
from typing import Any
from typing import Callable
from typing import Optional
from typing import Tuple

from rclpy.callback_groups import CallbackGroup
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node
from rclpy.qos import qos_profile_services_default
from rclpy.qos import QoSProfile
from rclpy.service import Service
from rclpy.type_support import check_is_valid_srv_type

#: Headers kept for requests taken but not yet handed to their callback (an executor shut
#: down in between leaves some behind): the oldest go first.
MAX_TAKEN = 256


class TakenHeaders:
    """The rmw headers of requests taken and not yet handed to their callback."""

    def __init__(self) -> None:
        """Hold no header yet."""
        self._lock = threading.Lock()
        # id(request) -> (request, header); the request is kept so that its id stays its own.
        self._taken: 'OrderedDict[int, Tuple[Any, Any]]' = OrderedDict()

    def put(self, request: Any, header: Any) -> None:
        """Note ``request``'s header as it is taken."""
        with self._lock:
            self._taken[id(request)] = (request, header)
            if len(self._taken) > MAX_TAKEN:
                self._taken.popitem(last=False)

    def pop(self, request: Any) -> Optional[Any]:
        """Return (and forget) the header ``request`` was taken with, or ``None``."""
        with self._lock:
            taken = self._taken.pop(id(request), None)
        return taken[1] if taken is not None and taken[0] is request else None


class HeaderSeeingService(_rclpy.Service):
    """rclpy's service impl, noting each taken request's header in its :class:`TakenHeaders`."""

    def __init__(self, *args: Any, headers: TakenHeaders) -> None:
        """Create the service as ``_rclpy.Service(*args)`` does."""
        super().__init__(*args)
        self.mtrace_headers = headers

    def service_take_request(self, request_type: Any) -> Any:
        """Take a request as rclpy does; note its header."""
        taken = super().service_take_request(request_type)
        request, header = taken
        if header is not None:
            self.mtrace_headers.put(request, header)
        return taken


def create_service_seeing_headers(
    node: Node,
    srv_type: Any,
    srv_name: str,
    callback: Callable[..., Any],
    headers: TakenHeaders,
    *,
    qos_profile: QoSProfile = qos_profile_services_default,
    callback_group: Optional[CallbackGroup] = None,
) -> Service:
    """Create a service as ``Node.create_service`` does, with a :class:`HeaderSeeingService`."""
    if callback_group is None:
        callback_group = node.default_callback_group
    check_is_valid_srv_type(srv_type)
    try:
        with node.handle:
            impl = HeaderSeeingService(
                node.handle, srv_type, srv_name, qos_profile.get_c_qos_profile(),
                headers=headers)
    except ValueError:
        node._validate_topic_or_service_name(srv_name, is_service=True)  # says what is wrong
        raise
    service = Service(impl, srv_type, srv_name, callback, callback_group, qos_profile)
    callback_group.add_entity(service)
    node._services.append(service)
    node._wake_executor()
    return service
