"""
Group 2: pub -> sub throughput, in one process and across two processes.

In one process, publisher and executor share the GIL: a blind burst measures
mostly when the interpreter happens to switch threads (every 5 ms). So the
publisher sends chunks of ``CHUNK`` messages and waits (releasing the GIL)
until the executor thread has delivered each chunk: the rate is messages
over the time from the first publish to the last callback.

Across processes the publisher sends the whole burst as fast as
``publish()`` returns and the child, which takes no commands meanwhile,
reports when the last message arrived. Reliable QoS with a history as deep
as the burst: nothing is overwritten, every message is delivered.
"""

import threading
import time
from typing import List

from children import Child
from harness import compare
from harness import median_row
from harness import Row
from harness import target_note
from in_band_floor import FloorPath
from mtrace_msgs.msg import TracedString
from ros_setup import DEADLINE_SEC
from ros_setup import destroy
from ros_setup import HEADER_PLAIN
from ros_setup import HEADER_TRACED
from ros_setup import new_topic
from ros_setup import Path
from ros_setup import rclpy_tasks
from ros_setup import Session
from ros_setup import wait_matched

#: Messages published before waiting for their delivery (one process).
CHUNK = 20
#: A hand-inlined in-band tracer doing only what every hop must (see in_band_floor).
FLOOR = FloorPath('floor', TracedString, traced=True, has_header=True)


class OneProcess:
    """A publisher and a subscription of one path in the session's (spinning) node."""

    def __init__(self, session: Session, path: Path, size: int, count: int) -> None:
        self.count = count
        self._traced = path.traced
        self._received = 0
        self._target = 0
        self._last_ns = 0
        self._delivered = threading.Event()
        topic = new_topic(f'tp_{path.name}')
        self.subscription = path.create_subscription(session.node, topic, self._on, CHUNK)
        self.publisher = path.create_publisher(session.node, topic, CHUNK)
        self._msg = path.make_message(size)
        wait_matched(self.publisher)

    def _on(self, msg: object) -> None:
        self._last_ns = time.time_ns()
        self._received += 1
        if self._received == self._target:
            self._delivered.set()

    def __call__(self) -> float:
        """Return msg/s of ``count`` messages sent in chunks."""
        publish, msg, delivered = self.publisher.publish, self._msg, self._delivered
        self._received = 0
        with rclpy_tasks(instrumented=self._traced):
            start_ns = time.time_ns()
            for self._target in range(CHUNK, self.count + 1, CHUNK):
                delivered.clear()
                for _ in range(CHUNK):
                    publish(msg)
                if not delivered.wait(DEADLINE_SEC):
                    raise TimeoutError(
                        f'{self._received} of {self._target} messages arrived in time')
        return self._received / ((self._last_ns - start_ns) / 1e9)

    def close(self, session: Session) -> None:
        """Destroy the publisher and subscription."""
        destroy(session.node, self.publisher, self.subscription)


def one_process_row(
    session: Session, plain: Path, traced: Path, size: int, count: int, repeat: int, *,
    group: str, case: str,
) -> Row:
    """Return the row comparing one-process throughput of two paths (executor spinning)."""
    baseline = OneProcess(session, plain, size, count)
    subject = OneProcess(session, traced, size, count)
    try:
        values = compare(baseline, subject, repeat=repeat)
    finally:
        baseline.close(session)
        subject.close(session)
    return median_row(group, case, 'msg/s', values, higher_is_better=True)


class TwoProcesses:
    """A publisher here, its subscription (plain or traced alike) in a child process."""

    def __init__(self, session: Session, path: Path, size: int, count: int) -> None:
        self.count = count
        topic = new_topic(f'tp2_{path.name}')
        self.child = Child(['subscriber', 'traced' if path.traced else 'plain', topic,
                            str(count), path.msg_type.__name__])
        self.publisher = path.create_publisher(session.node, topic, count)
        self._msg = path.make_message(size)

    def wait_ready(self) -> None:
        """Wait for the child's subscription and the match."""
        self.child.expect()
        wait_matched(self.publisher)

    def __call__(self) -> float:
        """Return msg/s of one burst received by the child."""
        self.child.request('reset')
        publish, msg = self.publisher.publish, self._msg
        start_ns = time.time_ns()
        for _ in range(self.count):
            publish(msg)
        _, received, last_ns = self.child.request(f'wait {self.count}').split()
        if int(received) == 0:
            raise RuntimeError('the child received nothing')
        return int(received) / ((int(last_ns) - start_ns) / 1e9)

    def close(self, session: Session) -> None:
        """Stop the child and destroy the publisher."""
        self.child.stop()
        destroy(session.node, self.publisher)


def two_process_row(
    session: Session, plain: Path, traced: Path, size: int, count: int, repeat: int, *,
    group: str = '2 throughput', case: str = '',
) -> Row:
    """Return the row comparing two-process throughput of two paths."""
    baseline = TwoProcesses(session, plain, size, count)
    subject = TwoProcesses(session, traced, size, count)
    try:
        baseline.wait_ready()
        subject.wait_ready()
        values = compare(baseline, subject, repeat=repeat)
    finally:
        baseline.close(session)
        subject.close(session)
    return median_row(group, case or f'{size} B, two processes', 'msg/s', values,
                      higher_is_better=True)


def run(session: Session, *, quick: bool, repeat: int) -> List[Row]:
    """Measure 256 B throughput in one and in two processes, and 64 KiB in one."""
    count = 100 if quick else 200
    rows = []
    with session.spinning():
        row = one_process_row(session, HEADER_PLAIN, HEADER_TRACED, 256, count, repeat,
                              group='2 throughput', case='256 B, one process')
        row.note = target_note(row, 0.95, at_least=True)
        rows.append(row)
        rows.append(one_process_row(
            session, HEADER_PLAIN, HEADER_TRACED, 65536, count, repeat,
            group='2 throughput', case='64 KiB, one process'))
        rows.append(one_process_row(
            session, HEADER_PLAIN, FLOOR, 256, count, repeat, group='2 throughput',
            case='256 B, one process: the least in-band tracing (in_band_floor.py)'))
    rows.append(two_process_row(session, HEADER_PLAIN, HEADER_TRACED, 256, count * 3, repeat))
    return rows
