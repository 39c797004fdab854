"""What spans record: parents, publishes, links, sampling, and the span message form."""

import gc
import subprocess
import sys

from conftest import publish_until
from fan_in import run_fan_in
from mtrace_msgs.msg import TracedString
from mtrace_ros import current_trace
from mtrace_ros import link
from mtrace_ros import start_trace
from mtrace_ros import TracedNode
import pytest

TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736'
PARENT_ID = '00f067aa0ba902b7'


def _pair(make_node, executor, topic):
    """Return a traced publisher and the contexts its traced subscriber ran in."""
    sender = make_node(TracedNode, 'sender')
    receiver = make_node(TracedNode, 'receiver')
    seen = []
    receiver.create_subscription(
        TracedString, topic, lambda msg: seen.append((msg.data, current_trace())), 10)
    executor.add_node(sender)
    executor.add_node(receiver)
    return sender.create_publisher(TracedString, topic, 10), seen


def test_unsampled_trace_is_propagated_but_not_recorded(make_node, executor, recorded):
    publisher, seen = _pair(make_node, executor, 'sampling')
    for flags, data in (('00', 'unsampled'), ('01', 'sampled')):
        def publish():
            with start_trace(f'00-{TRACE_ID}-{PARENT_ID}-{flags}', node='sender'):
                publisher.publish(TracedString(data=data))
        assert publish_until(executor, publish, lambda: any(d == data for d, _ in seen))

    unsampled = [context for data, context in seen if data == 'unsampled'][0]
    sampled = [context for data, context in seen if data == 'sampled'][0]
    assert unsampled.trace_id == TRACE_ID and not unsampled.sampled
    assert sampled.trace_id == TRACE_ID and sampled.sampled
    kept_ids = {record['span_id'] for record in recorded}
    assert unsampled.span_id not in kept_ids
    assert unsampled.parent_span_id not in kept_ids
    assert sampled.span_id in kept_ids and sampled.parent_span_id in kept_ids


def test_receive_span_records_parent_latency_and_publishes(make_node, executor, recorded):
    publisher, seen = _pair(make_node, executor, 'hop')
    nowhere = make_node(TracedNode, 'lonely').create_publisher(TracedString, 'nowhere', 10)

    def publish():
        with start_trace():  # the root span takes the name of the node that publishes first
            publisher.publish(TracedString(data='x'))
            nowhere.publish(TracedString(data='lost'))
    assert publish_until(executor, publish, lambda: seen)

    receiver = seen[0][1]
    trace = [record for record in recorded if record['trace_id'] == receiver.trace_id]
    root, receive = sorted(trace, key=lambda record: record['kind'] != 'root')
    assert root['kind'] == 'root' and root['parent_span_id'] is None
    assert root['node'] == 'sender' and root['topic'] is None
    assert [(publish['topic'], publish['subscriber_count']) for publish in root['publishes']] == [
        ('/hop', 1), ('/nowhere', 0)]
    assert root['start_ns'] <= root['publishes'][0]['time_ns'] <= root['end_ns']
    assert receive['span_id'] == receiver.span_id
    assert receive['parent_span_id'] == root['span_id']
    assert (receive['node'], receive['topic'], receive['kind']) == ('receiver', '/hop', 'receive')
    assert 0 <= receive['latency_ns'] < 10**9
    assert root['start_ns'] <= root['end_ns'] <= receive['start_ns'] <= receive['end_ns']
    assert receive['error'] is None


def test_link_and_error_are_recorded_on_the_active_span(make_node, executor, recorded):
    fusion, imu, failed = run_fan_in(make_node, executor)
    by_span = {record['span_id']: record for record in recorded}
    assert by_span[fusion.span_id]['links'] == [
        {'trace_id': imu.trace_id, 'span_id': imu.span_id}]
    assert by_span[fusion.span_id]['error'] is None
    assert by_span[failed.span_id]['error'] == 'ValueError: corrupt frame'
    assert by_span[imu.span_id]['node'] == 'sensors'


def test_link_outside_a_recorded_span_records_nothing_and_rejects_bad_input():
    with start_trace(f'00-{TRACE_ID}-{PARENT_ID}-01') as context:
        other = link(context)  # no sink: nothing is recorded, the context is returned
    assert other is context and context.span is None
    with pytest.raises(TypeError, match='TracedHeader'):
        link('not a message')


def test_importing_mtrace_ros_does_not_load_opentelemetry():
    code = (
        'import sys, mtrace_ros; '
        'print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))')
    result = subprocess.run(
        [sys.executable, '-c', code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == '[]'


def test_an_ended_span_leaves_no_reference_cycle_for_the_collector(recorded):
    """A recorded hop makes no cyclic garbage (the context keeps its span, not back)."""
    gc.collect()
    gc.disable()
    try:
        for _ in range(50):
            with start_trace(node='root') as root:
                with start_trace(root.traceparent, node='child') as child:
                    pass
            assert child.span.to_record() == child.span.to_record()  # final once ended
        del root, child
        assert gc.collect() == 0
    finally:
        gc.enable()
    assert len(recorded) == 100
