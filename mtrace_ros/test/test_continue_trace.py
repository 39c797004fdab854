"""continue_trace: later work (timers, caches of the latest message) in a message's trace."""

import json

from conftest import spin_until
from mtrace_msgs.msg import TracedString
import mtrace_ros
from mtrace_ros.analysis.records import read_records
from mtrace_ros.analysis.trees import Forest
from mtrace_ros.analysis.trees import render_text
from mtrace_ros.wire import traced_header
import pytest
from std_msgs.msg import String


def test_timer_processes_the_latest_message_in_its_trace(make_node, executor):
    """The problem statement's case: a slower timer handles what a faster topic delivered."""
    latest = {}
    processed = []
    node = make_node(mtrace_ros.TracedNode, 'cache')
    publisher = node.create_publisher(TracedString, 'fast', 10)
    node.create_subscription(TracedString, 'fast', lambda msg: latest.update(msg=msg), 10)

    def on_timer():
        if 'msg' in latest:
            with mtrace_ros.continue_trace(latest.pop('msg')) as context:
                processed.append(context)

    node.create_timer(0.02, on_timer)
    executor.add_node(node)
    assert spin_until(executor, lambda: publisher.get_subscription_count() > 0)
    with mtrace_ros.start_trace() as root:
        publisher.publish(TracedString())
    assert spin_until(executor, lambda: processed)
    context = processed[0]
    assert context.trace_id == root.trace_id
    assert context.parent_span_id == root.span_id
    assert mtrace_ros.current_trace() is None


def test_continued_span_shows_what_it_is_in_the_tree(make_node, executor, recorded):
    """Issue 18: a continue_trace span (a receive with no topic) showed as '? +? ms'."""
    node = make_node(mtrace_ros.TracedNode, 'later')
    publisher = node.create_publisher(TracedString, 'first', 10)
    received = []
    node.create_subscription(TracedString, 'first', received.append, 10)
    executor.add_node(node)
    assert spin_until(executor, lambda: publisher.get_subscription_count() > 0)
    with mtrace_ros.start_trace():
        publisher.publish(TracedString())
    assert spin_until(executor, lambda: received)
    with mtrace_ros.continue_trace(received[0], node='later'):
        pass
    records, bad = read_records(json.dumps(record).encode() for record in recorded)
    assert bad == []
    text = render_text(Forest(records))
    assert '?' not in text
    assert text.splitlines()[-1].startswith('└─ later  [continue_trace]  took '), text


def test_saved_context_continues_for_envelope_types(make_node, executor):
    saved = []
    node = make_node(name='saver')
    publisher = mtrace_ros.create_traced_publisher(node, String, 'env', 10, envelope=True)
    mtrace_ros.create_traced_subscription(
        node, String, 'env', lambda msg: saved.append(mtrace_ros.current_trace()), 10,
        envelope=True)
    executor.add_node(node)
    assert spin_until(executor, lambda: publisher.get_subscription_count() > 0)
    with mtrace_ros.start_trace() as root:
        publisher.publish(String())
    assert spin_until(executor, lambda: saved)
    with mtrace_ros.continue_trace(saved[0]) as context:
        assert context.trace_id == root.trace_id
        assert context.parent_span_id == saved[0].span_id


def test_header_is_accepted():
    with mtrace_ros.start_trace() as root:
        msg = TracedString()
        traced_header.inject(msg.header, root)
    with mtrace_ros.continue_trace(msg.header) as context:
        assert (context.trace_id, context.parent_span_id) == (root.trace_id, root.span_id)


def test_untraced_message_starts_a_new_root():
    with mtrace_ros.continue_trace(TracedString()) as context:
        assert context.parent_span_id is None


def test_message_that_cannot_carry_a_trace_is_a_type_error():
    with pytest.raises(TypeError, match='TracedHeader'):
        with mtrace_ros.continue_trace(String()):
            pass
