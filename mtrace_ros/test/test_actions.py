"""Actions carry the trace (issue 14): goal -> execute -> feedback -> result, and cancel."""

import os
import time

from conftest import wait_until
from mtrace_msgs.action import TracedCount
from mtrace_msgs.msg import GoalTraceRecord
import mtrace_ros
from mtrace_ros.instrumentation import notices
from mtrace_ros.wire.goal_record import GOAL_RECORD_QOS
from nodes.action_node import goal_of  # noqa: I100 (test-local module)
from nodes.action_node import steps_of
import numpy
import pytest
from rclpy.node import Node
from rclpy.serialization import serialize_message
from test_msgs.action import Fibonacci
from unique_identifier_msgs.msg import UUID

#: Both routes: a goal with a TracedHeader (in band) and one without (out of band).
ROUTES = pytest.mark.parametrize(
    'action_type', [TracedCount, Fibonacci], ids=['in-band', 'out-of-band'])


def wait(predicate):
    assert wait_until(predicate)


def client_spans(recorded, kind):
    return [s for s in recorded if s['kind'] == kind and s['node'] == 'asker']


def run_goal(client, action_type, steps, recorded, traced=True):
    """Send a goal of ``steps`` steps; wait for its result, all feedback, and (traced) spans."""
    feedback, results = [], []

    def on_feedback(msg):
        feedback.append((steps_of(action_type, msg.feedback), mtrace_ros.current_trace()))

    def on_accepted(future):
        result_future = future.result().get_result_async()
        result_future.add_done_callback(lambda done: results.append(
            (done.result().result, mtrace_ros.current_trace())))

    future = client.send_goal_async(goal_of(action_type, steps, period_sec=0.01), on_feedback)
    future.add_done_callback(on_accepted)
    # Feedback and result travel on different topics: either may come first.
    wait(lambda: results and len(feedback) == steps
         and (not traced or len(client_spans(recorded, 'result')) >= 1))
    return feedback, results


@ROUTES
@pytest.mark.parametrize('coroutine', [False, True], ids=['sync-execute', 'async-execute'])
def test_goal_feedback_result_run_in_the_caller_trace(
        action_pair, recorded, action_type, coroutine):
    counter, client = action_pair(action_type, coroutine)
    with mtrace_ros.start_trace() as caller:
        feedback, results = run_goal(client, action_type, 3, recorded)
    ((result, result_trace),) = results
    assert steps_of(action_type, result) == 3 and result_trace == caller
    assert [current for current, _ in feedback] == [1, 2, 3]
    assert all(trace == caller for _, trace in feedback)
    by_kind = {s['kind']: s for s in recorded if s['trace_id'] == caller.trace_id}
    assert set(by_kind) >= {'goal', 'execute', 'result', 'root'}
    (client_goal,) = client_spans(recorded, 'goal')
    assert client_goal['parent_span_id'] == caller.span_id
    assert client_goal['attributes']['ros.action.role'] == 'client'
    for phase in ('goal', 'execute'):
        assert counter.seen[phase].trace_id == caller.trace_id
        assert counter.seen[phase].parent_span_id == client_goal['span_id']
    (execute,) = [s for s in recorded if s['kind'] == 'execute']
    assert execute['attributes']['ros.action.role'] == 'server'
    assert [event['name'] for event in execute['events']] == ['feedback'] * 3
    if action_type is TracedCount:  # in band: the result's header names the execute span
        assert result.header.span_id.tobytes().hex() == counter.seen['execute'].span_id
    assert client._mtrace_goals == {}
    assert counter.server.mtrace_goals() == 1  # until rclpy expires the goal


@ROUTES
def test_cancel_runs_in_the_goal_trace(action_pair, recorded, action_type):
    counter, client = action_pair(action_type)
    handles, cancels = [], []
    with mtrace_ros.start_trace() as caller:
        future = client.send_goal_async(goal_of(action_type, 1000, period_sec=0.01))
        future.add_done_callback(lambda done: handles.append(done.result()))
    wait(lambda: handles and 'execute' in counter.seen)
    cancel = handles[0].cancel_goal_async()
    cancel.add_done_callback(lambda done: cancels.append(mtrace_ros.current_trace()))
    wait(lambda: cancels and client_spans(recorded, 'cancel'))
    assert counter.seen['cancel'].trace_id == caller.trace_id
    (client_cancel,) = client_spans(recorded, 'cancel')
    assert client_cancel['trace_id'] == caller.trace_id
    (client_goal,) = client_spans(recorded, 'goal')
    assert counter.seen['cancel'].parent_span_id == client_goal['span_id']


def _notices(problem):
    return sum(count for (_, topic, seen), count in notices.counts().items()
               if topic == '/count' and seen.startswith(problem))


@ROUTES
def test_a_plain_client_starts_a_new_trace_at_a_traced_server(action_pair, recorded, action_type):
    counter, client = action_pair(action_type, plain_client=True)
    problem = 'goal without trace record' if action_type is Fibonacci else 'no trace context'
    before = _notices(problem)
    feedback, results = run_goal(client, action_type, 2, recorded, traced=False)
    assert steps_of(action_type, results[0][0]) == 2
    assert counter.seen['execute'] is not None
    (goal,) = [s for s in recorded if s['kind'] == 'goal']
    assert goal['parent_span_id'] is None  # a new root, which the goal's other phases continue
    assert counter.seen['execute'].trace_id == goal['trace_id']
    assert counter.seen['execute'].parent_span_id == goal['span_id']
    assert _notices(problem) == before + 1


@ROUTES
def test_a_traced_client_works_with_a_plain_server(action_pair, recorded, action_type):
    counter, client = action_pair(action_type, plain_server=True)
    with mtrace_ros.start_trace() as caller:
        feedback, results = run_goal(client, action_type, 2, recorded)
    assert steps_of(action_type, results[0][0]) == 2 and results[0][1] == caller
    assert counter.seen['execute'] is None and counter.seen['goal'] is None
    assert client_spans(recorded, 'goal')[0]['trace_id'] == caller.trace_id


# Hostile input on the out-of-band surface: the hidden record topic takes anyone's records.

def _forger(make_node, executor_node_name='forger'):
    node = make_node(Node, executor_node_name)
    return node.create_publisher(GoalTraceRecord, '/count/_action/_mtrace', GOAL_RECORD_QOS)


def _record(goal_id, trace_id=b'\x01' * 16, span_id=b'\x02' * 8, flags=1):
    record = GoalTraceRecord()
    record.goal_id = numpy.frombuffer(goal_id, numpy.uint8)
    record.header.trace_id = numpy.frombuffer(trace_id, numpy.uint8)
    record.header.span_id = numpy.frombuffer(span_id, numpy.uint8)
    record.header.flags = flags
    return record


def _goal_after(client, recorded, forge=lambda uuid: None):
    """Send a traced Fibonacci goal after ``forge(its uuid)``; return the caller, the server's."""
    uuid = UUID(uuid=list(os.urandom(16)))
    forge(bytes(uuid.uuid))
    before = len(client_spans(recorded, 'result'))
    results = []
    with mtrace_ros.start_trace() as caller:
        future = client.send_goal_async(goal_of(Fibonacci, 1), goal_uuid=uuid)
        future.add_done_callback(lambda done: done.result().get_result_async().add_done_callback(
            lambda result: results.append(result.result())))
    wait(lambda: results and len(client_spans(recorded, 'result')) > before)
    return caller


def test_garbled_and_forged_records_never_break_a_goal_nor_join_a_wrong_trace(
        action_pair, make_node, recorded):
    counter, client = action_pair(Fibonacci)
    forger = _forger(make_node)
    wait(lambda: forger.get_subscription_count() >= 1)
    good = serialize_message(_record(b'\x03' * 16))
    before = _notices('unusable goal trace record')
    for garbled in (good[:10], good[:-3], b'\x00\x01\x00\x00' + b'\xff' * (len(good) - 4)):
        forger.publish(garbled)
    forger.publish(GoalTraceRecord())  # an all-zero goal id: no goal has it
    caller = _goal_after(client, recorded)
    assert counter.seen['execute'].trace_id == caller.trace_id
    assert _notices('unusable goal trace record') == before + 1

    # A forged record for the very goal sent: the later, the client's, is not replaced by it
    # when it comes first; a record without a trace makes a new root, said.
    before = _notices('no trace context')
    _goal_after(client, recorded, lambda uuid: forger.publish(
        _record(uuid, trace_id=bytes(16), span_id=bytes(8))))
    assert counter.seen['execute'] is not None
    assert len({s['trace_id'] for s in recorded if s['kind'] == 'execute'}) == 2


def test_a_flood_of_records_for_goals_never_sent_expires_counted(
        action_pair, make_node, recorded):
    counter, client = action_pair(Fibonacci)
    forger = _forger(make_node)
    wait(lambda: forger.get_subscription_count() >= 1)
    for _ in range(500):
        forger.publish(_record(os.urandom(16)))
    caller = _goal_after(client, recorded)
    assert counter.seen['execute'].trace_id == caller.trace_id
    inbox = counter.server._mtrace_inbox
    assert 0 < len(inbox) <= GOAL_RECORD_QOS.depth  # the reader's queue bounds a flood
    inbox._max_age_ns = 0  # let the flood expire at the next record, not in 10 s
    before = _notices('goal trace records dropped unmatched')
    forger.publish(_record(os.urandom(16)))
    # Taking the next record drops the expired ones: only it stays.
    wait(lambda: not inbox.candidates(lambda key: False) and len(inbox) == 1)
    assert _notices('goal trace records dropped unmatched') == before + 1
    caller = _goal_after(client, recorded)
    assert counter.seen['execute'].trace_id == caller.trace_id


def test_a_duplicate_goal_id_is_rejected_and_the_first_goal_keeps_its_trace(
        action_pair, recorded):
    counter, client = action_pair(Fibonacci)
    uuid = UUID(uuid=list(os.urandom(16)))
    handles = []
    with mtrace_ros.start_trace() as first:
        future = client.send_goal_async(goal_of(Fibonacci, 1000), goal_uuid=uuid)
        future.add_done_callback(lambda done: handles.append(done.result()))
    wait(lambda: handles and 'execute' in counter.seen)
    with mtrace_ros.start_trace():
        future = client.send_goal_async(goal_of(Fibonacci, 1), goal_uuid=uuid)
        future.add_done_callback(lambda done: handles.append(done.result()))
    wait(lambda: len(handles) == 2)
    assert handles[0].accepted and not handles[1].accepted
    assert client._mtrace_goals[bytes(uuid.uuid)].trace_id == first.trace_id
    assert counter.seen['execute'].trace_id == first.trace_id
    cancelled = []
    handles[0].cancel_goal_async().add_done_callback(lambda done: cancelled.append(done))
    wait(lambda: cancelled and 'cancel' in counter.seen)
    assert counter.seen['cancel'].trace_id == first.trace_id


def test_a_record_later_than_its_goal_request_is_awaited_without_blocking(
        action_pair, make_node, recorded):
    # A plain client's goal, and its record published 30 ms later by a traced writer.
    counter, client = action_pair(Fibonacci, plain_client=True)
    forger = _forger(make_node)
    wait(lambda: forger.get_subscription_count() >= 1)
    uuid = UUID(uuid=list(os.urandom(16)))
    handles = []
    client.send_goal_async(goal_of(Fibonacci, 1), goal_uuid=uuid).add_done_callback(
        lambda done: handles.append(done.result()))
    time.sleep(0.03)
    forger.publish(_record(bytes(uuid.uuid)))
    wait(lambda: handles and 'execute' in counter.seen)
    assert handles[0].accepted
    assert counter.seen['goal'].trace_id == '01' * 16
    assert counter.seen['execute'].parent_span_id == '02' * 8
