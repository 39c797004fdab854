"""
Group 6: what each span sink costs when on, against tracing with no sink (off).

Traced pub -> sub throughput in one process (256 B), with a sink added
through the public seam (``mtrace_ros.add_sink``: on) or none (off),
interleaved on the same publisher and subscription. Each message then records
two spans: the root its publish starts and the callback's receive span.

Each "on" repetition adds the sink (a new processor around one exporter kept
open for the whole group, so that no node or file is made while measuring)
and, before it stops the clock, flushes it (``force_flush``): the export work
of those spans counts, wherever the batching layer happened to schedule it.
The ``null`` exporter keeps nothing, so its row is the cost of recording and
queueing spans at all.
"""

import pathlib
import tempfile
import time
from typing import Callable
from typing import List
from typing import Tuple

from harness import compare
from harness import median_row
from harness import Row
import mtrace_ros
from mtrace_ros.export.jsonl import JsonLinesExporter
from mtrace_ros.export.processor import SpanExporter
from mtrace_ros.export.registry import remove_sink
from mtrace_ros.export.schema import SpanRecord
from mtrace_ros.export.topic import TopicExporter
from ros_setup import DEADLINE_SEC
from ros_setup import HEADER_TRACED
from ros_setup import Session
from throughput import OneProcess

GROUP = '6 span sinks'


class NullExporter:
    """Takes batches and keeps nothing: the cost of recording and queueing, with no export."""

    name = 'null'

    def export(self, records: List[SpanRecord]) -> bool:
        """Drop the batch."""
        return True

    def shutdown(self) -> None:
        """Release nothing."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Return True: nothing is buffered."""
        return True


def exporter_factories(
        directory: pathlib.Path) -> List[Tuple[str, Callable[[Session], SpanExporter]]]:
    """Return (name, factory) of each sink to measure."""
    return [
        ('null (in-process)', lambda session: NullExporter()),
        ('jsonl', lambda session: JsonLinesExporter(f'{directory}/spans.jsonl')),
        ('topic', lambda session: TopicExporter(session.node.context, '/bench/spans')),
    ]


class KeptOpen:
    """An exporter shared by every "on" repetition: their processors close, it stays open."""

    def __init__(self, exporter: SpanExporter) -> None:
        self.exporter = exporter
        self.name = getattr(exporter, 'name', type(exporter).__name__)

    def export(self, records: List[SpanRecord]) -> bool:
        """Export through the shared exporter."""
        return self.exporter.export(records)

    def shutdown(self) -> None:
        """Keep the shared exporter open (it is shut down after the group)."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush the shared exporter."""
        return self.exporter.force_flush(timeout_millis)


class SinkOn:
    """Runs a measure with a sink added (on), its flush included in the time."""

    def __init__(self, measure: OneProcess, exporter: SpanExporter) -> None:
        self._measure = measure
        self._exporter = KeptOpen(exporter)

    def __call__(self) -> float:
        """Return the measure's msg/s, counting the time the sink took to flush too."""
        processor = mtrace_ros.add_sink(self._exporter)
        try:
            rate = self._measure()
            started = time.perf_counter()
            if not processor.force_flush(DEADLINE_SEC):
                raise TimeoutError(f'sink {processor.name} did not flush in time')
            flush_sec = time.perf_counter() - started
        finally:
            remove_sink(processor)
        if processor.dropped:
            raise RuntimeError(f'sink {processor.name} dropped {processor.dropped} spans')
        count = self._measure.count
        return count / (count / rate + flush_sec)


def run(session: Session, *, quick: bool, repeat: int) -> List[Row]:
    """Measure traced throughput with each sink on and off."""
    count = 100 if quick else 200
    rows = []
    with tempfile.TemporaryDirectory(prefix='mtrace-bench-') as directory, \
            session.spinning():
        measure = OneProcess(session, HEADER_TRACED, 256, count)
        try:
            for name, factory in exporter_factories(pathlib.Path(directory)):
                exporter = factory(session)
                try:
                    values = compare(measure, SinkOn(measure, exporter), repeat=repeat)
                finally:
                    exporter.shutdown()
                rows.append(median_row(
                    GROUP, f'{name}: traced throughput 256 B, on vs off', 'msg/s', values,
                    higher_is_better=True, note='2 spans per message, flush included'))
        finally:
            measure.close(session)
    return rows
