"""
Group 6: what each span sink costs when on, against tracing with no sink (off).

Traced pub -> sub throughput in one process (256 B), with the sink
registered (on) or not (off), interleaved on the same publisher and
subscription. Each message then records two spans: the root its publish
starts and the callback's receive span.

The ``null`` sink is a trivial in-process sink (``submit``/``close``), so
its row is the cost of recording spans at all. The real sinks (JSON Lines,
the span topic) are measured when this build has ``mtrace_ros.export``.
"""

import pathlib
import tempfile
from typing import Any
from typing import Callable
from typing import List
from typing import Optional
from typing import Tuple

from harness import compare
from harness import median_row
from harness import Row
from mtrace_ros.export import spans
from mtrace_ros.export.schema import SpanRecord
from ros_setup import HEADER_TRACED
from ros_setup import Session
from throughput import OneProcess

GROUP = '6 span sinks'


class NullSink:
    """Takes spans and keeps nothing: the cost of recording, with no export."""

    def __init__(self) -> None:
        self.submitted = 0

    def submit(self, record: SpanRecord) -> None:
        """Count the span."""
        self.submitted += 1

    def close(self) -> None:
        """Release nothing."""


def _configured_sink(spec: str, session: Session) -> Optional[Any]:
    """Return the sink ``spec`` names (unregistered), or ``None`` without ``mtrace_ros.export``."""
    try:
        from mtrace_ros.export import configure_sinks
    except ImportError:
        return None
    (sink,) = configure_sinks(spec, node=session.node)
    spans.remove_sink(sink)
    return sink


def sink_factories(directory: pathlib.Path) -> List[Tuple[str, Callable[[Session], Any]]]:
    """Return (name, factory) of each sink to measure; a factory may return ``None``."""
    return [
        ('null (in-process)', lambda session: NullSink()),
        ('jsonl', lambda session: _configured_sink(f'jsonl:{directory}/spans.jsonl', session)),
        ('topic', lambda session: _configured_sink('topic:/bench/spans', session)),
    ]


class Toggled:
    """Runs a measure with ``sink`` registered (on) or not (off)."""

    def __init__(self, measure: Callable[[], float], sink: Optional[Any]) -> None:
        self._measure = measure
        self._sink = sink

    def __call__(self) -> float:
        """Return the measure's value with the sink on (or off)."""
        if self._sink is None:
            return self._measure()
        spans.add_sink(self._sink)
        try:
            return self._measure()
        finally:
            spans.remove_sink(self._sink)


def run(session: Session, *, quick: bool, repeat: int) -> List[Row]:
    """Measure traced throughput with each sink on and off."""
    count = 100 if quick else 200
    rows = []
    with tempfile.TemporaryDirectory(prefix='mtrace-bench-') as directory, \
            session.spinning():
        measure = OneProcess(session, HEADER_TRACED, 256, count)
        try:
            for name, factory in sink_factories(pathlib.Path(directory)):
                sink = factory(session)
                if sink is None:
                    continue
                try:
                    values = compare(Toggled(measure, None), Toggled(measure, sink),
                                     repeat=repeat)
                finally:
                    sink.close()
                rows.append(median_row(
                    GROUP, f'{name}: traced throughput 256 B, on vs off', 'msg/s', values,
                    higher_is_better=True, note='2 spans per message'))
        finally:
            measure.close(session)
    return rows
