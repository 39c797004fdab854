"""MTRACE_ENABLED=0 switches tracing off with no code change; the wire format stays."""

from conftest import spin_until
from mtrace_msgs.msg import TracedString
import mtrace_ros
import pytest
from std_msgs.msg import String


@pytest.fixture
def tracing_off(monkeypatch):
    monkeypatch.setenv('MTRACE_ENABLED', '0')


def test_headers_are_left_alone_and_callbacks_see_no_trace(tracing_off, make_node, executor):
    seen = []
    node = make_node(name='off')
    publisher = mtrace_ros.create_traced_publisher(node, TracedString, 'off', 10)

    def callback(msg):
        seen.append((msg, mtrace_ros.current_trace()))

    subscription = mtrace_ros.create_traced_subscription(node, TracedString, 'off', callback, 10)
    assert subscription.callback is callback  # not even wrapped
    executor.add_node(node)
    assert spin_until(executor, lambda: publisher.get_subscription_count() > 0)
    with mtrace_ros.start_trace() as context:
        assert context is None
        publisher.publish(TracedString(data='off'))
    assert spin_until(executor, lambda: seen)
    msg, context = seen[0]
    assert context is None
    assert not msg.header.trace_id.any() and not msg.header.span_id.any()


def test_envelopes_still_flow(tracing_off, make_node, executor):
    seen = []
    node = make_node(name='off_env')
    publisher = mtrace_ros.create_traced_publisher(node, String, 'off_env', 10, envelope=True)
    mtrace_ros.create_traced_subscription(
        node, String, 'off_env', seen.append, 10, envelope=True)
    executor.add_node(node)
    assert spin_until(executor, lambda: publisher.get_subscription_count() > 0)
    publisher.publish(String(data='still here'))
    assert spin_until(executor, lambda: seen)
    assert seen[0].data == 'still here'


def test_traced_node_behaves_as_node(tracing_off, make_node):
    node = make_node(mtrace_ros.TracedNode, 'off_node')
    assert not isinstance(
        node.create_publisher(TracedString, 'x', 10), mtrace_ros.TracedPublisher)
