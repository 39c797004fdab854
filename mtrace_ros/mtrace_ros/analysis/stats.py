"""
Latency across many traces: per edge, per path, end to end, and which hop eats it.

An *edge* is publisher node -> topic -> subscriber node: its hop latency
(publish stamp to callback start) and the subscriber's callback duration. A
*path* is the node sequence from a root to a leaf of a trace's tree; its
end-to-end latency is root start to leaf callback end, split into parts that
add up exactly: for each hop, previous span start to this callback's start
(the previous node's work before it published, plus the transport), and the
leaf's own callback. The hop that "contributes most" to a path is the part
with the largest mean share of end-to-end time among the traces at or above
the path's p99. Percentiles are nearest-rank, on every value (no sketch).

Every trace is walked once; paths are interned as a trie of node names, so
traces that stopped early are counted per path without comparing traces with
each other: the work is linear in the number of spans (plus one sort per
distribution). A trace whose last span on the path published before the
collector matched every span publisher ("before collection started") is not
said to have stopped: its next span may simply be unrecorded.
"""

import math
from typing import Dict
from typing import Iterator
from typing import List
from typing import NamedTuple
from typing import Optional
from typing import Sequence
from typing import Set
from typing import Tuple

from mtrace_ros.analysis.trees import CONTINUED
from mtrace_ros.analysis.trees import Forest
from mtrace_ros.analysis.trees import format_ms
from mtrace_ros.analysis.trees import SpanNode
from mtrace_ros.analysis.trees import Trace
from mtrace_ros.core.text import printable

PERCENTILES = (50, 90, 99)
#: Paths longer than this are not reported as paths (their edges still are): keeps the
#: walk linear on hostile, arbitrarily deep chains.
MAX_PATH_NODES = 32
#: Trace ids shown in text per way a path was left unfinished (JSON lists them all).
EXAMPLE_IDS = 3


class Distribution(NamedTuple):
    """Count, nearest-rank percentiles and maximum of a set of durations in ns."""

    count: int
    p50: int
    p90: int
    p99: int
    maximum: int

    @classmethod
    def of(cls, values: Sequence[int]) -> Optional['Distribution']:
        """Return the distribution of ``values``, or ``None`` if there are none."""
        if not values:
            return None
        ordered = sorted(values)
        return cls(len(ordered), *(nearest_rank(ordered, p) for p in PERCENTILES), ordered[-1])


def nearest_rank(ordered: Sequence[int], percentile: float) -> int:
    """Return the nearest-rank ``percentile`` of sorted, non-empty ``ordered``."""
    rank = max(1, math.ceil(percentile / 100 * len(ordered)))
    return ordered[rank - 1]


class EdgeStats(NamedTuple):
    """One publisher node -> topic -> subscriber node edge."""

    publisher: str
    topic: str
    subscriber: str
    latency: Optional[Distribution]
    callback: Optional[Distribution]


class Part(NamedTuple):
    """One part of a path's end-to-end time: a hop, or the leaf's callback."""

    name: str
    time: Optional[Distribution]
    #: Mean share of end-to-end time among the traces at or above the path's p99.
    tail_share: float


class Unfinished(NamedTuple):
    """Traces that started a path but stopped after ``stopped_at`` (a node of the path)."""

    stopped_at: str
    trace_ids: Tuple[str, ...]
    #: Their span there published before collection started: they may have gone on unseen.
    before_collection: bool = False

    def describe(self) -> str:
        """Return e.g. ``3 stopped after b`` (names unescaped)."""
        if self.before_collection:
            return (f'{len(self.trace_ids)} unknown after {self.stopped_at} '
                    '(published before collection started)')
        return f'{len(self.trace_ids)} stopped after {self.stopped_at}'


class PathStats(NamedTuple):
    """One root-to-leaf node sequence across every trace that took it."""

    nodes: Tuple[str, ...]
    started: int
    end_to_end: Optional[Distribution]
    parts: Tuple[Part, ...]
    #: The part that contributes most to the p99 tail (``None`` if none completed).
    worst: Optional[str]
    unfinished: Tuple[Unfinished, ...]
    #: Every end-to-end time, sorted (for histograms).
    end_to_end_ns: Tuple[int, ...] = ()

    @property
    def completed(self) -> int:
        """Return how many traces went all the way."""
        return 0 if self.end_to_end is None else self.end_to_end.count


class Stats(NamedTuple):
    """Everything ``mtrace stats`` reports."""

    traces: int
    spans: int
    edges: Tuple[EdgeStats, ...]
    paths: Tuple[PathStats, ...]


class _Walk:
    """One pass over every trace: edges, and each span's place in the path trie."""

    def __init__(self, traces: Sequence[Trace]) -> None:
        self.edges: Dict[Tuple[str, str, str], Tuple[List[int], List[int]]] = {}
        # (parent prefix id, node name) -> prefix id; 0 is the empty prefix.
        self.trie: Dict[Tuple[int, str], int] = {}
        # prefix id -> the first span (by start) of each trace that reached it
        self.reached: Dict[int, List[Tuple[Trace, SpanNode]]] = {}
        self.leaves: Dict[int, Tuple[str, ...]] = {}
        self.parents: Dict[int, SpanNode] = {}  # id(child span node) -> its parent
        # prefix id -> traces with a span there that published before collection started
        self.uncertain: Dict[int, Set[str]] = {}
        for trace in traces:
            self._walk(trace)

    def _prefix(self, parent: int, name: str) -> int:
        return self.trie.setdefault((parent, name), len(self.trie) + 1)

    def _walk(self, trace: Trace) -> None:
        seen: Dict[int, SpanNode] = {}
        stack: List[Tuple[SpanNode, int, Optional[Tuple[str, ...]]]] = [
            (top, 0, ()) for top in reversed(trace.tops) if top.detached is None]
        while stack:
            node, parent_prefix, names = stack.pop()
            prefix = self._prefix(parent_prefix, node.span.node)
            if names is not None:
                names = names + (node.span.node,) if len(names) < MAX_PATH_NODES else None
            first = seen.get(prefix)
            if first is None or node.span.start_ns < first.span.start_ns:
                seen[prefix] = node
            if any(missed.before_collection for missed in node.missed):
                self.uncertain.setdefault(prefix, set()).add(trace.trace_id)
            if not node.children and names is not None and len(names) > 1:
                self.leaves.setdefault(prefix, names)
            for child in reversed(node.children):
                self.parents[id(child)] = node
                span = child.span
                latencies, callbacks = self.edges.setdefault(
                    (node.span.node, span.topic or '', span.node), ([], []))
                if span.latency_ns is not None:
                    latencies.append(span.latency_ns)
                callbacks.append(span.end_ns - span.start_ns)
                stack.append((child, prefix, names))
        for prefix, node in seen.items():
            self.reached.setdefault(prefix, []).append((trace, node))

    def prefix_ids(self, nodes: Sequence[str]) -> List[Optional[int]]:
        """Return the trie id of each prefix of ``nodes`` (``None`` once never reached)."""
        ids: List[Optional[int]] = []
        current: Optional[int] = 0
        for name in nodes:
            current = None if current is None else self.trie.get((current, name))
            ids.append(current)
        return ids

    def chain(self, leaf: SpanNode, length: int) -> List[SpanNode]:
        """Return the ``length`` spans from the root down to ``leaf``."""
        chain = [leaf]
        while len(chain) < length:
            chain.append(self.parents[id(chain[-1])])
        chain.reverse()
        return chain


def _path_stats(walk: _Walk, nodes: Tuple[str, ...]) -> PathStats:
    ids = walk.prefix_ids(nodes)
    reached = [set() if i is None else {t.trace_id for t, _ in walk.reached.get(i, ())}
               for i in ids]
    unfinished = []
    for k in range(len(nodes) - 1):
        left = reached[k] - reached[k + 1]
        unknown = left & walk.uncertain.get(ids[k], set()) if ids[k] is not None else set()
        for trace_ids, before in ((left - unknown, False), (unknown, True)):
            if trace_ids:
                unfinished.append(Unfinished(nodes[k], tuple(sorted(trace_ids)), before))
    last = ids[-1]
    totals: List[int] = []
    splits: List[List[int]] = []
    for trace, leaf in ([] if last is None else walk.reached.get(last, [])):
        chain = walk.chain(leaf, len(nodes))
        parts = [b.span.start_ns - a.span.start_ns for a, b in zip(chain, chain[1:])]
        parts.append(leaf.span.end_ns - leaf.span.start_ns)
        totals.append(leaf.span.end_ns - chain[0].span.start_ns)
        splits.append(parts)
    end_to_end = Distribution.of(totals)
    names = [f'{a} -> {b}' for a, b in zip(nodes, nodes[1:])] + [f'{nodes[-1]} callback']
    parts_out: List[Part] = []
    worst = None
    if end_to_end is not None:
        tail = [split for total, split in zip(totals, splits) if total >= end_to_end.p99]
        for index, name in enumerate(names):
            shares = [split[index] / sum(split) for split in tail if sum(split) > 0]
            parts_out.append(Part(
                name, Distribution.of([split[index] for split in splits]),
                sum(shares) / len(shares) if shares else 0.0))
        worst = max(parts_out, key=lambda part: part.tail_share).name
    return PathStats(
        nodes, len(reached[0]), end_to_end, tuple(parts_out), worst, tuple(unfinished),
        tuple(sorted(totals)))


def compute(forest: Forest, traces: Sequence[Trace],
            path: Optional[Sequence[str]] = None) -> Stats:
    """
    Return the statistics of ``traces`` (of ``forest``).

    :param path: report only this node sequence (even if no trace took it
        all the way); default: every root-to-leaf path seen.
    """
    walk = _Walk(traces)
    edges = tuple(
        EdgeStats(publisher, topic, subscriber, Distribution.of(latencies),
                  Distribution.of(callbacks))
        for (publisher, topic, subscriber), (latencies, callbacks) in sorted(walk.edges.items()))
    wanted = [tuple(path)] if path else sorted(set(walk.leaves.values()))
    return Stats(
        len(traces), sum(len(trace.nodes) for trace in traces), edges,
        tuple(_path_stats(walk, nodes) for nodes in wanted))


def _cells(distribution: Optional[Distribution]) -> str:
    if distribution is None:
        return '-'
    return ' '.join(format_ms(value) for value in distribution[1:])


def _table(header: Sequence[str], rows: List[Sequence[str]]) -> Iterator[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        yield '  '.join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()


def render_text(stats: Stats) -> str:
    """Return the statistics as text tables (times: p50 p90 p99 max)."""
    lines = [f'{stats.traces} traces, {stats.spans} spans; times are p50 p90 p99 max', '',
             'Edges (publisher -> topic -> subscriber)']
    lines += _table(('edge', 'count', 'hop latency', 'callback'), [
        (printable(f'{e.publisher} -> {e.topic or CONTINUED} -> {e.subscriber}'),
         str(e.callback.count if e.callback else 0),
         _cells(e.latency), _cells(e.callback)) for e in stats.edges])
    for path in stats.paths:
        lines += ['', f'Path {printable(" -> ".join(path.nodes))}: '
                      f'{path.completed} of {path.started} traces went all the way']
        if path.end_to_end is not None:
            lines.append(f'  end to end  {_cells(path.end_to_end)}')
            lines += ('  ' + line for line in _table(('part', 'time', 'share of p99 tail'), [
                (printable(part.name), _cells(part.time),
                 f'{100 * part.tail_share:.1f} %' + ('  <- most' if part.name == path.worst
                                                     else '')) for part in path.parts]))
        for unfinished in path.unfinished:
            ids = ', '.join(unfinished.trace_ids[:EXAMPLE_IDS])
            more = len(unfinished.trace_ids) - EXAMPLE_IDS
            lines.append(f'  {printable(unfinished.describe())}: {ids}'
                         + (f' and {more} more' if more > 0 else ''))
    return '\n'.join(lines) + '\n'


def to_json(stats: Stats) -> Dict[str, object]:
    """Return the statistics as plain JSON values (times in integer ns)."""
    def dist(distribution: Optional[Distribution]) -> Optional[Dict[str, int]]:
        if distribution is None:
            return None
        return {'count': distribution.count, 'p50': distribution.p50, 'p90': distribution.p90,
                'p99': distribution.p99, 'max': distribution.maximum}

    return {
        'traces': stats.traces,
        'spans': stats.spans,
        'edges': [
            {'publisher': e.publisher, 'topic': e.topic, 'subscriber': e.subscriber,
             'latency_ns': dist(e.latency), 'callback_ns': dist(e.callback)}
            for e in stats.edges],
        'paths': [
            {'nodes': list(p.nodes), 'started': p.started, 'completed': p.completed,
             'end_to_end_ns': dist(p.end_to_end),
             'parts': [{'name': part.name, 'time_ns': dist(part.time),
                        'p99_tail_share': part.tail_share} for part in p.parts],
             'contributes_most': p.worst,
             'unfinished': [{'stopped_at': u.stopped_at, 'trace_ids': list(u.trace_ids),
                             'before_collection': u.before_collection} for u in p.unfinished]}
            for p in stats.paths],
    }
