"""
Where the one-process throughput gap goes: mtrace's costs measured in place.

Usage (in the environment, not part of ``make bench``)::

    python3 bench/in_situ.py [--repeat N] [--threaded]

Group 2's one-process row compares plain rclpy with mtrace on both ends.
This splits that gap by running five sides interleaved in one session: plain;
traced (both ends, task contexts on, as group 2's traced side); a traced
publisher only; a traced subscription only (fed headers that carry a trace);
task contexts only. It also times, in place, every ``publish()`` call and
every call of the traced subscription's callback wrapper: what mtrace's own
code costs between the executor's and the middleware's work, where caches are
cold, as opposed to a ``timeit`` loop. By default one thread publishes a chunk
and then spins until it is delivered, so no thread hand-off is involved;
``--threaded`` spins in a second thread as group 2 does.
"""

import argparse
import functools
import os
import statistics
import sys
import tempfile
import threading
import time
from typing import Any
from typing import Dict
from typing import List

from mtrace_msgs.msg import TracedString
import mtrace_ros
from ros_setup import bench_domain
from ros_setup import DEADLINE_SEC
from ros_setup import new_topic
from ros_setup import qos
from ros_setup import rclpy_tasks
from ros_setup import Session
from ros_setup import wait_matched

#: Messages published before waiting for their delivery (as in group 2).
CHUNK = 20
#: Chunks per repetition.
CHUNKS = 20


class Side:
    """One publisher and subscription pair; which ends are traced, and whether tasks are."""

    def __init__(self, session: Session, name: str, *, publisher: bool, subscription: bool,
                 tasks: bool) -> None:
        self.name = name
        self._session = session
        self._tasks = tasks
        self._received = 0
        self._target = 0
        self._delivered = threading.Event()
        self.publish_ns = 0
        self.publishes = 0
        node = session.node
        topic = new_topic(f'situ_{len(name)}')
        if subscription:
            self.subscription = mtrace_ros.create_traced_subscription(
                node, TracedString, topic, self._on, qos(CHUNK))
        else:
            self.subscription = node.create_subscription(
                TracedString, topic, self._on, qos(CHUNK))
        if publisher:
            self.publisher = mtrace_ros.create_traced_publisher(
                node, TracedString, topic, qos(CHUNK))
        else:
            self.publisher = node.create_publisher(TracedString, topic, qos(CHUNK))
        self.msg = TracedString(data='x' * 256)
        # A header carrying a trace, as a traced publisher leaves it.
        with mtrace_ros.start_trace() as context:
            self.msg.header.trace_id = list(context.trace_id_bytes)
            self.msg.header.span_id = list(context.span_id_bytes)
            self.msg.header.flags = context.flags
        wait_matched(self.publisher)

    def _on(self, msg: Any) -> None:
        self._received += 1
        if self._received >= self._target:
            self._delivered.set()

    def __call__(self, threaded: bool) -> float:
        """Return µs per message over one repetition."""
        publish, msg = self.publisher.publish, self.msg
        spin = self._session.executor.spin_once
        clock = time.perf_counter_ns
        with rclpy_tasks(instrumented=self._tasks):
            start = clock()
            for _ in range(CHUNKS):
                self._target = self._received + CHUNK
                self._delivered.clear()
                for _ in range(CHUNK):
                    before = clock()
                    publish(msg)
                    self.publish_ns += clock() - before
                if threaded:
                    if not self._delivered.wait(DEADLINE_SEC):
                        raise TimeoutError(f'{self.name}: a chunk did not arrive in time')
                else:
                    while self._received < self._target:
                        spin(timeout_sec=DEADLINE_SEC)
            elapsed = clock() - start
        self.publishes += CHUNKS * CHUNK
        return elapsed / (CHUNKS * CHUNK) / 1000


def time_callback(side: Side) -> List[int]:
    """Wrap ``side``'s subscription callback in a timer; return [total ns, calls]."""
    spent = [0, 0]
    inner = side.subscription.callback

    @functools.wraps(inner)
    def timed(*args: Any) -> Any:
        before = time.perf_counter_ns()
        try:
            return inner(*args)
        finally:
            spent[0] += time.perf_counter_ns() - before
            spent[1] += 1
    side.subscription.callback = timed  # keeps the signature rclpy read at creation
    return spent


def main(argv: List[str]) -> int:
    """Run the five sides interleaved and print the split."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--repeat', type=int, default=21, help='repetitions per side')
    parser.add_argument('--threaded', action='store_true',
                        help='spin the executor in a second thread (as group 2)')
    args = parser.parse_args(argv)
    os.environ.setdefault('ROS_DOMAIN_ID', str(bench_domain()))
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    os.environ['ROS_LOG_DIR'] = tempfile.mkdtemp(prefix='mtrace-bench-log-')
    session = Session()
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            session.executor.spin_once(timeout_sec=0.05)

    spinner = threading.Thread(target=spin, name='situ-executor', daemon=True)
    try:
        sides = [
            Side(session, 'plain', publisher=False, subscription=False, tasks=False),
            Side(session, 'traced', publisher=True, subscription=True, tasks=True),
            Side(session, 'publisher only', publisher=True, subscription=False, tasks=False),
            Side(session, 'subscription only', publisher=False, subscription=True,
                 tasks=False),
            Side(session, 'tasks only', publisher=False, subscription=False, tasks=True),
        ]
        if args.threaded:
            spinner.start()
        for side in sides:  # warm-up
            side(args.threaded)
        wrapper = time_callback(sides[1])
        for side in sides:
            side.publish_ns = side.publishes = 0
        values: Dict[str, List[float]] = {side.name: [] for side in sides}
        for index in range(args.repeat):
            for side in sides if index % 2 == 0 else sides[::-1]:
                values[side.name].append(side(args.threaded))
    finally:
        stop.set()
        if spinner.is_alive():
            spinner.join()
        session.close()
    report(sides, values, wrapper, args)
    return 0


def report(sides: List[Side], values: Dict[str, List[float]], wrapper: List[int],
           args: argparse.Namespace) -> None:
    """Print medians per message, the added cost and ratio of each side, in-place times."""
    plain = statistics.median(values['plain'])
    mode = 'executor in a second thread' if args.threaded else 'one thread: publish, then spin'
    print(f'{args.repeat} repetitions per side, {CHUNKS * CHUNK} messages each; {mode}')
    print(f'{"side":18s} {"us/msg":>8s} {"added":>7s} {"ratio":>6s} {"publish() us":>13s}')
    for side in sides:
        value = statistics.median(values[side.name])
        print(f'{side.name:18s} {value:8.1f} {value - plain:+7.1f} {plain / value:6.3f} '
              f'{side.publish_ns / side.publishes / 1000:13.2f}')
    print(f'traced callback wrapper, in place: {wrapper[0] / max(wrapper[1], 1) / 1000:.2f} us '
          f'per message (user callback included), {wrapper[1]} calls')


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
