"""
Rebuild traces from span records: one tree per trace, and its text picture.

Spans are grouped by trace id and hung under their parents. What cannot be
placed is kept and marked, never dropped: a span whose parent was not
recorded (or whose parents form a cycle) becomes a top-level entry of its
trace, and a publish that no child span received is shown as a dead end.
A fan-in span's links to other traces are shown both ways: on the span that
links, and under the span it links to. A publish made before the collector
last matched a span publisher may have been received by a span the
collector never saw: it is marked "before collection started", not lost.

Pictures stay linear in the number of spans: branches are drawn to
:data:`MAX_DRAWN_DEPTH` levels, deeper rows show their depth as a number.
"""

from dataclasses import dataclass
from dataclasses import field
import re
from typing import Dict
from typing import Iterable
from typing import Iterator
from typing import List
from typing import NamedTuple
from typing import Optional
from typing import Sequence
from typing import Union

from mtrace_ros.analysis.notes import NO_NOTES
from mtrace_ros.analysis.notes import Notes
from mtrace_ros.core.text import printable
from mtrace_ros.export.schema import Event
from mtrace_ros.export.schema import KIND_CANCEL
from mtrace_ros.export.schema import KIND_CLIENT
from mtrace_ros.export.schema import KIND_EXECUTE
from mtrace_ros.export.schema import KIND_GOAL
from mtrace_ros.export.schema import KIND_RECEIVE
from mtrace_ros.export.schema import KIND_RESULT
from mtrace_ros.export.schema import KIND_ROOT
from mtrace_ros.export.schema import KIND_SERVER
from mtrace_ros.export.schema import Link
from mtrace_ros.export.schema import SpanRecord
from mtrace_ros.export.schema import STATUS_ERROR

#: Why a span is a top-level entry of its trace although it has a parent id.
PARENT_MISSING = 'missing'
PARENT_IN_CYCLE = 'in a cycle'

#: What a span made by ``continue_trace`` (a receive with no topic) shows instead of a topic.
CONTINUED = '[continue_trace]'

#: Deepest level drawn with branches; deeper rows are drawn at this indent, with their depth.
MAX_DRAWN_DEPTH = 24


#: Spans of service calls and action phases: they show their kind, not a hop latency.
_CALL_KINDS = frozenset(
    (KIND_CLIENT, KIND_SERVER, KIND_GOAL, KIND_EXECUTE, KIND_RESULT, KIND_CANCEL))


class MissedPublish(NamedTuple):
    """Publishes from one span to one topic that reached no span of the trace."""

    topic: str
    publishes: int
    #: The most subscriptions any of these publishes saw; 0: nobody listened.
    subscriber_count: int
    #: Made before the collector matched every span publisher: its receivers may be unseen.
    before_collection: bool = False


class SpanEventMark(NamedTuple):
    """An event of a span (``add_event``, an exception), listed under the span."""

    event: Event
    #: From the span's start to the event.
    offset_ns: int


class LinkedBy(NamedTuple):
    """A span of another trace that links to this span (fan-in)."""

    trace_id: str
    span: SpanRecord


@dataclass(eq=False)
class SpanNode:
    """A span in its trace's tree."""

    span: SpanRecord
    children: List['SpanNode'] = field(default_factory=list)
    missed: List[MissedPublish] = field(default_factory=list)
    linked_by: List[LinkedBy] = field(default_factory=list)
    #: ``None`` when reached from a root, else :data:`PARENT_MISSING` or :data:`PARENT_IN_CYCLE`.
    detached: Optional[str] = None
    #: For a server span folded with its caller's client span: the caller's wait.
    wait_ns: Optional[int] = None


@dataclass(eq=False)
class Trace:
    """One trace: its top-level entries (roots first, then detached spans)."""

    trace_id: str
    tops: List[SpanNode]
    nodes: Dict[str, SpanNode]

    @property
    def start_ns(self) -> int:
        """Return the start of the earliest span."""
        return min(node.span.start_ns for node in self.nodes.values())

    @property
    def end_ns(self) -> int:
        """Return the end of the latest span."""
        return max(node.span.end_ns for node in self.nodes.values())

    @property
    def duration_ns(self) -> int:
        """Return the time from the first span's start to the last span's end."""
        return self.end_ns - self.start_ns

    def summary(self) -> str:
        """Return e.g. ``6 spans, 4.1 ms, 1 error, 1 orphan, 2 publishes reached no span``."""
        nodes = self.nodes.values()
        parts = [_plural(len(self.nodes), 'span'), format_ms(self.duration_ns)]
        counts = (
            (sum(node.span.error is not None for node in nodes), 'error'),
            (sum(node.detached is not None for node in nodes), 'orphan'),
            (sum(not missed.before_collection for node in nodes for missed in node.missed),
             'publish', 'publishes', ' reached no span'),
            (sum(missed.before_collection for node in nodes for missed in node.missed),
             'publish', 'publishes', ' before collection started'),
        )
        parts += [_plural(*count) for count in counts if count[0]]
        return ', '.join(parts)


Item = Union[SpanNode, SpanEventMark, MissedPublish, LinkedBy]


class Row(NamedTuple):
    """One line of a trace's tree: the branch drawing before it, its depth, and what it shows."""

    prefix: str
    depth: int
    item: Item


class Forest:
    """Every trace of a set of span records, ordered by start time."""

    def __init__(self, records: Iterable[SpanRecord], matched_ns: Iterable[int] = ()) -> None:
        """
        Group ``records`` by trace and build each trace's tree.

        :param matched_ns: when the collector matched span publishers
            (:attr:`~mtrace_ros.analysis.records.SpanFile.matched_ns`).
        """
        by_trace: Dict[str, List[SpanRecord]] = {}
        for record in records:
            by_trace.setdefault(record.trace_id, []).append(record)
        last_matched_ns = max(matched_ns, default=None)
        self.traces = sorted(
            (_build_trace(trace_id, spans, last_matched_ns)
             for trace_id, spans in by_trace.items()),
            key=lambda trace: (trace.start_ns, trace.trace_id))
        self._by_id = {trace.trace_id: trace for trace in self.traces}
        for trace in self.traces:
            for node in trace.nodes.values():
                for link in node.span.links:
                    target = self.find(link)
                    if target is not None:
                        target.linked_by.append(LinkedBy(trace.trace_id, node.span))

    def find(self, link: Link) -> Optional[SpanNode]:
        """Return the span a link points to, if it was recorded."""
        trace = self._by_id.get(link.trace_id)
        return None if trace is None else trace.nodes.get(link.span_id)

    def select(self, trace_prefix: str = '', limit: Optional[int] = None) -> List[Trace]:
        """Return the traces whose id starts with ``trace_prefix``, at most ``limit`` of them."""
        prefix = trace_prefix.lower()
        chosen = [trace for trace in self.traces if trace.trace_id.startswith(prefix)]
        return chosen if limit is None else chosen[:limit]


def _order(node: SpanNode) -> tuple:
    return (node.span.start_ns, node.span.node, node.span.span_id)


def _build_trace(
        trace_id: str, records: Sequence[SpanRecord], last_matched_ns: Optional[int]) -> Trace:
    nodes = {record.span_id: SpanNode(record) for record in records}
    tops = []
    for node in nodes.values():
        parent_id = node.span.parent_span_id
        if parent_id is None:
            tops.append(node)
        elif parent_id in nodes:
            nodes[parent_id].children.append(node)
        else:
            node.detached = PARENT_MISSING
            tops.append(node)
    reached = _reachable(tops)
    # Whatever no root reaches hangs in a parent cycle: cut it at its earliest span.
    for node in sorted(nodes.values(), key=_order):
        if node.span.span_id in reached:
            continue
        nodes[node.span.parent_span_id].children.remove(node)
        node.detached = PARENT_IN_CYCLE
        tops.append(node)
        reached |= _reachable([node])
    for node in nodes.values():
        node.children.sort(key=_order)
        before_collection = last_matched_ns is not None and node.span.start_ns < last_matched_ns
        node.missed = _missed_publishes(node, before_collection)
    tops.sort(key=lambda node: (node.detached is not None,) + _order(node))
    for node in nodes.values():
        _fold_service_hops(node.children)
    _fold_service_hops(tops)
    return Trace(trace_id, tops, nodes)


def _fold_service_hops(items: List[SpanNode]) -> None:
    """Show a client span with its one server span as one node: the server's, with the wait."""
    for index, item in enumerate(items):
        span = item.span
        if (span.kind == KIND_CLIENT and len(item.children) == 1 and not span.events
                and item.children[0].span.kind == KIND_SERVER):
            server = item.children[0]
            server.wait_ns = span.end_ns - span.start_ns
            server.detached = item.detached
            items[index] = server


def _reachable(tops: Iterable[SpanNode]) -> set:
    reached = set()
    stack = list(tops)
    while stack:
        node = stack.pop()
        if node.span.span_id not in reached:
            reached.add(node.span.span_id)
            stack.extend(node.children)
    return reached


def _missed_publishes(node: SpanNode, before_collection: bool) -> List[MissedPublish]:
    received = {child.span.topic for child in node.children}
    missed: Dict[str, MissedPublish] = {}
    for topic, subscriber_count, _ in node.span.publishes:
        if topic in received:
            continue
        seen = missed.get(topic, MissedPublish(topic, 0, 0))
        missed[topic] = MissedPublish(
            topic, seen.publishes + 1, max(seen.subscriber_count, subscriber_count),
            before_collection)
    return list(missed.values())


def rows(trace: Trace) -> Iterator[Row]:
    """
    Yield the trace's tree line by line, depth first, children in start order.

    Below :data:`MAX_DRAWN_DEPTH`, the indent stops growing and each row's
    prefix ends with its depth, e.g. ``[25] ``, so a chain of n spans draws
    in O(n) characters, not O(n²).
    """
    stack = [(top, '', '', 0) for top in reversed(trace.tops)]
    while stack:
        item, prefix, child_prefix, depth = stack.pop()
        yield Row(prefix, depth, item)
        if not isinstance(item, SpanNode):
            continue
        span = item.span
        events = [SpanEventMark(event, event.time_ns - span.start_ns) for event in span.events]
        below: List[Item] = [*events, *item.children, *item.missed, *item.linked_by]
        deep = depth + 1 > MAX_DRAWN_DEPTH
        for index in reversed(range(len(below))):
            last = index == len(below) - 1
            branch = child_prefix + ('└─ ' if last else '├─ ')
            stack.append((
                below[index],
                branch + f'[{depth + 1}] ' if deep else branch,
                child_prefix if deep else child_prefix + ('   ' if last else '│  '),
                depth + 1))


def format_ms(ns: int, *, sign: bool = False) -> str:
    """Return a duration in milliseconds: 0.1 ms resolution, finer below 0.1 ms."""
    ms = ns / 1e6
    digits = 1 if abs(ms) >= 0.1 or ms == 0 else 3
    return f'{ms:{"+" if sign else ""}.{digits}f} ms'


def _plural(count: int, noun: str, nouns: str = '', tail: str = '') -> str:
    return f'{count} {noun if count == 1 else nouns or noun + "s"}{tail}'


def hop_text(span: SpanRecord) -> str:
    """
    Return what a span handled: topic and hop latency, e.g. ``/a_to_b  +0.8 ms``.

    Spans with no topic say what they are: ``[root]``, ``[continue_trace]``
    (a later continuation of a received message), or their kind.
    """
    if span.topic is None:
        if span.kind == KIND_ROOT:
            return '[root]'
        return CONTINUED if span.kind == KIND_RECEIVE else f'[{printable(span.kind)}]'
    if span.kind in _CALL_KINDS:  # a service or an action: the topic is its name
        return f'{printable(span.topic)}  [{span.kind}]'
    latency = '+? ms' if span.latency_ns is None else format_ms(span.latency_ns, sign=True)
    return f'{printable(span.topic)}  {latency}'


def parent_note(node: SpanNode) -> Optional[str]:
    """Return why a span with a parent id is top-level, e.g. ``(parent 5f3a... missing)``."""
    if node.detached is None:
        return None
    return f'(parent {node.span.parent_span_id} {node.detached})'


def describe_span(node: SpanNode, forest: Forest) -> str:
    """Return a span's line: node, hop, time taken, and marks for orphans, errors, links."""
    span = node.span
    took = 'took ' + format_ms(span.end_ns - span.start_ns)
    if node.wait_ns is not None:
        took = f'caller waited {format_ms(node.wait_ns)}, {took}'
    parts = [printable(span.node), hop_text(span), took, parent_note(node) or '']
    if span.error is not None:
        parts.append('ERROR ' + printable(span.error))
    elif span.status.code == STATUS_ERROR:
        parts.append('ERROR ' + printable(span.status.message))
    for link in span.links:
        target = forest.find(link)
        known = '' if target is None else f' ({printable(target.span.node)})'
        parts.append(f'link {link.trace_id}/{link.span_id}{known}')
    return '  '.join(part for part in parts if part)


def describe_missed(missed: MissedPublish) -> str:
    """Return the text of a dead-end publish."""
    notes = [] if missed.publishes == 1 else [_plural(missed.publishes, 'publish', 'publishes')]
    notes.append(
        'no subscriber' if missed.subscriber_count == 0
        else _plural(missed.subscriber_count, 'subscriber'))
    if missed.before_collection:
        return f'⋯ {printable(missed.topic)}  before collection started ({", ".join(notes)})'
    return f'✗ {printable(missed.topic)}  reached no span ({", ".join(notes)})'


#: Event attributes left out of the one-line form (shown in the HTML report's hover text).
_LONG_ATTRIBUTES = ('exception.stacktrace',)
_VALUE_CHARS = 80


def describe_event(mark: SpanEventMark) -> str:
    """Return the text of a span event: name, time into the span, attributes."""
    event = mark.event
    pairs = [f'{printable(key)}={printable(str(value))[:_VALUE_CHARS]}'
             for key, value in event.attributes.items() if key not in _LONG_ATTRIBUTES]
    return '  '.join(
        [f'• {printable(event.name)}', format_ms(mark.offset_ns, sign=True), *pairs])


def describe_linked_by(linked: LinkedBy) -> str:
    """Return the text of an incoming fan-in link."""
    span = linked.span
    return f'↪ linked by {printable(span.node)} in {linked.trace_id}/{span.span_id}'


_DEPTH_MARK = re.compile(r'\[\d+\] $')


def note_prefix(row: Row) -> str:
    """Return the branch drawing of the lines noted under a span's row (above its children)."""
    node = row.item
    assert isinstance(node, SpanNode)
    branch = _DEPTH_MARK.sub('', row.prefix)  # below MAX_DRAWN_DEPTH: '└─ [26] '
    above = branch[:-3] + ('│  ' if branch.endswith('├─ ') else '   ' * bool(branch))
    below = node.span.events or node.children or node.missed or node.linked_by
    return above + ('│  ' if below else '   ') + '· '


def render_text(
    forest: Forest, traces: Optional[Sequence[Trace]] = None, notes: Notes = NO_NOTES,
) -> str:
    """
    Return the indented trees of ``traces`` (default: all), a blank line between traces.

    :param notes: lines to show under spans (log lines) and traces (from a recording).
    """
    blocks = []
    for trace in forest.traces if traces is None else traces:
        lines = [f'trace {trace.trace_id}  ({trace.summary()})']
        for row in rows(trace):
            if isinstance(row.item, SpanNode):
                text = describe_span(row.item, forest)
                lines.append(row.prefix + text)
                lines += [note_prefix(row) + printable(note) for note in notes.for_span(
                    trace.trace_id, row.item.span.span_id)]
                continue
            if isinstance(row.item, MissedPublish):
                text = describe_missed(row.item)
            elif isinstance(row.item, SpanEventMark):
                text = describe_event(row.item)
            else:
                text = describe_linked_by(row.item)
            lines.append(row.prefix + text)
        lines += ['! ' + printable(note) for note in notes.for_trace(trace.trace_id)]
        blocks.append('\n'.join(lines) + '\n')
    return '\n'.join(blocks)
