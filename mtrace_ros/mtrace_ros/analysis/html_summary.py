"""
The summary at the top of ``mtrace html``: latency tables and a histogram per path.

Drawn from :mod:`mtrace_ros.analysis.stats` as static HTML with inline SVG:
no external resource. Node names and topics come from span
records written by other processes: every one is escaped.
"""

import html
from typing import List
from typing import Optional
from typing import Sequence

from mtrace_ros.analysis.stats import Distribution
from mtrace_ros.analysis.stats import PathStats
from mtrace_ros.analysis.stats import Stats
from mtrace_ros.analysis.trees import CONTINUED
from mtrace_ros.analysis.trees import format_ms
from mtrace_ros.core.text import printable

HISTOGRAM_BINS = 24
_WIDTH = 420
_HEIGHT = 90
_AXIS = 16  # room under the bars for the axis labels


def _e(text: str) -> str:
    return html.escape(printable(text), quote=True)


def _cells(distribution: Optional[Distribution]) -> str:
    if distribution is None:
        return '<td colspan="4">-</td>'
    return ''.join(f'<td>{format_ms(value)}</td>' for value in distribution[1:])


def _edges_table(stats: Stats) -> str:
    rows = ''.join(
        f'<tr><td>{_e(edge.publisher)} &rarr; {_e(edge.topic or CONTINUED)} &rarr; '
        f'{_e(edge.subscriber)}'
        f'</td><td>{edge.callback.count if edge.callback else 0}</td>'
        f'{_cells(edge.latency)}{_cells(edge.callback)}</tr>'
        for edge in stats.edges)
    return (
        '<table class="stats"><tr><th rowspan="2">edge (publisher &rarr; topic &rarr; '
        'subscriber)</th><th rowspan="2">count</th><th colspan="4">hop latency</th>'
        '<th colspan="4">callback</th></tr><tr>' + '<th>p50</th><th>p90</th><th>p99</th>'
        '<th>max</th>' * 2 + f'</tr>{rows}</table>')


def histogram_svg(values: Sequence[int], marks: Sequence[int] = ()) -> str:
    """Return an inline SVG histogram of sorted ``values`` (ns), with vertical ``marks``."""
    low, high = values[0], values[-1]
    span = max(high - low, 1)
    counts = [0] * HISTOGRAM_BINS
    for value in values:
        counts[min(HISTOGRAM_BINS - 1, (value - low) * HISTOGRAM_BINS // span)] += 1
    tallest = max(counts)
    bar = _WIDTH / HISTOGRAM_BINS
    plot = _HEIGHT - _AXIS
    parts: List[str] = [
        f'<svg class="histogram" width="{_WIDTH}" height="{_HEIGHT}" '
        f'viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img">']
    for index, count in enumerate(counts):
        height = plot * count / tallest
        parts.append(
            f'<rect x="{index * bar:.1f}" y="{plot - height:.1f}" width="{bar - 1:.1f}" '
            f'height="{height:.1f}"><title>{count}</title></rect>')
    for mark in marks:
        x = (mark - low) * _WIDTH / span
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{plot}" class="mark"/>')
    parts.append(
        f'<text x="0" y="{_HEIGHT - 3}">{format_ms(low)}</text>'
        f'<text x="{_WIDTH}" y="{_HEIGHT - 3}" text-anchor="end">{format_ms(high)}</text></svg>')
    return ''.join(parts)


def _path_section(path: PathStats) -> str:
    title = ' &rarr; '.join(_e(node) for node in path.nodes)
    out = [f'<h3>{title}: {path.completed} of {path.started} traces went all the way</h3>']
    if path.end_to_end is not None:
        e2e = path.end_to_end
        out.append(
            f'<p>end to end: p50 {format_ms(e2e.p50)}, p90 {format_ms(e2e.p90)}, '
            f'p99 {format_ms(e2e.p99)}, max {format_ms(e2e.maximum)} (lines: p50, p99)</p>')
        out.append(histogram_svg(path.end_to_end_ns, (e2e.p50, e2e.p99)))
        rows = ''.join(
            f'<tr{" class=worst" if part.name == path.worst else ""}><td>{_e(part.name)}</td>'
            f'{_cells(part.time)}<td>{100 * part.tail_share:.1f} %</td></tr>'
            for part in path.parts)
        out.append(
            '<table class="stats"><tr><th>part</th><th>p50</th><th>p90</th><th>p99</th>'
            f'<th>max</th><th>share of p99 tail</th></tr>{rows}</table>')
    for unfinished in path.unfinished:
        out.append(f'<p>{_e(unfinished.describe())}</p>')
    return ''.join(out)


def render_summary(stats: Stats) -> str:
    """Return the summary section: totals, the edge table, and each path."""
    return (
        f'<section id="summary"><h2>Summary: {stats.traces} traces, {stats.spans} spans</h2>'
        '<h3>Edges</h3>' + _edges_table(stats) + ''.join(
            _path_section(path) for path in stats.paths) + '</section>')
