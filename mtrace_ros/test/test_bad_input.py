"""
Bad input from the wire never kills a node, never loses a usable message, and is said once.

Messages come from other processes: untrusted. A header without a usable trace
still delivers the message (in a new root trace), a corrupt envelope is
reported as an error, and each problem is logged once per topic, then counted.
"""

from conftest import spin_until
from mtrace_msgs.msg import TracedEnvelope
from mtrace_msgs.msg import TracedString
import mtrace_ros
from mtrace_ros.export.registry import remove_sink
from mtrace_ros.instrumentation import notices
import numpy
import pytest
from rcl_interfaces.msg import Log
from rclpy.serialization import serialize_message
from std_msgs.msg import String

TRACE = bytes(range(1, 17))
SPAN = bytes(range(1, 9))


def _traced_subscriber(make_node, executor, msg_type, topic, **kwargs):
    received = []
    node = make_node(name='receiver')
    mtrace_ros.create_traced_subscription(
        node, msg_type, topic, lambda msg: received.append((msg, mtrace_ros.current_trace())),
        10, **kwargs)
    executor.add_node(node)
    return node, received


def _plain_publisher(make_node, executor, msg_type, topic):
    node = make_node(name='raw_sender')
    publisher = node.create_publisher(msg_type, topic, 10)
    executor.add_node(node)
    assert spin_until(executor, lambda: publisher.get_subscription_count() > 0)
    return publisher


def _hand_made(flags=1, stamp=(0, 0)):
    """Return a TracedString whose header was written by hand, not by mtrace."""
    msg = TracedString()
    msg.header.trace_id = numpy.frombuffer(TRACE, dtype=numpy.uint8)
    msg.header.span_id = numpy.frombuffer(SPAN, dtype=numpy.uint8)
    msg.header.flags = flags
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
    return msg


def _warnings_about(lines, topic, text):
    return [line for line in lines if topic in line.msg and text in line.msg]


def test_untraced_publisher_messages_run_in_new_roots_warned_once(make_node, executor, rosout):
    _, received = _traced_subscriber(make_node, executor, TracedString, 'untraced')
    publisher = _plain_publisher(make_node, executor, TracedString, 'untraced')
    for index in range(5):
        publisher.publish(TracedString(data=str(index)))
    assert spin_until(executor, lambda: len(received) == 5)
    contexts = [context for _, context in received]
    assert all(context is not None and context.parent_span_id is None for context in contexts)
    assert len({context.trace_id for context in contexts}) == 5
    assert spin_until(executor, lambda: _warnings_about(rosout, '/untraced', 'no trace context'))
    warnings = _warnings_about(rosout, '/untraced', 'no trace context')
    assert len(warnings) == 1 and warnings[0].level == Log.WARN
    assert 'starting a new trace' in warnings[0].msg


def test_unknown_flag_bits_are_dropped_and_said(make_node, executor, rosout):
    _, received = _traced_subscriber(make_node, executor, TracedString, 'flags')
    publisher = _plain_publisher(make_node, executor, TracedString, 'flags')
    publisher.publish(_hand_made(flags=0xF1))
    assert spin_until(executor, lambda: received)
    context = received[0][1]
    assert context.trace_id == TRACE.hex() and context.parent_span_id == SPAN.hex()
    assert context.sampled and context.flags == 0x01
    assert spin_until(executor, lambda: _warnings_about(rosout, '/flags', '0xf0'))


def test_a_valid_foreign_header_is_continued_with_its_flag(make_node, executor):
    """Another library's header: its trace and span continue; an unsampled trace stays so."""
    _, received = _traced_subscriber(make_node, executor, TracedString, 'foreign_header')
    publisher = _plain_publisher(make_node, executor, TracedString, 'foreign_header')
    publisher.publish(_hand_made(flags=0))
    publisher.publish(_hand_made(flags=1))
    assert spin_until(executor, lambda: len(received) == 2)
    (_, unsampled), (_, sampled) = received
    for context in (unsampled, sampled):
        assert context.trace_id == TRACE.hex() and context.parent_span_id == SPAN.hex()
        assert context.span_id not in (SPAN.hex(), '0' * 16)
    assert (unsampled.flags, sampled.flags) == (0, 1)
    assert unsampled.span_id != sampled.span_id
    assert not [name for (_, name, _) in notices.counts() if name == '/foreign_header']


@pytest.mark.parametrize('stamp', [(0, 0), (4_000_000_000, 0), (1, 999_999_999)])
def test_implausible_stamp_gives_unknown_latency_not_a_drop(
        make_node, executor, recorded, stamp):
    _, received = _traced_subscriber(make_node, executor, TracedString, 'stamps')
    publisher = _plain_publisher(make_node, executor, TracedString, 'stamps')
    publisher.publish(_hand_made(stamp=stamp))
    assert spin_until(executor, lambda: received)
    (span,) = [record for record in recorded if record['topic'] == '/stamps']
    assert span['latency_ns'] is None
    assert span['trace_id'] == TRACE.hex()


@pytest.mark.parametrize(('topic', 'type_name', 'payload', 'problem'), [
    ('corrupt', 'std_msgs/msg/String', b'\xff' * 3, 'corrupt envelope payload'),
    ('unknown', 'no_such_pkg/msg/Nothing', b'', 'another type'),
    ('foreign', 'std_msgs/msg/Int32', b'\x00\x01\x00\x00\x2a\x00\x00\x00', 'another type'),
])
def test_corrupt_or_foreign_envelope_is_an_error_and_the_node_goes_on(
        make_node, executor, rosout, topic, type_name, payload, problem):
    _, received = _traced_subscriber(make_node, executor, String, topic, envelope=True)
    publisher = _plain_publisher(make_node, executor, TracedEnvelope, topic)
    before = sum(count for (_, name, _), count in notices.counts().items() if name == f'/{topic}')
    bad = TracedEnvelope(type_name=type_name)
    bad.payload = list(payload)
    publisher.publish(bad)
    good = mtrace_ros.create_traced_publisher(
        make_node(name='good_sender'), String, topic, 10, envelope=True)
    assert spin_until(executor, lambda: good.get_subscription_count() > 0)
    good.publish(String(data='fine'))
    assert spin_until(executor, lambda: received)
    assert [msg.data for msg, _ in received] == ['fine']
    assert spin_until(executor, lambda: any(
        line.level == Log.ERROR and problem in line.msg and f'/{topic}' in line.msg
        for line in rosout))
    after = sum(count for (_, name, _), count in notices.counts().items() if name == f'/{topic}')
    assert after == before + 1


def test_control_characters_from_the_wire_are_escaped_in_mtrace_lines(
        make_node, executor, rosout):
    _, received = _traced_subscriber(make_node, executor, String, 'hostile', envelope=True)
    publisher = _plain_publisher(make_node, executor, TracedEnvelope, 'hostile')
    publisher.publish(TracedEnvelope(type_name='evil\x1b[31m\n%s{}/msg/X'))
    assert spin_until(executor, lambda: any('evil' in line.msg for line in rosout))
    (line,) = [line for line in rosout if 'evil' in line.msg]
    assert '\x1b' not in line.msg and '\n' not in line.msg
    assert '\\x1b[31m' in line.msg
    assert received == []


def test_a_failing_sink_never_breaks_the_callback(make_node, executor):
    class BrokenExporter:
        def export(self, records):
            raise RuntimeError('sink bug')

        def shutdown(self):
            pass

    broken = mtrace_ros.add_sink(BrokenExporter(), synchronous=True)
    try:
        _, received = _traced_subscriber(make_node, executor, TracedString, 'broken_sink')
        publisher = mtrace_ros.create_traced_publisher(
            make_node(name='sender'), TracedString, 'broken_sink', 10)
        assert spin_until(executor, lambda: publisher.get_subscription_count() > 0)
        with mtrace_ros.start_trace():
            publisher.publish(TracedString(data='still delivered'))
        assert spin_until(executor, lambda: received)
    finally:
        remove_sink(broken)
    assert received[0][0].data == 'still delivered'
    assert broken.stats().dropped >= 1


def test_envelope_publisher_made_by_hand_says_how_to_make_it(make_node):
    node = make_node(name='by_hand')
    publisher = node.create_publisher(
        TracedEnvelope, 'by_hand', 10, publisher_class=mtrace_ros.EnvelopePublisher)
    with pytest.raises(TypeError, match='create_traced_publisher'):
        publisher.publish(None)


def _envelope(type_name, payload):
    envelope = TracedEnvelope(type_name=type_name)
    envelope.payload = list(payload)
    return envelope


def _said(rosout, level, text):
    return any(line.level == level and text in line.msg for line in rosout)


def test_a_warning_then_an_error_on_one_subscription_both_said(make_node, executor, rosout):
    """Issue 12: rclpy refused a second severity at notices' one call site, killing the node."""
    _, received = _traced_subscriber(make_node, executor, String, 'mixed', envelope=True)
    publisher = _plain_publisher(make_node, executor, TracedEnvelope, 'mixed')
    publisher.publish(_envelope('std_msgs/msg/String', serialize_message(String(data='bare'))))
    assert spin_until(executor, lambda: received)
    publisher.publish(_envelope('std_msgs/msg/Int32', b''))
    publisher.publish(_envelope('std_msgs/msg/String', serialize_message(String(data='after'))))
    assert spin_until(executor, lambda: len(received) == 2)
    assert [msg.data for msg, _ in received] == ['bare', 'after']
    assert spin_until(executor, lambda: _said(rosout, Log.WARN, 'no trace context'))
    assert spin_until(executor, lambda: _said(rosout, Log.ERROR, 'another type'))


def test_traced_node_says_a_flag_warning_then_a_corrupt_envelope(make_node, executor, rosout):
    received = []
    node = make_node(mtrace_ros.TracedNode, 'mixed_node')
    node.create_subscription(TracedString, 'flag_bits', received.append, 10)
    mtrace_ros.create_traced_subscription(
        node, String, 'corrupt_next', received.append, 10, envelope=True)
    executor.add_node(node)
    flags = _plain_publisher(make_node, executor, TracedString, 'flag_bits')
    flags.publish(_hand_made(flags=0xF1))
    assert spin_until(executor, lambda: received)
    corrupt = _plain_publisher(make_node, executor, TracedEnvelope, 'corrupt_next')
    corrupt.publish(_envelope('std_msgs/msg/String', b'\xff' * 3))
    flags.publish(_hand_made())
    assert spin_until(executor, lambda: len(received) == 2)
    assert spin_until(executor, lambda: _said(rosout, Log.WARN, '0xf0'))
    assert spin_until(executor, lambda: _said(rosout, Log.ERROR, 'corrupt envelope payload'))


def test_bidi_and_line_separators_from_the_wire_are_escaped(make_node, executor, rosout):
    _, received = _traced_subscriber(make_node, executor, String, 'bidi', envelope=True)
    publisher = _plain_publisher(make_node, executor, TracedEnvelope, 'bidi')
    publisher.publish(_envelope('evil\u202egnp.exe\u2028\u2066/msg/X', b''))
    assert spin_until(executor, lambda: any('evil' in line.msg for line in rosout))
    (line,) = [line for line in rosout if 'evil' in line.msg]
    assert not set('\u202e\u2028\u2066') & set(line.msg)
    assert '\\u202egnp.exe\\u2028\\u2066' in line.msg


def test_a_huge_type_name_is_echoed_cut_with_its_length(make_node, executor, rosout):
    """Issue 12: a 2 MB type_name made a 2 MB log line."""
    _, received = _traced_subscriber(make_node, executor, String, 'huge_type', envelope=True)
    publisher = _plain_publisher(make_node, executor, TracedEnvelope, 'huge_type')
    publisher.publish(_envelope('x' * 2_000_000, b''))
    assert spin_until(executor, lambda: any('/huge_type' in line.msg for line in rosout))
    (line,) = [line for line in rosout if '/huge_type' in line.msg]
    assert len(line.msg) < 1000
    assert '(2000000 characters)' in line.msg and 'std_msgs/msg/String' in line.msg
