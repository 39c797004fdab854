"""TracedNode traces types with a TracedHeader and leaves everything else exactly as Node does."""

from conftest import spin_until
from mtrace_msgs.msg import TracedString
import mtrace_ros
from mtrace_ros.core.settings import node_setting
from mtrace_ros.export import configured_sinks
import pytest
from rcl_interfaces.msg import ParameterEvent
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.publisher import Publisher
from std_msgs.msg import String


def _graph(node):
    """Return the node's topics and services, with its own name replaced by NODE."""
    name = node.get_name()

    def normalized(names_and_types):
        return sorted((topic.replace(f'/{name}/', '/NODE/'), types)
                      for topic, types in names_and_types)

    return (
        normalized(node.get_publisher_names_and_types_by_node(name, '/')),
        normalized(node.get_subscriber_names_and_types_by_node(name, '/')),
        normalized(node.get_service_names_and_types_by_node(name, '/')),
    )


def _build(node):
    node.create_publisher(String, 'plain_out', 10)
    node.create_subscription(String, 'plain_in', lambda msg: None, 10)
    node.create_publisher(TracedString, 'traced_out', 10)
    node.create_subscription(TracedString, 'traced_in', lambda msg: None, 10)


def test_graph_is_identical_to_a_plain_node(make_node, executor):
    plain = make_node(Node, 'twin_plain')
    traced = make_node(mtrace_ros.TracedNode, 'twin_traced')
    _build(plain)
    _build(traced)
    executor.add_node(plain)
    executor.add_node(traced)

    def same_graph():
        publishers = _graph(traced)[0]
        return (_graph(plain) == _graph(traced)
                and ('/traced_out', ['mtrace_msgs/msg/TracedString']) in publishers)

    assert spin_until(executor, same_graph), (_graph(plain), _graph(traced))
    assert ('/parameter_events', ['rcl_interfaces/msg/ParameterEvent']) in _graph(traced)[0]
    assert ('/rosout', ['rcl_interfaces/msg/Log']) in _graph(traced)[0]


def test_untraced_types_and_system_topics_get_rclpy_publishers(make_node):
    node = make_node(mtrace_ros.TracedNode, 'system')
    plain = node.create_publisher(String, 'plain', 10)
    traced = node.create_publisher(TracedString, 'traced', 10)
    assert type(plain) is Publisher
    assert isinstance(traced, mtrace_ros.TracedPublisher)
    system = [p for p in node.publishers if p.msg_type is ParameterEvent]
    assert system and all(type(p) is Publisher for p in system)


def test_untraced_subscription_callback_is_untouched(make_node):
    node = make_node(mtrace_ros.TracedNode, 'untouched')

    def callback(msg):
        pass

    subscription = node.create_subscription(String, 'plain', callback, 10)
    assert subscription.callback is callback


def test_traced_node_carries_the_trace_end_to_end(make_node, executor):
    seen = []
    node = make_node(mtrace_ros.TracedNode, 'converted')
    publisher = node.create_publisher(TracedString, 'converted', 10)
    node.create_subscription(
        TracedString, 'converted', lambda msg: seen.append(mtrace_ros.current_trace()), 10)
    executor.add_node(node)
    assert spin_until(executor, lambda: publisher.get_subscription_count() > 0)
    with mtrace_ros.start_trace() as root:
        publisher.publish(TracedString())
    assert spin_until(executor, lambda: seen)
    assert seen[0].trace_id == root.trace_id
    assert seen[0].parent_span_id == root.span_id


def test_plain_subscriber_reads_traced_node_topics(make_node, executor):
    """The topic type does not change, so untraced subscribers keep working."""
    seen = []
    traced = make_node(mtrace_ros.TracedNode, 'traced_talker')
    plain = make_node(Node, 'plain_listener')
    publisher = traced.create_publisher(TracedString, 'shared', 10)
    plain.create_subscription(TracedString, 'shared', seen.append, 10)
    executor.add_node(traced)
    executor.add_node(plain)
    assert spin_until(executor, lambda: publisher.get_subscription_count() > 0)
    with mtrace_ros.start_trace() as root:
        publisher.publish(TracedString(data='hi'))
    assert spin_until(executor, lambda: seen)
    assert seen[0].data == 'hi'
    assert seen[0].header.trace_id.tobytes().hex() == root.trace_id


def test_explicit_wrappers_on_a_traced_node_trace_once(make_node, executor):
    seen = []
    node = make_node(mtrace_ros.TracedNode, 'once')
    publisher = mtrace_ros.create_traced_publisher(node, TracedString, 'once', 10)
    mtrace_ros.create_traced_subscription(
        node, TracedString, 'once', lambda msg: seen.append(mtrace_ros.current_trace()), 10)
    executor.add_node(node)
    assert spin_until(executor, lambda: publisher.get_subscription_count() > 0)
    with mtrace_ros.start_trace() as root:
        publisher.publish(TracedString())
    assert spin_until(executor, lambda: seen)
    # One hop, one child span: the parent is the root, not an intermediate wrapper span.
    assert seen[0].parent_span_id == root.span_id


def _parameters(node):
    """Return what rclpy's test_node.py checks of a node's parameters."""
    listed = node.list_parameters([], 0)
    return (sorted(listed.names), sorted(listed.prefixes),
            sorted(node.get_parameters_by_prefix('')))


@pytest.mark.parametrize('overrides', [[], [Parameter('mtrace.sinks', value='')]])
def test_traced_node_declares_no_parameter_of_its_own(make_node, overrides):
    """Issue 12: TracedNode declared mtrace.sinks, failing rclpy's own test_node.py."""
    plain = make_node(Node, 'plain_params', parameter_overrides=overrides)
    traced = make_node(mtrace_ros.TracedNode, 'traced_params', parameter_overrides=overrides)
    assert _parameters(traced) == _parameters(plain)
    assert not traced.has_parameter('mtrace.sinks')


def test_sinks_parameter_is_read_from_ros_args_undeclared(make_node, tmp_path, sinks_closed):
    path = tmp_path / 'spans.jsonl'
    node = make_node(mtrace_ros.TracedNode, 'from_args',
                     cli_args=['--ros-args', '-p', f'mtrace.sinks:=jsonl:{path}'])
    assert node_setting(node, 'mtrace.sinks') == f'jsonl:{path}'
    assert [sink.exporter.path for sink in configured_sinks()] == [str(path)]
    assert not node.has_parameter('mtrace.sinks')


def test_a_node_that_declares_the_sinks_parameter_still_gets_its_sinks(
        make_node, tmp_path, sinks_closed):
    path = tmp_path / 'spans.jsonl'
    node = make_node(
        mtrace_ros.TracedNode, 'declares', automatically_declare_parameters_from_overrides=True,
        parameter_overrides=[Parameter('mtrace.sinks', value=f'jsonl:{path}')])
    assert node.get_parameter('mtrace.sinks').value == f'jsonl:{path}'
    assert [sink.exporter.path for sink in configured_sinks()] == [str(path)]
    assert node_setting(node, 'mtrace.unset') is None
