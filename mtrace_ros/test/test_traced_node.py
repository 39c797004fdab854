"""TracedNode traces every topic; data topics keep their type, plus hidden companion topics."""

from conftest import spin_until
from mtrace_msgs.msg import TracedString
import mtrace_ros
from mtrace_ros.core.settings import node_setting
from mtrace_ros.export import configured_sinks
from mtrace_ros.instrumentation.companion_publisher import CompanionPublisher
import pytest
from rcl_interfaces.msg import ParameterEvent
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.publisher import Publisher
from rclpy.qos import QoSProfile
from rclpy.qos import ReliabilityPolicy
from std_msgs.msg import String

BEST_EFFORT = ReliabilityPolicy.BEST_EFFORT


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
    node.create_publisher(String, 'plain_out', QoSProfile(depth=5, reliability=BEST_EFFORT))
    node.create_subscription(String, 'plain_in', lambda msg: None, 10)
    node.create_publisher(TracedString, 'traced_out', 10)
    node.create_subscription(TracedString, 'traced_in', lambda msg: None, 10)


def _qos(node, topic):
    return [(e.qos_profile.reliability, e.qos_profile.durability, e.qos_profile.history)
            for e in node.get_publishers_info_by_topic(topic)]


def test_graph_is_a_plain_nodes_plus_hidden_companion_topics(make_node, executor):
    """The new promise: data topics keep type and QoS; one hidden companion topic each."""
    plain = make_node(Node, 'twin_plain')
    traced = make_node(mtrace_ros.TracedNode, 'twin_traced')
    _build(plain)
    _build(traced)
    executor.add_node(plain)
    executor.add_node(traced)
    record = ['mtrace_msgs/msg/TraceRecord']
    publishers = _graph(plain)[0] + [('/plain_out/_mtrace', record)]
    subscribers = _graph(plain)[1] + [('/plain_in/_mtrace', record)]
    expected = (sorted(publishers), sorted(subscribers), _graph(plain)[2])

    def as_expected():
        return (_graph(traced) == expected
                and ('/traced_out', ['mtrace_msgs/msg/TracedString']) in _graph(traced)[0])

    assert spin_until(executor, as_expected), (expected, _graph(traced))
    assert ('/parameter_events', ['rcl_interfaces/msg/ParameterEvent']) in _graph(traced)[0]
    assert ('/rosout', ['rcl_interfaces/msg/Log']) in _graph(traced)[0]
    qos = _qos(traced, '/plain_out')
    assert len(qos) == 2 and qos[0] == qos[1]  # the plain twin's and the traced one's
    assert [q[0] for q in _qos(traced, '/plain_out/_mtrace')] == [BEST_EFFORT]


def test_system_entities_are_rclpys_whatever_their_type(make_node):
    """Told apart by being made in Node.__init__, not by type: user ParameterEvents are traced."""
    node = make_node(mtrace_ros.TracedNode, 'system')
    plain = node.create_publisher(String, 'plain', 10)
    traced = node.create_publisher(TracedString, 'traced', 10)
    own_events = node.create_publisher(ParameterEvent, 'my_events', 10)
    assert isinstance(plain, CompanionPublisher) and plain.mtrace_gid is not None
    assert isinstance(traced, mtrace_ros.TracedPublisher)
    assert isinstance(own_events, CompanionPublisher)
    (system,) = [p for p in node.publishers if p.topic_name == '/parameter_events']
    assert type(system) is Publisher
    assert not [p for p in node.publishers if p.topic_name == '/parameter_events/_mtrace']


def _traced_talker_plain_listener(make_node, executor, msg_type, topic):
    """Return a TracedNode's publisher on ``topic``, a plain Node, and what that one received."""
    seen = []
    traced = make_node(mtrace_ros.TracedNode, 'traced_talker')
    plain = make_node(Node, 'plain_listener')
    publisher = traced.create_publisher(msg_type, topic, 10)
    plain.create_subscription(msg_type, topic, seen.append, 10)
    executor.add_node(traced)
    executor.add_node(plain)
    assert spin_until(executor, lambda: publisher.get_subscription_count() > 0)
    return publisher, plain, seen


def test_plain_subscriber_reads_the_data_topic_of_its_one_type(make_node, executor):
    publisher, plain, seen = _traced_talker_plain_listener(
        make_node, executor, String, 'chatter')
    publisher.publish(String(data='hi'))
    assert spin_until(executor, lambda: seen)
    assert seen == [String(data='hi')]
    topics = dict(plain.get_topic_names_and_types())
    assert topics['/chatter'] == ['std_msgs/msg/String']


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
    publisher, _, seen = _traced_talker_plain_listener(
        make_node, executor, TracedString, 'shared')
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
