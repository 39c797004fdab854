"""Actions across processes (issue 14): the server in one process, the client in this one."""

import json

from conftest import node_script
from conftest import SERVER_DEADLINE_SEC
from conftest import spin_until
from conftest import wait_until
from mtrace_msgs.action import TracedCount
import mtrace_ros
from mtrace_ros.action import ActionClient
from nodes.action_node import goal_of  # noqa: I100 (test-local module)
from nodes.action_node import steps_of
import pytest
from test_msgs.action import Fibonacci

ROUTES = pytest.mark.parametrize(
    'action_type, action', [(TracedCount, 'count'), (Fibonacci, 'fibonacci')],
    ids=['in-band', 'out-of-band'])


def _server(processes, *flags):
    server = processes(node_script('action_node.py') + list(flags), name='server')
    assert wait_until(lambda: 'ready' in server.output()), server.output()
    return server


def _client(make_node, executor, action_type, action):
    node = make_node(mtrace_ros.TracedNode, 'asker')
    executor.add_node(node)
    client = ActionClient(node, action_type, action)
    assert client.wait_for_server(SERVER_DEADLINE_SEC)
    # The server is ready when its services are; feedback needs its topic matched too.
    feedback = f'/{action}/_action/feedback'
    assert wait_until(lambda: node.count_publishers(feedback) >= 1)
    return client


def _seen(server, action):
    """Return the server's callbacks so far: phase -> the trace it ran in (the last one)."""
    seen = {}
    for line in server.lines():
        if line.startswith('{'):
            report = json.loads(line)
            if report['action'] == action:
                seen[report['phase']] = report
    return seen


def _goal_span(recorded, trace_id):
    (span,) = [s for s in recorded
               if s['trace_id'] == trace_id and s['kind'] == 'goal' and s['node'] == 'asker']
    return span


@ROUTES
def test_goal_feedback_and_result_cross_processes_in_the_caller_trace(
        processes, make_node, executor, recorded, action_type, action):
    server = _server(processes)
    client = _client(make_node, executor, action_type, action)
    feedback, results = [], []

    def on_accepted(future):
        future.result().get_result_async().add_done_callback(
            lambda done: results.append((done.result().result, mtrace_ros.current_trace())))

    with mtrace_ros.start_trace() as caller:
        future = client.send_goal_async(
            goal_of(action_type, 3, period_sec=0.05),
            lambda msg: feedback.append((steps_of(action_type, msg.feedback),
                                         mtrace_ros.current_trace())))
        future.add_done_callback(on_accepted)
    # The client's feedback reader may match the server's writer after the first step: the
    # steps that came are in order, and the last one comes (it may come after the result).
    assert spin_until(executor, lambda: results and feedback and feedback[-1][0] == 3), (
        f'{results} {feedback} {server.output()}')
    ((result, result_trace),) = results
    assert steps_of(action_type, result) == 3 and result_trace == caller
    steps = [step for step, _ in feedback]
    assert steps == sorted(set(steps)) and set(steps) <= {1, 2, 3}
    assert all(trace == caller for _, trace in feedback)
    goal = _goal_span(recorded, caller.trace_id)
    seen = _seen(server, action)
    for phase in ('goal', 'execute'):
        assert seen[phase]['trace_id'] == caller.trace_id, server.output()
        assert seen[phase]['parent_span_id'] == goal['span_id']


def test_cancel_across_processes_runs_in_the_goal_trace(
        processes, make_node, executor, recorded):
    server = _server(processes, '--multi')
    client = _client(make_node, executor, Fibonacci, 'fibonacci')
    handles, cancels = [], []
    with mtrace_ros.start_trace() as caller:
        future = client.send_goal_async(goal_of(Fibonacci, 1000))
        future.add_done_callback(lambda done: handles.append(done.result()))
    assert spin_until(executor, lambda: handles and 'execute' in _seen(server, 'fibonacci'))
    # Asked for outside any trace: the cancel still belongs to the goal's.
    handles[0].cancel_goal_async().add_done_callback(cancels.append)
    assert spin_until(executor, lambda: cancels and 'cancel' in _seen(server, 'fibonacci'))
    cancel = _seen(server, 'fibonacci')['cancel']
    assert cancel['trace_id'] == caller.trace_id
    assert cancel['parent_span_id'] == _goal_span(recorded, caller.trace_id)['span_id']
    assert spin_until(executor, lambda: [s for s in recorded if s['kind'] == 'cancel'])
    (client_cancel,) = [s for s in recorded if s['kind'] == 'cancel']
    assert client_cancel['trace_id'] == caller.trace_id


@ROUTES
def test_a_plain_server_process_serves_a_traced_client_untraced(
        processes, make_node, executor, recorded, action_type, action):
    server = _server(processes, '--plain')
    client = _client(make_node, executor, action_type, action)
    results = []
    with mtrace_ros.start_trace() as caller:
        future = client.send_goal_async(goal_of(action_type, 2))
        future.add_done_callback(lambda done: done.result().get_result_async().add_done_callback(
            lambda result: results.append(mtrace_ros.current_trace())))
    assert spin_until(executor, lambda: results), server.output()
    assert results == [caller]
    assert 'trace_id' not in _seen(server, action)['execute']
