"""Envelopes (opt-in: envelope=True): any type in a TracedEnvelope; callbacks get the original."""

from conftest import spin_until
from mtrace_msgs.msg import TracedEnvelope
import mtrace_ros
from mtrace_ros.instrumentation import notices
from rclpy.serialization import deserialize_message
from std_msgs.msg import Int32
from std_msgs.msg import String


def _envelope_pair(make_node, executor, msg_type, callback, **kwargs):
    node = make_node(name='envelopes')
    publisher = mtrace_ros.create_traced_publisher(node, msg_type, 'wrapped', 10, envelope=True)
    mtrace_ros.create_traced_subscription(
        node, msg_type, 'wrapped', callback, 10, envelope=True, **kwargs)
    executor.add_node(node)
    assert spin_until(executor, lambda: publisher.get_subscription_count() > 0)
    return node, publisher


def test_std_msgs_string_arrives_unwrapped_in_its_trace(make_node, executor):
    seen = []
    _, publisher = _envelope_pair(
        make_node, executor, String, lambda msg: seen.append((msg, mtrace_ros.current_trace())))
    with mtrace_ros.start_trace() as root:
        publisher.publish(String(data='plain type'))
    assert spin_until(executor, lambda: seen)
    msg, context = seen[0]
    assert isinstance(msg, String) and msg.data == 'plain type'
    assert context.trace_id == root.trace_id
    assert context.parent_span_id == root.span_id


def test_wire_type_is_the_envelope(make_node, executor):
    node, publisher = _envelope_pair(make_node, executor, Int32, lambda msg: None)
    assert publisher.msg_type is TracedEnvelope
    assert publisher.payload_type is Int32
    types = dict(node.get_topic_names_and_types())
    assert types['/wrapped'] == ['mtrace_msgs/msg/TracedEnvelope']


def test_raw_envelope_subscription_gets_the_inner_bytes(make_node, executor):
    seen = []
    _, publisher = _envelope_pair(
        make_node, executor, Int32, lambda data: seen.append((data, mtrace_ros.current_trace())),
        raw=True)
    with mtrace_ros.start_trace() as root:
        publisher.publish(Int32(data=42))
    assert spin_until(executor, lambda: seen)
    data, context = seen[0]
    assert deserialize_message(data, Int32).data == 42
    assert context.trace_id == root.trace_id


def test_envelope_of_another_type_is_reported_not_delivered(make_node, executor):
    seen = []
    node = make_node(name='mismatch')
    publisher = mtrace_ros.create_traced_publisher(node, Int32, 'mixed', 10, envelope=True)
    mtrace_ros.create_traced_subscription(node, String, 'mixed', seen.append, 10, envelope=True)
    executor.add_node(node)
    assert spin_until(executor, lambda: publisher.get_subscription_count() > 0)
    publisher.publish(Int32(data=1))

    def reported():
        return any('another type' in problem and topic == '/mixed'
                   for (_, topic, problem) in notices.counts())

    # The executor keeps running; the problem is reported; no wrongly-typed message arrives.
    assert spin_until(executor, reported)
    assert seen == []
