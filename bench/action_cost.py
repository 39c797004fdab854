"""
Group 10: an action goal's round trip, traced against plain, in one process.

One goal through the session's ``SingleThreadedExecutor``: ``send_goal_async``
and ``spin_once`` until accepted, then ``get_result_async`` and ``spin_once``
until the result (the goal request, the execute callback with one feedback,
and the result request all run in it). The plain side uses rclpy's
``ActionServer`` / ``ActionClient`` (tasks uninstrumented); the traced side
uses :mod:`mtrace_ros.action`'s and sends inside ``start_trace()``: client
goal and result spans, server goal and execute spans, a feedback event. Two
routes: in band (``TracedCount``) and out of band (``test_msgs`` ``Fibonacci``:
a goal record published, taken and matched by goal UUID).
"""

from typing import Any
from typing import List

from harness import Row
from mtrace_msgs.action import TracedCount
from mtrace_ros.action import ActionClient
from mtrace_ros.action import ActionServer
from rclpy.action import ActionClient as RclpyActionClient
from rclpy.action import ActionServer as RclpyActionServer
from ros_setup import new_topic
from ros_setup import per_round_trip_us
from ros_setup import route_rows
from ros_setup import Session
from ros_setup import spin_until_done
from ros_setup import wait_for
from test_msgs.action import Fibonacci

GROUP = '10 actions'


class GoalRoundTrips:
    """One repetition: ``count`` goals, one at a time; µs per goal (accepted, then result)."""

    def __init__(self, session: Session, count: int, traced: bool, action_type: Any) -> None:
        node = session.node
        name = new_topic('count')
        server_class, client_class = (
            (ActionServer, ActionClient) if traced else (RclpyActionServer, RclpyActionClient))
        self._action_type = action_type
        self._server = server_class(node, action_type, name, self._execute)
        self._client = client_class(node, action_type, name)
        # Out of band, the traced client's wait also waits for its record topic to match.
        wait_for(lambda: self._client.wait_for_server(0.1), f'action {name}')
        self._executor = session.executor
        self._count = count
        self._traced = traced

    def _execute(self, goal_handle: Any) -> Any:
        goal_handle.publish_feedback(self._action_type.Feedback())
        goal_handle.succeed()
        return self._action_type.Result()

    def _goal(self) -> None:
        handle = spin_until_done(
            self._executor, self._client.send_goal_async(self._action_type.Goal()), 'goal')
        spin_until_done(self._executor, handle.get_result_async(), 'result')

    def __call__(self) -> float:
        return per_round_trip_us(self._count, self._traced, self._goal)

    def close(self) -> None:
        """Destroy the client and the server (with their record endpoints)."""
        self._client.destroy()
        self._server.destroy()


def run(session: Session, *, quick: bool, repeat: int) -> List[Row]:
    """Measure one action goal's round trip, plain rclpy against traced, on both routes."""
    count = 10 if quick else 50
    return route_rows(
        GROUP, 'goal round trip {route}: accepted + result (one process)', 'us/goal',
        lambda traced, action_type: GoalRoundTrips(session, count, traced, action_type),
        (('in band, TracedCount', TracedCount), ('out of band, test_msgs Fibonacci', Fibonacci)),
        repeat)
