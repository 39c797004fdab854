"""
Group 9: a service round trip, traced against plain, in one process.

One request and its response through the session's
``SingleThreadedExecutor``: ``call_async``, then ``spin_once`` until the
future is done (the server callback and the response both run in it). The
plain side uses rclpy's own client and service (tasks uninstrumented, as
in the other one-process groups); the traced side uses
:func:`mtrace_ros.create_traced_client` and
:func:`mtrace_ros.create_traced_service` and calls inside ``start_trace()``:
a client span, a server span and the response header filled. Two routes:
in band (``TracedTrigger``, the request's header carries the client span) and
out of band (``std_srvs/srv/Trigger``: the client publishes a request record,
the server takes and matches it).
"""

from typing import Any
from typing import List

from harness import Row
from mtrace_msgs.srv import TracedTrigger
import mtrace_ros
from ros_setup import new_topic
from ros_setup import per_round_trip_us
from ros_setup import route_rows
from ros_setup import Session
from ros_setup import spin_until_done
from ros_setup import wait_for
from std_srvs.srv import Trigger

GROUP = '9 services'


def _answer(request: Any, response: Any) -> Any:
    response.success = True
    return response


class RoundTrips:
    """One repetition: ``count`` calls, one at a time; µs per round trip."""

    def __init__(self, session: Session, count: int, traced: bool, srv_type: Any) -> None:
        node = self._node = session.node
        name = new_topic('trigger')
        if traced:
            self._service = mtrace_ros.create_traced_service(node, srv_type, name, _answer)
            self._client = mtrace_ros.create_traced_client(node, srv_type, name)
        else:
            self._service = node.create_service(srv_type, name, _answer)
            self._client = node.create_client(srv_type, name)
        # Out of band, a TracedClient's wait also waits for its record topic to match.
        wait_for(lambda: self._client.wait_for_service(0.1), f'service {name}')
        self._request = srv_type.Request
        self._executor = session.executor
        self._count = count
        self._traced = traced

    def _call(self) -> None:
        spin_until_done(self._executor, self._client.call_async(self._request()), 'service call')

    def __call__(self) -> float:
        return per_round_trip_us(self._count, self._traced, self._call)

    def close(self) -> None:
        """Destroy the client and the service (with their record endpoints)."""
        self._node.destroy_client(self._client)
        self._node.destroy_service(self._service)


def run(session: Session, *, quick: bool, repeat: int) -> List[Row]:
    """Measure one service round trip, plain rclpy against traced, on both routes."""
    count = 20 if quick else 100
    return route_rows(
        GROUP, 'round trip {route}, call_async + spin_once (one process)', 'us/call',
        lambda traced, srv_type: RoundTrips(session, count, traced, srv_type),
        (('in band, TracedTrigger', TracedTrigger), ('out of band, std_srvs Trigger', Trigger)),
        repeat)
