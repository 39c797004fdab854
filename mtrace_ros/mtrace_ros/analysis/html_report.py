"""
A self-contained HTML page of traces: a latency summary, then each trace's tree beside a waterfall.

For people who would rather look than read. The page has inline CSS and one
small inline script (filter, sort, shared time scale): no external resource
of any kind (no font, image, stylesheet or script by URL), so it opens
offline and anywhere. Without script the page still shows everything.
Everything that came from span records is escaped, attributes included:
node names, topics and errors are written by other processes and are
untrusted. The filter also reads the page's fragment (``page.html#filter=4bf9``).
"""

import base64
from datetime import datetime
from datetime import timezone
import hashlib
import html
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple

from mtrace_ros.analysis.html_summary import render_summary
from mtrace_ros.analysis.notes import NO_NOTES
from mtrace_ros.analysis.notes import Notes
from mtrace_ros.analysis.stats import compute
from mtrace_ros.analysis.trees import describe_event
from mtrace_ros.analysis.trees import describe_missed
from mtrace_ros.analysis.trees import Forest
from mtrace_ros.analysis.trees import format_ms
from mtrace_ros.analysis.trees import hop_text
from mtrace_ros.analysis.trees import LinkedBy
from mtrace_ros.analysis.trees import MissedPublish
from mtrace_ros.analysis.trees import note_prefix
from mtrace_ros.analysis.trees import parent_note
from mtrace_ros.analysis.trees import Row
from mtrace_ros.analysis.trees import rows
from mtrace_ros.analysis.trees import SpanEventMark
from mtrace_ros.analysis.trees import SpanNode
from mtrace_ros.analysis.trees import Trace
from mtrace_ros.core.text import printable

#: Narrowest bar drawn, in percent of the trace's width, so instant spans stay visible.
MIN_BAR_PERCENT = 0.3

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
code, .label { font-family: ui-monospace, monospace; }
details.trace { border: 1px solid #ccc; border-radius: 4px; margin: 0 0 1em; padding: .3em .6em; }
summary { cursor: pointer; font-weight: 600; }
summary .meta { font-weight: normal; color: #555; }
table { border-collapse: collapse; width: 100%; margin-top: .4em; }
td { padding: 1px 4px; vertical-align: middle; }
td.label { white-space: pre; width: 1%; font-size: 13px; }
td.lane { position: relative; min-width: 20em; border-left: 1px solid #ddd; }
tr:hover { background: #f3f6fb; }
.bar { position: absolute; top: 3px; bottom: 3px; border-radius: 2px; }
.run { background: #3b73c4; }
.wait { background: #b9cdea; }
tr.error .run, .run.failed { background: #c83a3a; }
tr.orphan .run { background: repeating-linear-gradient(45deg, #3b73c4 0 4px, #9bb5dd 4px 8px); }
.error-text { color: #b00; }
.orphan-text, .missed { color: #8a5a00; }
.linked { color: #555; }
.topic { color: #2a6b2a; }
.took { color: #777; }
.note { color: #555; font-size: 12px; }
.trace-note { color: #8a5a00; margin: .2em 0; }
.scale { position: relative; height: 1.2em; color: #777; font-size: 11px; }
.scale span { position: absolute; transform: translateX(-50%); white-space: nowrap; }
.scale span:first-child { transform: none; }
.scale span:last-child { transform: translateX(-100%); }
.bar { left: var(--l); width: var(--w); }
body.shared .bar { left: var(--sl); width: var(--sw); }
.scale.shared, body.shared .scale.own { display: none; }
body.shared .scale.shared { display: block; }
#controls { position: sticky; top: 0; background: #fff; padding: .4em 0; z-index: 1;
  border-bottom: 1px solid #ddd; margin-bottom: .8em; }
#controls label { margin-right: 1.2em; }
#controls input[type=search] { width: 24em; }
table.stats { width: auto; }
table.stats td, table.stats th { padding: 1px 8px; text-align: right; }
table.stats td:first-child { text-align: left; }
table.stats tr.worst { background: #fbeaea; }
svg.histogram rect { fill: #3b73c4; }
svg.histogram line.mark { stroke: #c83a3a; stroke-dasharray: 3 2; }
svg.histogram text { font-size: 10px; fill: #555; }
.legend span { display: inline-block; margin-right: 1.2em; }
.legend i { display: inline-block; width: 1.6em; height: .8em; margin-right: .3em; }
"""


def _e(text: str) -> str:
    return html.escape(printable(text), quote=True)


def _anchor(trace_id: str, span_id: str) -> str:
    return f'span-{trace_id}-{span_id}'


def _utc(ns: int) -> str:
    moment = datetime.fromtimestamp(ns / 1e9, timezone.utc)
    return moment.isoformat(timespec='microseconds').replace('+00:00', 'Z')


def _lane_start_ns(trace: Trace) -> int:
    """Return where a trace's lane starts: its first span, or the publish before it."""
    return min(node.span.start_ns - max(node.span.latency_ns or 0, 0)
               for node in trace.nodes.values())


def _place(begin_ns: int, end_ns: int, start_ns: int, width_ns: int) -> Tuple[str, str]:
    left = min(max(100 * (begin_ns - start_ns) / width_ns, 0), 100)
    width = max(100 * (end_ns - begin_ns) / width_ns, MIN_BAR_PERCENT)
    width = min(width, 100 - left) if left < 100 else MIN_BAR_PERCENT
    return f'{left:.3f}%', f'{width:.3f}%'


def _ticks(css: str, width_ns: int) -> str:
    labels = [
        f'<span style="left:{percent}%">{format_ms(width_ns * percent // 100)}</span>'
        for percent in (0, 25, 50, 75, 100)]
    return f'<div class="scale {css}">' + ''.join(labels) + '</div>'


class _Scale:
    """Maps times of one trace to percent of its lane: on its own axis, and on the shared one."""

    def __init__(self, trace: Trace, shared_width_ns: int) -> None:
        self.start_ns = _lane_start_ns(trace)
        self.width_ns = max(trace.end_ns - self.start_ns, 1)
        self.shared_width_ns = max(shared_width_ns, self.width_ns)

    def bar(self, css: str, begin_ns: int, end_ns: int) -> str:
        left, width = _place(begin_ns, end_ns, self.start_ns, self.width_ns)
        shared_left, shared_width = _place(begin_ns, end_ns, self.start_ns, self.shared_width_ns)
        return (f'<span class="bar {css}" style="--l:{left};--w:{width};'
                f'--sl:{shared_left};--sw:{shared_width}"></span>')

    def ticks(self) -> str:
        return _ticks('own', self.width_ns) + _ticks('shared', self.shared_width_ns)


def _span_row(row: Row, node: SpanNode, trace: Trace, forest: Forest, scale: _Scale) -> str:
    span = node.span
    classes = ['span'] + ['error'] * (span.error is not None) + ['orphan'] * bool(node.detached)
    details = [
        f'span {span.span_id}', f'parent {span.parent_span_id or "none"}',
        f'kind {printable(span.kind)}', f'start {_utc(span.start_ns)}']
    details += [f'publish {printable(publish.topic)}, subscribers: {publish.subscriber_count}'
                for publish in span.publishes]
    details += [f'{printable(key)}: {printable(str(value))}'
                for key, value in span.attributes.items()]
    label = [
        f'<span class="node">{_e(span.node)}</span>',
        f'<span class="topic">{_e(hop_text(span))}</span>',
        f'<span class="took">took {format_ms(span.end_ns - span.start_ns)}</span>']
    note = parent_note(node)
    if note:
        label.append(f'<span class="orphan-text">{_e(note)}</span>')
    if span.error is not None:
        label.append(f'<span class="error-text">ERROR {_e(span.error)}</span>')
    for link in span.links:
        target = forest.find(link)
        text = f'link {link.trace_id[:8]}…/{link.span_id}'
        if target is None:
            label.append(f'<span class="linked">{text} (not recorded)</span>')
        else:
            label.append(
                f'<a class="linked" href="#{_anchor(link.trace_id, link.span_id)}">'
                f'{text} ({_e(target.span.node)})</a>')
    lane = ''
    if span.latency_ns:
        lane += scale.bar('wait', span.start_ns - span.latency_ns, span.start_ns)
    lane += scale.bar('run', span.start_ns, span.end_ns)
    return (
        f'<tr class="{" ".join(classes)}" id="{_anchor(trace.trace_id, span.span_id)}" '
        f'title="{html.escape(chr(10).join(details))}"><td class="label">{_e(row.prefix)}'
        + '  '.join(label) + f'</td><td class="lane">{lane}</td></tr>')


def _other_row(row: Row) -> str:
    if isinstance(row.item, MissedPublish):
        text = f'<span class="missed">{_e(describe_missed(row.item))}</span>'
    elif isinstance(row.item, SpanEventMark):
        event = row.item.event
        hover = '\n'.join(f'{printable(key)}: {printable(str(value))}'
                          for key, value in event.attributes.items())
        return (f'<tr class="event" title="{html.escape(hover)}">'
                f'<td class="label">{_e(row.prefix)}'
                f'<span class="event">{_e(describe_event(row.item))}</span></td>'
                '<td class="lane"></td></tr>')
    else:
        linked: LinkedBy = row.item
        text = (
            f'<a class="linked" href="#{_anchor(linked.trace_id, linked.span.span_id)}">'
            f'↪ linked by {_e(linked.span.node)} in {linked.trace_id[:8]}…</a>')
    return f'<tr><td class="label">{_e(row.prefix)}{text}</td><td class="lane"></td></tr>'


def _search_text(trace: Trace) -> str:
    """Return what the filter matches in a trace: its id, nodes, topics and errors."""
    words = {trace.trace_id}
    for node in trace.nodes.values():
        span = node.span
        words.update(text for text in (span.node, span.topic, span.error) if text)
    return ' '.join(sorted(words)).lower()


def _trace_section(trace: Trace, forest: Forest, notes: Notes, shared_width_ns: int) -> str:
    scale = _Scale(trace, shared_width_ns)
    errors = sum(node.span.error is not None for node in trace.nodes.values())
    lines = [
        f'<details class="trace" id="trace-{trace.trace_id}" data-start="{trace.start_ns}" '
        f'data-duration="{trace.duration_ns}" data-errors="{errors}" '
        f'data-search="{_e(_search_text(trace))}" open>',
        f'<summary><code>trace {trace.trace_id}</code> <span class="meta">'
        f'({_e(trace.summary())}) started {_utc(trace.start_ns)}</span></summary>',
        '<table><tr><td class="label"></td><td class="lane">' + scale.ticks() + '</td></tr>',
    ]
    for row in rows(trace):
        if isinstance(row.item, SpanNode):
            lines.append(_span_row(row, row.item, trace, forest, scale))
            lines += [
                f'<tr class="note"><td class="label">{_e(note_prefix(row))}{_e(note)}</td>'
                '<td class="lane"></td></tr>'
                for note in notes.for_span(trace.trace_id, row.item.span.span_id)]
        else:
            lines.append(_other_row(row))
    lines.append('</table>')
    lines += [f'<p class="trace-note">{_e(note)}</p>' for note in notes.for_trace(trace.trace_id)]
    lines.append('</details>')
    return '\n'.join(lines)


_CONTROLS = (
    '<form id="controls">'
    '<label>filter <input type="search" id="filter" '
    'placeholder="trace id, node, topic or error"></label>'
    '<label><input type="checkbox" id="errors"> errors only</label>'
    '<label>sort <select id="sort"><option value="start">by start</option>'
    '<option value="duration">longest first</option>'
    '<option value="errors">most errors first</option></select></label>'
    '<label><input type="checkbox" id="shared"> one time scale for all traces</label>'
    '<span id="shown"></span></form>')

# Filter, sort and the shared scale; reads #filter=... from the URL. Values are read
# from data-* attributes and compared as text: nothing from the page is ever run.
_SCRIPT = """
(function () {
  const $ = (id) => document.getElementById(id);
  const lists = [...document.querySelectorAll('.traces')];
  function apply() {
    const words = $('filter').value.toLowerCase().split(/\\s+/).filter(Boolean);
    const errorsOnly = $('errors').checked;
    let shown = 0;
    for (const list of lists) {
      for (const trace of list.querySelectorAll('details.trace')) {
        const text = trace.dataset.search;
        const hide = (errorsOnly && trace.dataset.errors === '0') ||
          !words.every((word) => text.includes(word));
        trace.hidden = hide;
        shown += hide ? 0 : 1;
      }
    }
    document.body.classList.toggle('shared', $('shared').checked);
    $('shown').textContent = shown + ' shown';
  }
  function sort() {
    const key = $('sort').value;
    const value = (trace) => key === 'start' ? Number(trace.dataset.start) :
      -Number(trace.dataset[key]);
    for (const list of lists) {
      const traces = [...list.querySelectorAll(':scope > details.trace')];
      traces.sort((a, b) => value(a) - value(b) || Number(a.dataset.start) -
        Number(b.dataset.start));
      for (const trace of traces) list.appendChild(trace);
    }
  }
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.has('filter')) $('filter').value = hash.get('filter');
  if (hash.get('shared') === '1') $('shared').checked = true;
  for (const id of ['filter', 'errors', 'shared']) $(id).addEventListener('input', apply);
  $('sort').addEventListener('change', () => { sort(); apply(); });
  $('controls').addEventListener('submit', (event) => event.preventDefault());
  sort();
  apply();
})();
"""

#: The page allows inline styles and this one script (by its hash), nothing else: text that
#: escaped escaping could not run, and nothing can load from anywhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-"
    + base64.b64encode(hashlib.sha256(_SCRIPT.encode()).digest()).decode()
    + "'; base-uri 'none'; form-action 'none'")


def render_html(
    forest: Forest,
    traces: Optional[Sequence[Trace]] = None,
    *,
    title: str = 'mtrace traces',
    notes: Notes = NO_NOTES,
) -> str:
    """
    Return a complete HTML page: the latency summary of ``traces``, then their trees.

    Traces of one span (a root nothing received) are grouped, folded, at the end.

    :param forest: every trace read, so that links to unselected traces resolve.
    :param traces: the traces to draw (default: all of ``forest``).
    :param title: the page title (escaped).
    :param notes: lines to show under spans (log lines) and traces (from a recording).
    """
    chosen = list(forest.traces if traces is None else traces)
    span_count = sum(len(trace.nodes) for trace in chosen)
    shared_width_ns = max(
        (trace.end_ns - _lane_start_ns(trace) for trace in chosen), default=1)
    several = [trace for trace in chosen if len(trace.nodes) > 1]
    single = [trace for trace in chosen if len(trace.nodes) == 1]
    body: List[str] = [
        '<!DOCTYPE html>',
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">',
        f'<title>{_e(title)}</title><style>{_STYLE}</style></head><body>',
        f'<h1>{_e(title)}</h1>',
        render_summary(compute(forest, chosen)),
        f'<h2>Traces</h2><p>{len(chosen)} traces, {span_count} spans. '
        'Hover a row for its ids and publishes.</p>',
        '<p class="legend"><span><i class="run"></i>callback</span>'
        '<span><i class="wait"></i>hop: publish to callback start</span>'
        '<span><i class="run failed"></i>ended with an error</span>'
        '<span class="missed">✗ publish that reached no span</span></p>',
        _CONTROLS,
        '<div class="traces" id="traces">',
    ]
    body += [_trace_section(trace, forest, notes, shared_width_ns) for trace in several]
    body.append('</div>')
    if single:
        body.append(f'<details id="single"><summary>{len(single)} single-span traces '
                    '(roots that nothing received)</summary><div class="traces">')
        body += [_trace_section(trace, forest, notes, shared_width_ns) for trace in single]
        body.append('</div></details>')
    body.append(f'<script>{_SCRIPT}</script></body></html>\n')
    return '\n'.join(body)
