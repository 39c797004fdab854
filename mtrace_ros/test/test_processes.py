"""One trace id end to end across three OS processes a -> b -> c, with correct parents."""

import json

from conftest import node_script
from conftest import wait_until


def _records(child):
    records = []
    for line in child.lines():
        if line.startswith('{'):
            records.append(json.loads(line))
    return records


def test_three_processes_share_one_trace_with_correct_parent_spans(processes):
    a = processes(node_script('chain_node.py') + ['a', '--pub', 'ab', '--root-period', '0.1'],
                  name='a')
    b = processes(node_script('chain_node.py') + ['b', '--sub', 'ab', '--pub', 'bc'], name='b')
    c = processes(node_script('chain_node.py') + ['c', '--sub', 'bc'], name='c')

    def complete_trace():
        traces_at_c = {record['trace_id'] for record in _records(c)}
        return traces_at_c & {record['trace_id'] for record in _records(a)}

    assert wait_until(complete_trace), (a.output(), b.output(), c.output())
    trace_id = sorted(complete_trace())[0]
    (root,) = [r for r in _records(a) if r['trace_id'] == trace_id]
    (at_b,) = [r for r in _records(b) if r['trace_id'] == trace_id]
    (at_c,) = [r for r in _records(c) if r['trace_id'] == trace_id]
    assert root['parent_span_id'] is None
    assert at_b['parent_span_id'] == at_b['header_span_id'] == root['span_id']
    assert at_c['parent_span_id'] == at_c['header_span_id'] == at_b['span_id']
    assert len({root['span_id'], at_b['span_id'], at_c['span_id']}) == 3
    for child in (a, b, c):  # each node stops cleanly on Ctrl-C, as ROS 2 demos do
        assert child.stop() == 0, child.output()
    # Every trace b and c saw was started by a (read once all have stopped: a may print a
    # root's line after b has printed the hop it started).
    started = {r['trace_id'] for r in _records(a)}
    assert {r['trace_id'] for r in _records(b) + _records(c)} <= started
