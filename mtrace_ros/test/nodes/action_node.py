"""
Counting action servers for action tests: they note the trace each of their callbacks ran in.

:class:`Counter` serves an action of either route: ``mtrace_msgs/action/TracedCount``
(its goal has a ``TracedHeader``: in band) or ``test_msgs/action/Fibonacci``
(no header: out of band). Run as a program, it serves both (``count`` and
``fibonacci``) and prints one JSON line per callback: the phase, the action,
and the callback's trace id, span id and parent span id (null outside a trace).

    action_node.py [--plain] [--multi]
"""

import argparse
import json
import time

from mtrace_msgs.action import TracedCount
import mtrace_ros
from mtrace_ros.action import ActionServer
import rclpy
from rclpy.action import ActionServer as RclpyActionServer
from rclpy.action import CancelResponse
from rclpy.action import GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import ExternalShutdownException
from rclpy.executors import MultiThreadedExecutor
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from test_msgs.action import Fibonacci

#: The longest a goal runs (the test's deadline).
DEADLINE_SEC = 10.0


def goal_of(action_type, steps, period_sec=0.0):
    """Return a goal of ``action_type`` asking for ``steps`` steps."""
    if action_type is TracedCount:
        return TracedCount.Goal(target=steps, period_sec=period_sec)
    return Fibonacci.Goal(order=steps)


def steps_of(action_type, msg):
    """Return the step a feedback or the steps a result of ``action_type`` says."""
    if action_type is TracedCount:
        return msg.current if isinstance(msg, TracedCount.Feedback) else msg.count
    return len(msg.sequence)


class Counter:
    """
    A counting action server (any route) that notes the trace each of its callbacks ran in.

    ``period_sec`` paces the Fibonacci goals (TracedCount goals say their own).
    """

    def __init__(self, node, action_type, name, *, coroutine=False, plain=False, report=None):
        self.seen = {}
        self.action_type = action_type
        self.report = report
        server_class = RclpyActionServer if plain else ActionServer
        execute = self.execute_later if coroutine else self.execute
        self.server = server_class(
            node, action_type, name, execute, callback_group=ReentrantCallbackGroup(),
            goal_callback=self.goal, cancel_callback=self.cancel)

    def note(self, phase):
        context = mtrace_ros.current_trace()
        self.seen[phase] = context
        if self.report is not None:
            self.report(phase, context)

    def goal(self, request):
        self.note('goal')
        return GoalResponse.ACCEPT

    def cancel(self, goal_handle):
        self.note('cancel')
        return CancelResponse.ACCEPT

    def execute(self, goal_handle):
        self.note('execute')
        request = goal_handle.request
        if self.action_type is TracedCount:
            target, period = request.target, request.period_sec
        else:
            target, period = request.order, 0.01
        current = 0
        deadline = time.monotonic() + DEADLINE_SEC
        while current < target and time.monotonic() < deadline:
            if goal_handle.is_cancel_requested:
                goal_handle.canceled()
                return self.result(current)
            time.sleep(period)  # a paced step: a client that just matched gets each feedback
            current += 1
            goal_handle.publish_feedback(self.feedback(current))
        goal_handle.succeed()
        return self.result(current)

    async def execute_later(self, goal_handle):
        return self.execute(goal_handle)

    def feedback(self, current):
        if self.action_type is TracedCount:
            return TracedCount.Feedback(current=current)
        return Fibonacci.Feedback(sequence=list(range(current)))

    def result(self, current):
        if self.action_type is TracedCount:
            return TracedCount.Result(count=current)
        return Fibonacci.Result(sequence=list(range(current)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--plain', action='store_true')
    parser.add_argument('--multi', action='store_true')
    args, ros_args = parser.parse_known_args()
    rclpy.init(args=ros_args)
    node = (Node if args.plain else mtrace_ros.TracedNode)('action_server')

    def reporter(action):
        def report(phase, context):
            ids = ({} if context is None else {
                'trace_id': context.trace_id, 'span_id': context.span_id,
                'parent_span_id': context.parent_span_id})
            print(json.dumps({'phase': phase, 'action': action, **ids}), flush=True)
        return report

    Counter(node, TracedCount, 'count', plain=args.plain, report=reporter('count'))
    Counter(node, Fibonacci, 'fibonacci', plain=args.plain, report=reporter('fibonacci'))
    executor = MultiThreadedExecutor(4) if args.multi else SingleThreadedExecutor()
    executor.add_node(node)
    print('ready', flush=True)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()


if __name__ == '__main__':
    main()
