"""One trace id end to end across three OS processes a -> b -> c, with correct parents."""

from conftest import node_script
from conftest import wait_until
import pytest


@pytest.mark.parametrize('msg_type', ['traced', 'string'])
def test_three_processes_share_one_trace_with_correct_parent_spans(processes, msg_type):
    """``traced``: TracedString (in-band header); ``string``: std_msgs/String (companion)."""
    def chain_node(name, *args):
        return processes(node_script('chain_node.py') + [name, '--type', msg_type, *args],
                         name=name)

    a = chain_node('a', '--pub', 'ab', '--root-period', '0.1')
    b = chain_node('b', '--sub', 'ab', '--pub', 'bc')
    c = chain_node('c', '--sub', 'bc')

    def complete_trace():
        traces_at_c = {record['trace_id'] for record in c.records()}
        return traces_at_c & {record['trace_id'] for record in a.records()}

    assert wait_until(complete_trace), (a.output(), b.output(), c.output())
    trace_id = sorted(complete_trace())[0]
    (root,) = [r for r in a.records() if r['trace_id'] == trace_id]
    (at_b,) = [r for r in b.records() if r['trace_id'] == trace_id]
    (at_c,) = [r for r in c.records() if r['trace_id'] == trace_id]
    assert root['parent_span_id'] is None
    assert at_b['parent_span_id'] == root['span_id']
    assert at_c['parent_span_id'] == at_b['span_id']
    assert root['data'] == at_b['data'] == at_c['data']
    if msg_type == 'traced':  # the span id in the message's own header
        assert at_b['header_span_id'] == root['span_id']
        assert at_c['header_span_id'] == at_b['span_id']
    assert len({root['span_id'], at_b['span_id'], at_c['span_id']}) == 3
    for child in (a, b, c):  # each node stops cleanly on Ctrl-C, as ROS 2 demos do
        assert child.stop() == 0, child.output()
    # Every trace b and c saw was started by a (read once all have stopped: a may print a
    # root's line after b has printed the hop it started).
    started = {r['trace_id'] for r in a.records()}
    assert {r['trace_id'] for r in b.records() + c.records()} <= started
