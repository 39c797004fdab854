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
    # Read once all have stopped (a may print a root's line after b printed the hop it started).
    _every_hop_in_a_trace_of_a_but_discovery(a.records(), b, c, msg_type)


def _tick(record) -> int:
    return int(record['data'].split()[1].split('.')[0])  # 'a 12.0' -> 12


def _every_hop_in_a_trace_of_a_but_discovery(roots, b, c, msg_type) -> None:
    """
    Check every hop at b and c: the message's data, its trace and its parent span.

    On the companion route, data and records are matched by discovery
    separately (README, limits): a message that comes before its publisher's
    record writer is matched with the reader starts a new trace, reported.
    That happens only before the first message that went all the way in a's
    trace (a match, once made, stays), and never attaches a wrong trace.
    """
    root_of = {r['trace_id']: r for r in roots}
    at_b, at_c = b.records(), c.records()
    whole = [_tick(r) for r in at_c if r['trace_id'] in root_of]
    assert whole, (at_b, at_c)
    hop_at_b = {(r['trace_id'], r['data']): r for r in at_b}
    strays = {b: [], c: []}
    for r in at_b:
        root = root_of.get(r['trace_id'])
        if root is None:  # a new root at b
            assert r['parent_span_id'] is None, r
            strays[b].append(r)
        else:
            assert (r['data'], r['parent_span_id']) == (root['data'], root['span_id']), r
    for r in at_c:
        if r['parent_span_id'] is None:  # a new root at c
            strays[c].append(r)
            continue
        parent = hop_at_b.get((r['trace_id'], r['data']))
        assert parent is not None and r['parent_span_id'] == parent['span_id'], r
        if r['trace_id'] not in root_of:  # the hop of a trace b started
            strays[c].append(r)
    if msg_type == 'traced':  # the header is in the message: nothing to miss
        assert not strays[b] and not strays[c], strays
        return
    assert all(_tick(r) < min(whole) for r in strays[b] + strays[c]), (min(whole), strays)
    for node, found in strays.items():
        if any(r['parent_span_id'] is None for r in found):  # each new root is reported
            assert 'starting a new trace' in node.output(), node.output()
