"""Group 1: what one ``publish()`` call costs, plain vs traced (no subscriber: the call alone)."""

import contextlib
import time
from typing import Any
from typing import List

from harness import compare
from harness import median_row
from harness import Row
import mtrace_ros
from ros_setup import destroy
from ros_setup import HEADER_PLAIN
from ros_setup import HEADER_TRACED
from ros_setup import new_topic
from ros_setup import Path
from ros_setup import Session


class PublishMeasure:
    """
    Measures ns per ``publish()`` of a ``size``-byte message on a path.

    ``in_trace``: the publishes run inside one trace (a callback or timer tick
    that publishes); otherwise each traced publish starts a root trace of its own.
    """

    def __init__(
        self, session: Session, path: Path, size: int, count: int, *, in_trace: bool,
    ) -> None:
        self.publisher = path.create_publisher(session.node, new_topic(f'pub_{path.name}'), 10)
        self._msg = path.make_message(size)
        self._count = count
        self._in_trace = in_trace

    def __call__(self) -> float:
        """Return ns per call of one run of ``count`` publishes."""
        publish, msg, count = self.publisher.publish, self._msg, self._count
        scope: Any = mtrace_ros.start_trace() if self._in_trace else contextlib.nullcontext()
        with scope:
            start = time.perf_counter_ns()
            for _ in range(count):
                publish(msg)
            return (time.perf_counter_ns() - start) / count


def compare_publish(
    session: Session, plain: Path, traced: Path, size: int, count: int, repeat: int, *,
    in_trace: bool, group: str, case: str,
) -> Row:
    """Return the row comparing the publish call of two paths."""
    baseline = PublishMeasure(session, plain, size, count, in_trace=in_trace)
    subject = PublishMeasure(session, traced, size, count, in_trace=in_trace)
    try:
        values = compare(baseline, subject, repeat=repeat)
    finally:
        destroy(session.node, baseline.publisher, subject.publisher)
    return median_row(group, case, 'us/msg', values, scale=1e-3)


def run(session: Session, *, quick: bool, repeat: int) -> List[Row]:
    """Measure the publish call for 256 B and 64 KiB messages, in and outside a trace."""
    count = 200 if quick else 500
    return [
        compare_publish(session, HEADER_PLAIN, HEADER_TRACED, 256, count, repeat,
                        in_trace=False, group='1 publish', case='256 B, new trace each'),
        compare_publish(session, HEADER_PLAIN, HEADER_TRACED, 256, count, repeat,
                        in_trace=True, group='1 publish', case='256 B, inside a trace'),
        compare_publish(session, HEADER_PLAIN, HEADER_TRACED, 65536, count // 4, repeat,
                        in_trace=False, group='1 publish', case='64 KiB, new trace each'),
    ]
