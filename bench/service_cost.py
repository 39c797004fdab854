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

import time
from typing import Any
from typing import List

from harness import added_note
from harness import compare
from harness import median_row
from harness import Row
from mtrace_msgs.srv import TracedTrigger
import mtrace_ros
from ros_setup import DEADLINE_SEC
from ros_setup import new_topic
from ros_setup import rclpy_tasks
from ros_setup import Session
from ros_setup import wait_for
from std_srvs.srv import Trigger

GROUP = '9 services'


def _answer(request: Any, response: Any) -> Any:
    response.success = True
    return response


class RoundTrips:
    """One repetition: ``count`` calls, one at a time; µs per round trip."""

    def __init__(self, session: Session, count: int, traced: bool, srv_type: Any) -> None:
        node = session.node
        name = new_topic('trigger')
        if traced:
            mtrace_ros.create_traced_service(node, srv_type, name, _answer)
            self._client = mtrace_ros.create_traced_client(node, srv_type, name)
        else:
            node.create_service(srv_type, name, _answer)
            self._client = node.create_client(srv_type, name)
        # Out of band, a TracedClient's wait also waits for its record topic to match.
        wait_for(lambda: self._client.wait_for_service(0.1), f'service {name}')
        self._request = srv_type.Request
        self._executor = session.executor
        self._count = count
        self._traced = traced

    def _call(self) -> None:
        future = self._client.call_async(self._request())
        deadline = time.monotonic() + DEADLINE_SEC
        while not future.done():
            if time.monotonic() > deadline:
                raise TimeoutError('service call not answered')
            self._executor.spin_once(timeout_sec=1.0)

    def __call__(self) -> float:
        with rclpy_tasks(instrumented=self._traced):
            start = time.perf_counter_ns()
            for _ in range(self._count):
                if self._traced:
                    with mtrace_ros.start_trace():
                        self._call()
                else:
                    self._call()
            return (time.perf_counter_ns() - start) / self._count / 1e3


def run(session: Session, *, quick: bool, repeat: int) -> List[Row]:
    """Measure one service round trip, plain rclpy against traced, on both routes."""
    count = 20 if quick else 100
    rows = []
    for route, srv_type in (('in band, TracedTrigger', TracedTrigger),
                            ('out of band, std_srvs Trigger', Trigger)):
        values = compare(RoundTrips(session, count, False, srv_type),
                         RoundTrips(session, count, True, srv_type), repeat=repeat)
        row = median_row(
            GROUP, f'round trip {route}, call_async + spin_once (one process)', 'us/call',
            values)
        row.note = added_note(row)
        rows.append(row)
    return rows
