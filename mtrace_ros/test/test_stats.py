"""``mtrace stats``: exact nearest-rank latencies per edge and path, and where traces stopped."""

import json
import shutil
import subprocess

from mtrace_ros.analysis.records import read_records
from mtrace_ros.analysis.stats import compute
from mtrace_ros.analysis.stats import Distribution
from mtrace_ros.analysis.stats import MAX_PATH_NODES
from mtrace_ros.analysis.stats import nearest_rank
from mtrace_ros.analysis.stats import render_text
from mtrace_ros.analysis.trees import Forest
import pytest

BASE_NS = 1_700_000_000_000_000_000
MS = 1_000_000
US = 1_000


def span(trace, span_id, parent, node, start_ns, end_ns, latency_ns=None, topic=None):
    return {
        'trace_id': f'{trace:032x}', 'span_id': f'{span_id:016x}',
        'parent_span_id': None if parent is None else f'{parent:016x}', 'node': node,
        'topic': topic, 'kind': 'root' if parent is None else 'receive',
        'start_ns': BASE_NS + start_ns, 'end_ns': BASE_NS + end_ns, 'latency_ns': latency_ns,
        'error': None, 'publishes': [], 'links': []}


def known_traces():
    """100 traces a -> b -> d with known times, 5 that stop at b, 2 that stop at a."""
    spans = []
    for i in range(1, 101):
        b_start = i * MS
        d_start = b_start + 50 * US
        spans += [
            span(i, 1, None, 'a', 0, 100 * US),
            span(i, 2, 1, 'b', b_start, b_start + 100 * US, i * US, '/a_to_b'),
            span(i, 3, 2, 'd', d_start, d_start + i * 10 * US, 2 * US, '/b_to_d')]
    for i in range(101, 106):
        spans += [span(i, 1, None, 'a', 0, 100 * US),
                  span(i, 2, 1, 'b', MS, 2 * MS, None, '/a_to_b')]
    for i in range(106, 108):
        spans += [span(i, 1, None, 'a', 0, 100 * US)]
    return spans


def stats_of(spans, path=None):
    records, bad = read_records(json.dumps(value).encode() for value in spans)
    assert bad == []
    forest = Forest(records)
    return compute(forest, forest.traces, path)


def test_nearest_rank_percentiles():
    values = list(range(1, 101))
    assert [nearest_rank(values, p) for p in (50, 90, 99, 100)] == [50, 90, 99, 100]
    assert nearest_rank([7], 99) == 7
    assert nearest_rank([1, 2, 3], 50) == 2  # ceil(1.5) = 2nd value
    assert Distribution.of([]) is None


def test_edges_give_exact_percentiles_of_hop_latency_and_callback_time():
    stats = stats_of(known_traces())
    assert stats.traces == 107
    edges = {(e.publisher, e.topic, e.subscriber): e for e in stats.edges}
    a_b = edges[('a', '/a_to_b', 'b')]
    assert a_b.latency == Distribution(100, 50 * US, 90 * US, 99 * US, 100 * US)  # 5 unknown
    assert a_b.callback.count == 105
    b_d = edges[('b', '/b_to_d', 'd')]
    assert b_d.callback == Distribution(100, 500 * US, 900 * US, 990 * US, 1000 * US)


def test_paths_give_end_to_end_the_worst_hop_and_where_traces_stopped():
    stats = stats_of(known_traces())
    paths = {p.nodes: p for p in stats.paths}
    assert set(paths) == {('a', 'b'), ('a', 'b', 'd')}
    full = paths[('a', 'b', 'd')]
    assert full.started == 107 and full.completed == 100

    def e2e(i):
        return i * MS + 50 * US + i * 10 * US
    assert full.end_to_end == Distribution(100, e2e(50), e2e(90), e2e(99), e2e(100))
    assert [part.name for part in full.parts] == ['a -> b', 'b -> d', 'd callback']
    # The p99 tail is traces 99 and 100: a -> b is i ms of about i * 1.01 ms.
    expected = sum(i * MS / e2e(i) for i in (99, 100)) / 2
    assert abs(full.parts[0].tail_share - expected) < 1e-12
    assert full.worst == 'a -> b'
    assert sum(part.tail_share for part in full.parts) == pytest.approx(1.0)
    stopped = {u.stopped_at: len(u.trace_ids) for u in full.unfinished}
    assert stopped == {'a': 2, 'b': 5}


def test_an_explicit_path_no_trace_took_says_where_they_stopped():
    [path] = stats_of(known_traces(), ['a', 'b', 'x']).paths
    assert path.completed == 0 and path.end_to_end is None and path.worst is None
    assert {u.stopped_at: len(u.trace_ids) for u in path.unfinished} == {'a': 2, 'b': 105}
    text = render_text(stats_of(known_traces(), ['a', 'b', 'x']))
    assert '0 of 107 traces went all the way' in text


def test_a_deep_chain_is_measured_without_reporting_an_endless_path():
    depth = 5 * MAX_PATH_NODES
    chain = [span(1, 1, None, 'n0', 0, 10)] + [
        span(1, k + 1, k, f'n{k}', k * 10, k * 10 + 5, 1, f'/t{k}') for k in range(1, depth)]
    stats = stats_of(chain)
    assert len(stats.edges) == depth - 1
    assert stats.paths == ()


def test_the_command_prints_text_and_json(tmp_path):
    path = tmp_path / 'spans.jsonl'
    path.write_text(''.join(json.dumps(value) + '\n' for value in known_traces()))
    mtrace = shutil.which('mtrace')
    assert mtrace, 'mtrace is not on PATH: run make build and source activate.sh'
    text = subprocess.run([mtrace, 'stats', str(path)], capture_output=True, text=True,
                          timeout=60, check=True).stdout
    assert 'Path a -> b -> d: 100 of 107 traces went all the way' in text
    assert '<- most' in text
    result = subprocess.run([mtrace, 'stats', '--json', '--path', 'a,b,d', str(path)],
                            capture_output=True, text=True, timeout=60, check=True)
    [full] = json.loads(result.stdout)['paths']
    assert full['contributes_most'] == 'a -> b'
    assert full['end_to_end_ns']['p99'] == 99 * MS + 50 * US + 990 * US
    empty = subprocess.run([mtrace, 'stats', str(tmp_path / 'none.jsonl')],
                           capture_output=True, text=True, timeout=60)
    assert empty.returncode == 1 and 'cannot read' in empty.stderr


def test_traces_that_published_before_collection_started_are_not_called_stopped():
    """A dead end flagged 'before collection started' may have gone on unseen (issue 12 flag)."""
    spans = known_traces()
    early, late = spans[-2], spans[-1]  # traces 106 and 107: only 'a'
    early['publishes'] = late['publishes'] = [{'topic': '/a_to_b', 'subscriber_count': 1}]
    late['start_ns'] += 2 * MS
    late['end_ns'] += 2 * MS
    records, _ = read_records(json.dumps(value).encode() for value in spans)
    forest = Forest(records, matched_ns=[BASE_NS + MS])  # the collector matched at 1 ms
    [path] = compute(forest, forest.traces, ['a', 'b', 'd']).paths
    ways = {(u.stopped_at, u.before_collection): u.trace_ids for u in path.unfinished}
    assert ways == {('a', False): (f'{107:032x}',), ('a', True): (f'{106:032x}',),
                    ('b', False): tuple(f'{i:032x}' for i in range(101, 106))}
    text = render_text(compute(forest, forest.traces, ['a', 'b', 'd']))
    assert '1 stopped after a: ' in text
    assert '1 unknown after a (published before collection started): ' in text
