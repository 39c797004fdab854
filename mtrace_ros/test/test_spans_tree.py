"""Spans of a real six-process run rebuild the tree a -> b -> (d, e), a -> c -> f."""

import json

from conftest import collect_span_topic
from conftest import node_script
from conftest import spin_until
from conftest import wait_until

#: name -> (subscribes to, publishes on); the root publishes on a timer.
TREE = {
    'a': (None, 'a'),
    'b': ('a', 'b'),
    'c': ('a', 'c'),
    'd': ('b', None),
    'e': ('b', None),
    'f': ('c', None),
}
PARENT = {'b': 'a', 'c': 'a', 'd': 'b', 'e': 'b', 'f': 'c'}
SUBSCRIBERS = {'a': 2, 'b': 2, 'c': 1}


def _start(processes, tmp_path):
    """Start the six nodes; a, b, c get their sinks from MTRACE_SINKS, d, e, f by parameter."""
    children = []
    for name, (sub, pub) in TREE.items():
        args = node_script('chain_node.py') + [name]
        args += ['--sub', sub] if sub else ['--root-period', '0.2']
        args += ['--pub', pub] if pub else []
        sinks = f'topic,jsonl:{tmp_path / name}.jsonl'
        if name in 'abc':
            env = {'MTRACE_SINKS': sinks}
        else:
            env = {'MTRACE_SINKS': ''}
            args += ['--ros-args', '-p', f'mtrace.sinks:={sinks}']
        children.append(processes(args, name=name, env=env))
    return children


def _complete_trace(records):
    """Return the spans of the first trace with one span from each of the six nodes."""
    traces = {}
    for record in records:
        traces.setdefault(record['trace_id'], []).append(record)
    for trace in traces.values():
        if sorted(record['node'] for record in trace) == sorted(TREE):
            return {record['node']: record for record in trace}
    return None


def test_spans_from_six_processes_rebuild_the_tree(make_node, executor, processes, tmp_path):
    collector = make_node(name='collector')
    received = collect_span_topic(collector)
    executor.add_node(collector)
    children = _start(processes, tmp_path)

    assert spin_until(executor, lambda: _complete_trace(received), timeout_sec=30), '\n'.join(
        child.output() for child in children)
    spans = _complete_trace(received)

    root = spans['a']
    assert root['kind'] == 'root' and root['parent_span_id'] is None and root['topic'] is None
    for name, parent in PARENT.items():
        span = spans[name]
        assert span['kind'] == 'receive'
        assert span['parent_span_id'] == spans[parent]['span_id'], name
        assert span['topic'] == '/' + TREE[name][0]
        assert span['latency_ns'] is not None and span['latency_ns'] >= 0
    for name, span in spans.items():
        published = TREE[name][1]
        expected = (
            [{'topic': f'/{published}', 'subscriber_count': SUBSCRIBERS[name]}]
            if published else [])
        assert [{key: publish[key] for key in ('topic', 'subscriber_count')}
                for publish in span['publishes']] == expected, name
        assert all(span['start_ns'] <= publish['time_ns'] <= span['end_ns']
                   for publish in span['publishes']), name
        assert span['error'] is None and span['links'] == []

    def in_files():
        return {
            name: [
                record for record in map(json.loads, (tmp_path / f'{name}.jsonl').open())
                if record['trace_id'] == root['trace_id']]
            for name in TREE if (tmp_path / f'{name}.jsonl').exists()}
    assert wait_until(lambda: {name: [span] for name, span in spans.items()} == in_files())
