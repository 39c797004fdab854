"""Replays (``ros2 bag play``): played-back messages start traces linked to the recorded ones."""

from conftest import publish_until
from mtrace_msgs.msg import TracedString
import mtrace_ros
from mtrace_ros.core.settings import ENV_REPLAY
from mtrace_ros.core.settings import PLAYER_NODE_NAME
from mtrace_ros.core.settings import REPLAY_CONTINUE
import numpy
import pytest
from rclpy.serialization import serialize_message

RECORDED_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
RECORDED_SPAN = '00f067aa0ba902b7'


def recorded_message() -> bytes:
    """Return a message as a recording holds it: serialized, its header from hours ago."""
    msg = TracedString(data='recorded')
    msg.header.trace_id = numpy.frombuffer(bytes.fromhex(RECORDED_TRACE), numpy.uint8)
    msg.header.span_id = numpy.frombuffer(bytes.fromhex(RECORDED_SPAN), numpy.uint8)
    msg.header.flags = 1
    msg.header.stamp.sec = 1_700_000_000
    return serialize_message(msg)


def play(make_node, executor, recorded, publisher_name: str, callback_takes_info: bool = False):
    """Publish a recorded message from a plain node called ``publisher_name``; return its span."""
    seen = []
    subscriber = make_node(name='listener')
    if callback_takes_info:
        def on_message(msg, info):
            seen.append((mtrace_ros.current_trace(), msg, info))
    else:
        def on_message(msg):
            seen.append((mtrace_ros.current_trace(), msg, None))
    mtrace_ros.create_traced_subscription(subscriber, TracedString, 'replayed', on_message, 10)
    player = make_node(name=publisher_name)
    publisher = player.create_publisher(TracedString, 'replayed', 10)
    executor.add_node(subscriber)
    executor.add_node(player)
    data = recorded_message()
    assert publish_until(executor, lambda: publisher.publish(data), lambda: seen)
    context, msg, info = seen[0]
    assert msg.data == 'recorded'
    span = next(r for r in recorded if r['span_id'] == context.span_id)
    return context, span, info


def test_messages_from_the_player_start_a_new_trace_linked_to_the_recorded_one(
        make_node, executor, recorded, monkeypatch):
    monkeypatch.delenv(ENV_REPLAY, raising=False)
    context, span, info = play(make_node, executor, recorded, PLAYER_NODE_NAME, True)
    if 'publisher_gid' not in info:  # Jazzy's rclpy: no publisher identity, no detection
        assert (context.trace_id, context.parent_span_id) == (RECORDED_TRACE, RECORDED_SPAN)
        return
    assert context.trace_id != RECORDED_TRACE
    assert context.parent_span_id is None
    assert span['links'] == [{'trace_id': RECORDED_TRACE, 'span_id': RECORDED_SPAN}]
    assert span['topic'] == '/replayed' and span['node'] == 'listener'


def test_continue_keeps_the_recorded_trace(make_node, executor, recorded, monkeypatch):
    monkeypatch.setenv(ENV_REPLAY, REPLAY_CONTINUE)
    context, span, _ = play(make_node, executor, recorded, PLAYER_NODE_NAME)
    assert (context.trace_id, context.parent_span_id) == (RECORDED_TRACE, RECORDED_SPAN)
    assert span['links'] == []


@pytest.mark.parametrize('takes_info', [False, True])
def test_an_old_stamp_from_another_publisher_is_no_replay(
        make_node, executor, recorded, monkeypatch, takes_info):
    monkeypatch.delenv(ENV_REPLAY, raising=False)
    context, span, info = play(make_node, executor, recorded, 'slow_clock_robot', takes_info)
    assert (context.trace_id, context.parent_span_id) == (RECORDED_TRACE, RECORDED_SPAN)
    assert span['links'] == []
    if takes_info:  # the user's callback gets MessageInfo as rclpy gives it
        assert info['publication_sequence_number'] >= 1
    else:
        assert info is None
