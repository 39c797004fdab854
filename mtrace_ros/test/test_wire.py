"""TracedHeader on the wire: written in place by inject, byte for byte across processes."""

from conftest import node_script
from conftest import spin_until

from mtrace_msgs.msg import TracedHeader
from mtrace_msgs.msg import TracedString
from mtrace_ros.core.context import new_root
from mtrace_ros.wire import traced_header
import numpy

from nodes import fixed_header_talker as talker  # noqa: I100 (test-local module)


def test_traced_string_arrives_intact_from_another_process(make_node, executor, processes):
    received = []
    node = make_node(name='wire_listener')
    node.create_subscription(TracedString, 'wire', received.append, 10)
    executor.add_node(node)
    child = processes(node_script('fixed_header_talker.py') + ['wire'], name='talker')

    assert spin_until(executor, lambda: received), child.output()
    msg = received[0]
    assert list(msg.header.trace_id) == talker.TRACE_ID
    assert list(msg.header.span_id) == talker.SPAN_ID
    assert msg.header.flags == talker.FLAGS
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == talker.STAMP
    assert msg.data == talker.DATA


def _ids(header):
    return header.trace_id.tobytes(), header.span_id.tobytes(), header.parent_span_id.tobytes()


def test_inject_copies_into_arrays_only_the_header_holds():
    msg = TracedString()
    owned = [id(msg.header.trace_id), id(msg.header.span_id), id(msg.header.parent_span_id)]
    for context in (new_root(), new_root().child()):
        traced_header.inject(msg.header, context, stamp_ns=1_700_000_000_123_456_789)
        assert _ids(msg.header) == (
            context.trace_id_bytes, context.span_id_bytes,
            context.parent_span_id_bytes or bytes(8))
        # Copied in place: the header keeps its arrays.
        assert [id(msg.header.trace_id), id(msg.header.span_id),
                id(msg.header.parent_span_id)] == owned
        assert traced_header.extract(msg.header).span_id == context.span_id
        assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (1_700_000_000, 123_456_789)


def test_inject_leaves_arrays_a_user_holds_as_they_were():
    msg = TracedString()
    first = new_root()
    traced_header.inject(msg.header, first)
    held_trace_id = msg.header.trace_id
    window = msg.header.span_id[:4]  # a view holds its array too
    second = new_root()
    traced_header.inject(msg.header, second)
    assert held_trace_id.tobytes() == first.trace_id_bytes
    assert window.tobytes() == first.span_id_bytes[:4]
    assert _ids(msg.header)[:2] == (second.trace_id_bytes, second.span_id_bytes)


def test_inject_fills_arrays_that_cannot_be_written_in_place():
    # With field checks on, the generated setters keep the array they are given:
    # read-only, or of another shape with the right size.
    header = TracedHeader(check_fields=True)
    header.trace_id = numpy.frombuffer(bytes(16), numpy.uint8)
    header.span_id = numpy.zeros((2, 4), numpy.uint8)
    context = new_root().child()
    traced_header.inject(header, context)
    assert _ids(header) == (
        context.trace_id_bytes, context.span_id_bytes, context.parent_span_id_bytes)
    assert header.flags == context.flags
