"""
Group 3: latency added per hop, publish stamp to callback start, in one process.

One message at a time (the next is published when the callback has run), so
nothing queues; the executor spins in a dedicated thread. On the header path
the stamp is the ``TracedHeader`` stamp: mtrace's inject sets it in a traced
publish, and the plain side sets it the same way just before ``publish()``.
The callback's first statement reads the clock. Traced minus plain is what
mtrace adds per hop.
"""

import threading
import time
from typing import Any
from typing import List
from typing import Optional

from harness import added_note
from harness import compare
from harness import percentile
from harness import Row
from ros_setup import DEADLINE_SEC
from ros_setup import destroy
from ros_setup import HEADER_PLAIN
from ros_setup import HEADER_TRACED
from ros_setup import new_topic
from ros_setup import Path
from ros_setup import rclpy_tasks
from ros_setup import Session
from ros_setup import set_stamp
from ros_setup import stamp_of
from ros_setup import wait_matched

#: From the header stamp (mtrace's, or set just before a plain publish).
FROM_STAMP = 'stamp'
#: From the clock read just before ``publish()`` (any type; includes the publish call).
FROM_SEND = 'send'


class PingLatency:
    """Publishes one message at a time on a path; collects send-to-callback latencies."""

    def __init__(
        self, session: Session, path: Path, size: int, samples: int, start: str,
    ) -> None:
        if start == FROM_STAMP and not path.has_header:
            raise ValueError(f'the {path.name} path has no header stamp')
        self._path = path
        self._samples = samples
        self._start = start
        self._arrived = threading.Event()
        self._sent_ns = 0
        self._latencies: List[float] = []
        topic = new_topic(f'lat_{path.name}')
        self.subscription = path.create_subscription(session.node, topic, self._on, 10)
        self.publisher = path.create_publisher(session.node, topic, 10)
        self._msg = path.make_message(size)
        wait_matched(self.publisher)

    def _on(self, msg: Any) -> None:
        now_ns = time.time_ns()
        start_ns = stamp_of(msg) if self._start == FROM_STAMP else self._sent_ns
        self._latencies.append((now_ns - start_ns) / 1e3)
        self._arrived.set()

    def __call__(self) -> List[float]:
        """Return the latencies (us) of ``samples`` one-at-a-time messages."""
        self._latencies = []
        publish, msg, arrived = self.publisher.publish, self._msg, self._arrived
        stamp_plain = self._start == FROM_STAMP and not self._path.traced
        with rclpy_tasks(instrumented=self._path.traced):
            for _ in range(self._samples):
                arrived.clear()
                if stamp_plain:
                    set_stamp(msg, time.time_ns())
                self._sent_ns = time.time_ns()
                publish(msg)
                if not arrived.wait(DEADLINE_SEC):
                    raise TimeoutError(f'no callback within {DEADLINE_SEC:g} s')
        return self._latencies

    def close(self, session: Session) -> None:
        """Destroy the publisher and subscription."""
        destroy(session.node, self.publisher, self.subscription)


def latency_rows(
    session: Session, plain: Path, traced: Path, samples: int, repeat: int, *,
    start: str, group: str, case: str, target_us: Optional[float] = None,
) -> List[Row]:
    """Return the median and p99 rows of two paths' per-hop latency (256 B messages)."""
    baseline = PingLatency(session, plain, 256, samples, start)
    subject = PingLatency(session, traced, 256, samples, start)
    try:
        values = compare(baseline, subject, repeat=repeat)
    finally:
        baseline.close(session)
        subject.close(session)
    median = Row(group, f'{case}, median', 'us', percentile(values[0], 0.5),
                 percentile(values[1], 0.5))
    median.note = added_note(median, target=target_us)
    p99 = Row(group, f'{case}, p99', 'us', percentile(values[0], 0.99),
              percentile(values[1], 0.99))
    p99.note = added_note(p99)
    return [median, p99]


def run(session: Session, *, quick: bool, repeat: int) -> List[Row]:
    """Measure the per-hop latency of the header path, stamp to callback start."""
    with session.spinning():
        return latency_rows(
            session, HEADER_PLAIN, HEADER_TRACED, 100 if quick else 300, repeat,
            start=FROM_STAMP, group='3 latency', case='256 B, stamp -> callback',
            target_us=15.0)
