"""
ROS plumbing shared by the benchmarks: the session, the compared paths, spinning.

A *path* is one way a message travels: the same message type through rclpy's
own publisher and subscription (plain) or through mtrace's (traced). For the
embedded-header path the type is ``mtrace_msgs/TracedString`` both ways (the
plain publisher leaves the header as it is); for the companion path it is
``std_msgs/String`` both ways (mtrace adds a record on the hidden companion
topic); for the envelope path the plain side is the unwrapped ``std_msgs/String``.
"""

import contextlib
import dataclasses
import itertools
import os
import threading
import time
from typing import Any
from typing import Callable
from typing import Iterator
from typing import Optional

from harness import added_note
from harness import compare
from harness import median_row
from mtrace_msgs.msg import TracedString
import mtrace_ros
from mtrace_ros.instrumentation import tasks
from mtrace_ros.testing.domains import pick_domain
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rclpy.qos import ReliabilityPolicy
from rclpy.subscription import Subscription
from std_msgs.msg import String

#: Discovery between processes usually takes ~50 ms, sometimes 2 s; allow 10.
DEADLINE_SEC = 10.0
_NS_PER_SEC = 1_000_000_000

_topic_counter = itertools.count()


def bench_domain() -> int:
    """Return the run's ROS domain id: of ``MTRACE_TEST_DOMAINS=LO-HI`` if set, else 120-219."""
    return pick_domain('120-219')


def qos(depth: int) -> QoSProfile:
    """Return reliable keep-last QoS deep enough that a burst is not overwritten."""
    return QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE)


def new_topic(stem: str) -> str:
    """Return a topic name not used before in this run."""
    return f'/bench/{stem}_{next(_topic_counter)}'


@dataclasses.dataclass(frozen=True)
class Path:
    """How messages of one type are published and received, plain or traced."""

    name: str
    msg_type: Any
    traced: bool
    #: Whether the type has a ``header`` (a ``TracedHeader``) to stamp.
    has_header: bool
    #: Whether the traced side sends the message in a ``TracedEnvelope``.
    envelope: bool = False

    def make_message(self, size: int) -> Any:
        """Return a message with a ``size``-byte string payload."""
        msg = self.msg_type()
        msg.data = 'x' * size
        return msg

    def create_publisher(self, node: Node, topic: str, depth: int) -> Any:
        """Create the path's publisher."""
        if self.traced:
            return mtrace_ros.create_traced_publisher(
                node, self.msg_type, topic, qos(depth), envelope=self.envelope)
        return node.create_publisher(self.msg_type, topic, qos(depth))

    def create_subscription(
        self, node: Node, topic: str, callback: Callable[[Any], None], depth: int,
    ) -> Any:
        """Create the path's subscription."""
        if self.traced:
            return mtrace_ros.create_traced_subscription(
                node, self.msg_type, topic, callback, qos(depth), envelope=self.envelope)
        return node.create_subscription(self.msg_type, topic, callback, qos(depth))


HEADER_PLAIN = Path('header', TracedString, traced=False, has_header=True)
HEADER_TRACED = Path('header', TracedString, traced=True, has_header=True)
COMPANION_PLAIN = Path('companion', String, traced=False, has_header=False)
COMPANION_TRACED = Path('companion', String, traced=True, has_header=False)
ENVELOPE_PLAIN = Path('envelope', String, traced=False, has_header=False)
ENVELOPE_TRACED = Path('envelope', String, traced=True, has_header=False, envelope=True)


@contextlib.contextmanager
def rclpy_tasks(*, instrumented: bool) -> Iterator[None]:
    """
    Run the body with rclpy's tasks instrumented by mtrace, or as plain rclpy has them.

    Importing mtrace_ros instruments every ``Task`` of the process: the plain
    side of a one-process comparison switches that off while it runs, so that
    it stays plain rclpy (each callback an executor runs is a task).
    """
    was = tasks.instrumented()
    (tasks.instrument_tasks if instrumented else tasks.uninstrument_tasks)()
    try:
        yield
    finally:
        (tasks.instrument_tasks if was else tasks.uninstrument_tasks)()


def set_stamp(msg: Any, now_ns: int) -> None:
    """Stamp a plain message's header the way mtrace's inject does."""
    stamp = msg.header.stamp
    stamp.sec, stamp.nanosec = divmod(now_ns, _NS_PER_SEC)


def stamp_of(msg: Any) -> int:
    """Return a header's publish stamp in ns."""
    stamp = msg.header.stamp
    return stamp.sec * _NS_PER_SEC + stamp.nanosec


class Session:
    """An rclpy context on the bench's domain, with one node and an executor."""

    def __init__(self, name: str = 'bench') -> None:
        self.context = Context()
        rclpy.init(context=self.context, domain_id=int(os.environ['ROS_DOMAIN_ID']))
        self.node = Node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def close(self) -> None:
        """Destroy the node and shut the context down."""
        self.executor.shutdown()
        self.node.destroy_node()
        self.context.try_shutdown()

    @contextlib.contextmanager
    def spinning(self) -> Iterator[None]:
        """Spin the executor in a dedicated thread for the ``with`` body."""
        stop = threading.Event()

        def spin() -> None:
            while not stop.is_set():
                self.executor.spin_once(timeout_sec=0.05)

        thread = threading.Thread(target=spin, name='bench-executor', daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()


def wait_for(predicate: Callable[[], bool], what: str, timeout_sec: float = DEADLINE_SEC,
             poll_sec: float = 0.005) -> None:
    """Poll ``predicate()`` until it holds; raise naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout_sec
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f'timed out after {timeout_sec:g} s waiting for {what}')
        time.sleep(poll_sec)


def spin_until_done(executor: Any, future: Any, what: str) -> Any:
    """Spin ``executor`` once at a time until ``future`` is done; return its result."""
    deadline = time.monotonic() + DEADLINE_SEC
    while not future.done():
        if time.monotonic() > deadline:
            raise TimeoutError(f'{what} not answered')
        executor.spin_once(timeout_sec=1.0)
    return future.result()


def per_round_trip_us(count: int, traced: bool, round_trip: Callable[[], None]) -> float:
    """
    Return the µs per ``round_trip()`` over ``count`` of them, one at a time.

    Traced, each runs inside its own ``start_trace()`` with rclpy's tasks
    instrumented; plain, with them uninstrumented.
    """
    with rclpy_tasks(instrumented=traced):
        start = time.perf_counter_ns()
        for _ in range(count):
            if traced:
                with mtrace_ros.start_trace():
                    round_trip()
            else:
                round_trip()
        return (time.perf_counter_ns() - start) / count / 1e3


def route_rows(
    group: str, measure: str, unit: str, make: Callable[[bool, Any], Callable[[], float]],
    routes: Any, repeat: int,
) -> list:
    """
    Return one row per ``(route, interface type)``: plain ``make(False, type)`` against traced.

    Each side made is closed (``close()``) after its comparison.

    ``measure`` is formatted with the route (``{route}``).
    """
    rows = []
    for route, interface in routes:
        # Later groups run in the same session: leave its node as it was.
        with contextlib.ExitStack() as sides:
            baseline = make(False, interface)
            sides.callback(baseline.close)
            subject = make(True, interface)
            sides.callback(subject.close)
            values = compare(baseline, subject, repeat=repeat)
        row = median_row(group, measure.format(route=route), unit, values)
        row.note = added_note(row)
        rows.append(row)
    return rows


def wait_matched(publisher: Any, count: int = 1, timeout_sec: float = DEADLINE_SEC) -> None:
    """Wait until ``publisher`` has ``count`` subscriptions matched."""
    wait_for(lambda: publisher.get_subscription_count() >= count,
             f'{count} subscription(s) on {publisher.topic_name}', timeout_sec)


def destroy(node: Node, *entities: Optional[Any]) -> None:
    """Destroy publishers and subscriptions a benchmark created (with their companions)."""
    for entity in entities:
        if entity is None:
            continue
        if isinstance(entity, Subscription):
            node.destroy_subscription(entity)
        else:
            node.destroy_publisher(entity)
