"""
Faults: kill the middle node b of the tree and restart it.

The other nodes keep running, traces resume after the restart, and the
traces of the outage show where they stopped: a's publish to b reached no span.
"""

import signal

from conftest import node_script
from conftest import wait_until

from mtrace_ros.analysis.records import read_records
from mtrace_ros.analysis.trees import Forest

#: name -> (subscribes to, publishes on)
TREE = {'a': (None, ['ab', 'ac']), 'b': ('ab', ['bd']), 'c': ('ac', ['cf']),
        'd': ('bd', []), 'f': ('cf', [])}


def _forest(tmp_path):
    lines = []
    for path in sorted(tmp_path.glob('*.jsonl')):
        lines.extend(path.read_bytes().splitlines())
    return Forest(read_records(lines)[0])


def _nodes(trace):
    return sorted(node.span.node for node in trace.nodes.values())


def test_killing_and_restarting_b_shows_the_outage_and_loses_nothing_else(
        processes, tmp_path):
    def start(name, incarnation=1):
        sub, pub = TREE[name]
        args = node_script('chain_node.py') + [name]
        args += ['--sub', sub] if sub else ['--root-period', '0.1']
        for topic in pub:
            args += ['--pub', topic]
        sinks = f'jsonl:{tmp_path / name}-{incarnation}.jsonl'
        return processes(args, name=f'{name}{incarnation}', env={'MTRACE_SINKS': sinks})

    children = {name: start(name) for name in TREE}

    def complete_traces(since_ns=0):
        return [trace for trace in _forest(tmp_path).traces
                if trace.start_ns > since_ns and _nodes(trace) == sorted(TREE)]

    assert wait_until(complete_traces, timeout_sec=30)
    children['b'].popen.send_signal(signal.SIGKILL)
    children['b'].popen.wait(10)
    killed_at = max(trace.start_ns for trace in _forest(tmp_path).traces)

    def outage_traces():
        """Traces started after the kill that reached c and f but not b."""
        return [trace for trace in _forest(tmp_path).traces
                if trace.start_ns > killed_at and _nodes(trace) == ['a', 'c', 'f']]

    assert wait_until(lambda: len(outage_traces()) >= 5, timeout_sec=30)
    assert all(children[name].popen.poll() is None for name in 'acdf')

    children['b'] = start('b', incarnation=2)
    restarted_at = max(trace.start_ns for trace in _forest(tmp_path).traces)
    assert wait_until(lambda: complete_traces(restarted_at), timeout_sec=30)

    for trace in outage_traces():
        (root,) = trace.tops
        assert [child.span.node for child in root.children] == ['c']
        assert [miss.topic for miss in root.missed] == ['/ab'], (
            'a published to b during the outage: that hop reached no span')
