"""Actions carry the trace (issue 14): goal -> execute -> feedback -> result, and cancel."""

import threading
import time

from conftest import DEADLINE_SEC
from mtrace_msgs.action import TracedCount
import mtrace_ros
from mtrace_ros.action import ActionClient
from mtrace_ros.action import ActionServer
import pytest
from rclpy.action import CancelResponse
from rclpy.action import GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import MultiThreadedExecutor


class Counter:
    """A counting action server that notes the trace each of its callbacks ran in."""

    def __init__(self, node, coroutine):
        self.seen = {}
        group = ReentrantCallbackGroup()
        execute = self.execute_later if coroutine else self.execute
        self.server = ActionServer(
            node, TracedCount, 'count', execute, callback_group=group,
            goal_callback=self.goal, cancel_callback=self.cancel)

    def goal(self, request):
        self.seen['goal'] = mtrace_ros.current_trace()
        return GoalResponse.ACCEPT

    def cancel(self, goal_handle):
        self.seen['cancel'] = mtrace_ros.current_trace()
        return CancelResponse.ACCEPT

    def execute(self, goal_handle):
        self.seen['execute'] = mtrace_ros.current_trace()
        current = 0
        deadline = time.monotonic() + DEADLINE_SEC
        while current < goal_handle.request.target and time.monotonic() < deadline:
            if goal_handle.is_cancel_requested:
                goal_handle.canceled()
                return TracedCount.Result(count=current)
            current += 1
            goal_handle.publish_feedback(TracedCount.Feedback(current=current))
            time.sleep(goal_handle.request.period_sec)
        goal_handle.succeed()
        return TracedCount.Result(count=current)

    async def execute_later(self, goal_handle):
        return self.execute(goal_handle)


@pytest.fixture
def action_pair(make_node, ros_context):
    executor = MultiThreadedExecutor(4, context=ros_context)
    server_node = make_node(mtrace_ros.TracedNode, 'counter')
    client_node = make_node(mtrace_ros.TracedNode, 'asker')

    def make(coroutine=False):
        counter = Counter(server_node, coroutine)
        client = ActionClient(client_node, TracedCount, 'count')
        executor.add_node(server_node)
        executor.add_node(client_node)
        assert client.wait_for_server(DEADLINE_SEC)
        return counter, client

    spinner = threading.Thread(target=executor.spin)
    yield make, spinner
    executor.shutdown()
    if spinner.is_alive():
        spinner.join()


def _wait(predicate):
    deadline = time.monotonic() + DEADLINE_SEC
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.01)


@pytest.mark.parametrize('coroutine', [False, True], ids=['sync-execute', 'async-execute'])
def test_goal_feedback_result_run_in_the_caller_trace(action_pair, recorded, coroutine):
    make, spinner = action_pair
    counter, client = make(coroutine)
    spinner.start()
    feedback, results = [], []

    def on_feedback(msg):
        feedback.append((msg.feedback.current, mtrace_ros.current_trace()))

    def on_accepted(future):
        result_future = future.result().get_result_async()
        result_future.add_done_callback(
            lambda done: results.append((done.result().result, mtrace_ros.current_trace())))

    with mtrace_ros.start_trace() as caller:
        future = client.send_goal_async(TracedCount.Goal(target=3), on_feedback)
        future.add_done_callback(on_accepted)
    _wait(lambda: results and len([s for s in recorded if s['kind'] == 'result']) == 1)
    ((result, result_trace),) = results
    assert result.count == 3 and result_trace == caller
    assert [current for current, _ in feedback] == [1, 2, 3]
    assert all(trace == caller for _, trace in feedback)
    by_kind = {s['kind']: s for s in recorded if s['trace_id'] == caller.trace_id}
    assert set(by_kind) >= {'goal', 'execute', 'result', 'root'}
    client_goal = [s for s in recorded if s['kind'] == 'goal' and s['node'] == 'asker']
    assert client_goal[0]['parent_span_id'] == caller.span_id
    for phase in ('goal', 'execute'):
        assert counter.seen[phase].trace_id == caller.trace_id
        assert counter.seen[phase].parent_span_id == client_goal[0]['span_id']
    assert result.header.span_id.tobytes().hex() == counter.seen['execute'].span_id
    assert client._mtrace_goals == {}


def test_cancel_runs_in_the_goal_trace(action_pair, recorded):
    make, spinner = action_pair
    counter, client = make()
    spinner.start()
    handles, cancels = [], []
    with mtrace_ros.start_trace() as caller:
        future = client.send_goal_async(TracedCount.Goal(target=1000, period_sec=0.01))
        future.add_done_callback(lambda done: handles.append(done.result()))
    _wait(lambda: handles and 'execute' in counter.seen)
    cancel = handles[0].cancel_goal_async()
    cancel.add_done_callback(lambda done: cancels.append(mtrace_ros.current_trace()))
    _wait(lambda: cancels and any(s['kind'] == 'cancel' and s['node'] == 'asker'
                                  for s in recorded))
    assert counter.seen['cancel'].trace_id == caller.trace_id
    client_cancel = [s for s in recorded if s['kind'] == 'cancel' and s['node'] == 'asker']
    assert client_cancel[0]['trace_id'] == caller.trace_id
