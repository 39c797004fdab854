"""TracedHeader crosses an OS process boundary byte for byte."""

from conftest import node_script
from conftest import spin_until

from mtrace_msgs.msg import TracedString

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
