"""Traced publish and subscribe in one process: ids in headers, context in callbacks."""

from conftest import spin_until
from mtrace_msgs.msg import TracedString
import mtrace_ros
import pytest
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.qos import QoSProfile
from rclpy.serialization import deserialize_message
from rclpy.serialization import serialize_message


def _pair(make_node, executor, callback, topic='chatter', **sub_kwargs):
    node = make_node(name='pubsub')
    publisher = mtrace_ros.create_traced_publisher(node, TracedString, topic, 10)
    subscription = mtrace_ros.create_traced_subscription(
        node, TracedString, topic, callback, 10, **sub_kwargs)
    executor.add_node(node)
    assert spin_until(executor, lambda: publisher.get_subscription_count() > 0)
    return node, publisher, subscription


def test_callback_runs_in_the_message_trace_as_a_child_span(make_node, executor):
    seen = []

    def callback(msg):
        seen.append((msg.header.trace_id.tobytes().hex(), msg.header.span_id.tobytes().hex(),
                     mtrace_ros.current_trace()))

    _, publisher, _ = _pair(make_node, executor, callback)
    with mtrace_ros.start_trace() as root:
        publisher.publish(TracedString(data='hello'))
    assert spin_until(executor, lambda: seen)
    header_trace, header_span, context = seen[0]
    assert header_trace == root.trace_id
    assert header_span == root.span_id
    assert context.trace_id == root.trace_id
    assert context.parent_span_id == root.span_id
    assert context.span_id not in (root.span_id, None)
    assert mtrace_ros.current_trace() is None


def test_publish_outside_a_trace_starts_a_new_root_per_message(make_node, executor):
    seen = []
    _, publisher, _ = _pair(
        make_node, executor, lambda msg: seen.append(mtrace_ros.current_trace()))
    for _ in range(3):
        publisher.publish(TracedString())
    assert spin_until(executor, lambda: len(seen) == 3)
    assert len({context.trace_id for context in seen}) == 3
    assert all(context.parent_span_id is not None for context in seen)


def test_callback_publishing_continues_the_trace(make_node, executor):
    seen = []
    node = make_node(name='relay')
    first = mtrace_ros.create_traced_publisher(node, TracedString, 'first', 10)
    second = mtrace_ros.create_traced_publisher(node, TracedString, 'second', 10)

    def relay(msg):
        seen.append(('relay', mtrace_ros.current_trace()))
        second.publish(TracedString(data=msg.data))

    mtrace_ros.create_traced_subscription(node, TracedString, 'first', relay, 10)
    mtrace_ros.create_traced_subscription(
        node, TracedString, 'second', lambda msg: seen.append(('end', mtrace_ros.current_trace())),
        10)
    executor.add_node(node)
    assert spin_until(executor, lambda: second.get_subscription_count() > 0)
    with mtrace_ros.start_trace() as root:
        first.publish(TracedString(data='x'))
    assert spin_until(executor, lambda: len(seen) == 2)
    (_, relay_context), (_, end_context) = seen
    assert relay_context.trace_id == end_context.trace_id == root.trace_id
    assert relay_context.parent_span_id == root.span_id
    assert end_context.parent_span_id == relay_context.span_id


def test_message_info_callbacks_get_message_info(make_node, executor):
    seen = []

    def callback(msg, info):
        seen.append((msg.data, info, mtrace_ros.current_trace()))

    _, publisher, _ = _pair(make_node, executor, callback)
    publisher.publish(TracedString(data='with info'))
    assert spin_until(executor, lambda: seen)
    data, info, context = seen[0]
    assert data == 'with info'
    assert info['source_timestamp'] > 0
    assert context is not None


def test_raw_subscription_gets_bytes_in_the_trace(make_node, executor):
    seen = []
    _, publisher, _ = _pair(
        make_node, executor, lambda data: seen.append((data, mtrace_ros.current_trace())),
        raw=True)
    with mtrace_ros.start_trace() as root:
        publisher.publish(TracedString(data='raw'))
    assert spin_until(executor, lambda: seen)
    data, context = seen[0]
    assert isinstance(data, bytes)
    assert deserialize_message(data, TracedString).data == 'raw'
    assert context.trace_id == root.trace_id


def test_publishing_serialized_bytes_still_carries_the_trace(make_node, executor):
    seen = []
    _, publisher, _ = _pair(make_node, executor, seen.append)
    with mtrace_ros.start_trace() as root:
        publisher.publish(serialize_message(TracedString(data='bytes')))
    assert spin_until(executor, lambda: seen)
    assert seen[0].data == 'bytes'
    assert seen[0].header.trace_id.tobytes().hex() == root.trace_id


def test_rclpy_arguments_pass_through(make_node, executor):
    seen = []
    group = ReentrantCallbackGroup()
    node = make_node(name='kwargs')
    publisher = mtrace_ros.create_traced_publisher(
        node, TracedString, 'kw', QoSProfile(depth=5), callback_group=group)
    subscription = mtrace_ros.create_traced_subscription(
        node, TracedString, 'kw', seen.append, QoSProfile(depth=5), callback_group=group)
    executor.add_node(node)
    assert publisher.topic_name == subscription.topic_name == '/kw'
    assert publisher.qos_profile.depth == 5
    assert spin_until(executor, lambda: publisher.get_subscription_count() > 0)
    publisher.publish(TracedString(data='kw'))
    assert spin_until(executor, lambda: seen)
    assert node.destroy_publisher(publisher) and node.destroy_subscription(subscription)


def test_wrong_message_type_is_a_type_error(make_node):
    node = make_node(name='wrong')
    publisher = mtrace_ros.create_traced_publisher(node, TracedString, 'wrong', 10)
    with pytest.raises(TypeError, match='Expected'):
        publisher.publish('not a message')


def test_callback_exception_propagates_and_leaves_no_context(make_node, executor):
    def callback(msg):
        raise RuntimeError('user bug')

    _, publisher, _ = _pair(make_node, executor, callback)
    with mtrace_ros.start_trace():
        publisher.publish(TracedString())
    with pytest.raises(RuntimeError, match='user bug'):
        spin_until(executor, lambda: False, timeout_sec=5)
    assert mtrace_ros.current_trace() is None


def test_nothing_leaks_into_the_next_callback_or_timer(make_node, executor):
    seen = []
    node, publisher, _ = _pair(
        make_node, executor, lambda msg: seen.append(('sub', mtrace_ros.current_trace())))
    node.create_timer(0.01, lambda: seen.append(('timer', mtrace_ros.current_trace())))
    with mtrace_ros.start_trace():
        publisher.publish(TracedString())
    assert spin_until(
        executor, lambda: any(kind == 'sub' for kind, _ in seen)
        and sum(kind == 'timer' for kind, _ in seen) >= 3)
    assert all(context is None for kind, context in seen if kind == 'timer')
    assert mtrace_ros.current_trace() is None
