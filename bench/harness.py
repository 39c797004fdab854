"""
The shared measuring harness: warm-up, alternating repetitions, medians, the table.

Every comparison runs its baseline (plain rclpy) and its subject (mtrace) in
the same process and run, interleaved A B B A A B ... so that drift of a
noisy machine (other processes, CPU frequency) falls on both alike. Ratios
of medians are what to read; absolute values move from run to run.
"""

import dataclasses
import statistics
from typing import Callable
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple

#: A measurement: one repetition's value, or its samples (pooled across repetitions).
Measure = Callable[[], object]


@dataclasses.dataclass
class Row:
    """One line of the results table."""

    group: str
    case: str
    unit: str
    baseline: float
    subject: float
    #: Whether a larger value is better (throughput), for the reader's arrow.
    higher_is_better: bool = False
    note: str = ''

    @property
    def ratio(self) -> float:
        """Return subject / baseline (traced / plain, or sink on / off)."""
        return self.subject / self.baseline if self.baseline else float('nan')


def percentile(samples: Sequence[float], fraction: float) -> float:
    """Return the ``fraction`` quantile of ``samples`` (nearest rank)."""
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


def _flatten(values: List[object]) -> List[float]:
    flat: List[float] = []
    for value in values:
        if isinstance(value, (list, tuple)):
            flat.extend(value)
        else:
            flat.append(float(value))  # type: ignore[arg-type]
    return flat


def compare(
    baseline: Measure, subject: Measure, *, repeat: int, warmup: int = 1,
) -> Tuple[List[float], List[float]]:
    """
    Run both measures ``warmup`` times unrecorded, then ``repeat`` times each, interleaved.

    The order is A B, B A, A B, ... so that neither side always runs first.
    A measure returns one number per repetition, or a list of samples; the
    result is every value of each side, pooled.
    """
    for _ in range(warmup):
        baseline()
        subject()
    values: Tuple[List[object], List[object]] = ([], [])
    for index in range(repeat):
        order = ((0, baseline), (1, subject)) if index % 2 == 0 else (
            (1, subject), (0, baseline))
        for side, measure in order:
            values[side].append(measure())
    return _flatten(values[0]), _flatten(values[1])


def median_row(
    group: str, case: str, unit: str, values: Tuple[List[float], List[float]], *,
    scale: float = 1.0, higher_is_better: bool = False, note: str = '',
) -> Row:
    """Return the row of the medians of both sides, times ``scale``."""
    return Row(
        group, case, unit, statistics.median(values[0]) * scale,
        statistics.median(values[1]) * scale, higher_is_better, note)


def target_note(row: Row, target: float, *, at_least: bool) -> str:
    """Say whether the row's ratio meets ``target`` (``at_least``: ratio >= target)."""
    met = row.ratio >= target if at_least else row.ratio <= target
    return f"target {'>=' if at_least else '<='} {target:.2f}: {'met' if met else 'MISSED'}"


def _format_value(value: float) -> str:
    if value >= 1000:
        return f'{value:,.0f}'
    if value >= 10:
        return f'{value:.1f}'
    return f'{value:.2f}'


def table_lines(rows: Sequence[Row], *, markdown: bool) -> List[str]:
    """Return the table, for a terminal or as GitHub markdown."""
    header = ('group', 'measure', 'unit', 'plain / off', 'traced / on', 'ratio', 'note')
    cells = [header] + [
        (row.group, row.case, row.unit, _format_value(row.baseline),
         _format_value(row.subject), f'{row.ratio:.3f}', row.note) for row in rows]
    if markdown:
        lines = ['| ' + ' | '.join(cells[0]) + ' |', '|' + ' --- |' * len(header)]
        lines += ['| ' + ' | '.join(line) + ' |' for line in cells[1:]]
        return lines
    widths = [max(len(line[column]) for line in cells) for column in range(len(header))]
    lines = []
    for number, line in enumerate(cells):
        lines.append('  '.join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())
        if number == 0:
            lines.append('  '.join('-' * width for width in widths))
    return lines


def added_note(row: Row, *, target: Optional[float] = None) -> str:
    """Say by how much the subject exceeds the baseline, in the row's unit."""
    added = row.subject - row.baseline
    text = f'added {added:+.1f} {row.unit}'
    if target is not None:
        text += f" (target <= {target:g}: {'met' if added <= target else 'MISSED'})"
    return text
