"""
Collect spans from the span topic and write them as JSON Lines.

The collector is a plain rclpy node: it records no spans itself (a span for
each span received would feed the topic it reads). It stops after a count,
after a duration, or on SIGINT/SIGTERM (then it still writes the spans it
had received: :mod:`.draining`), and always leaves a complete file: each
record is written and flushed as one line.

Spans published before the collector matched their publisher never reach it
(the span topic is volatile). So that no one mistakes them for lost ones,
the collector writes a marker line each time it matches a publisher
(:data:`~mtrace_ros.analysis.records.MATCHED_KEY`), and ``mtrace tree``
marks what earlier spans sent as "before collection started".
"""

import json
import signal
import sys
import threading
import time
from typing import Callable
from typing import List
from typing import Optional
from typing import TextIO

from mtrace_msgs.msg import Span as SpanMsg
from mtrace_ros.analysis.draining import drain
from mtrace_ros.analysis.records import MATCHED
from mtrace_ros.analysis.records import MATCHED_KEY
from mtrace_ros.export.schema import record_from_message
from mtrace_ros.export.schema import record_to_dict
from mtrace_ros.export.schema import SPAN_QOS
from mtrace_ros.export.schema import SPAN_TOPIC
import rclpy
from rclpy.context import Context
from rclpy.event_handler import QoSSubscriptionMatchedInfo
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.executors import Executor
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

NODE_NAME = 'mtrace_collect'
_POLL_SEC = 0.1


def collect(
    output: TextIO,
    *,
    count: Optional[int] = None,
    duration_sec: Optional[float] = None,
    args: Optional[List[str]] = None,
) -> int:
    """
    Write every span received on :data:`SPAN_TOPIC` to ``output``; return how many.

    :param output: a text stream; one JSON object per line, flushed per line:
        the spans, and a marker each time a span publisher is matched.
    :param count: stop after this many spans.
    :param duration_sec: stop after this many seconds.
    :param args: command line arguments for rclpy (``--ros-args`` ones are used).
    """
    stop = threading.Event()
    context = Context()
    rclpy.init(args=args, context=context, signal_handler_options=SignalHandlerOptions.NO)
    restore = stop_on_signals(stop)
    written = 0

    def write(record: dict) -> None:
        output.write(json.dumps(record, separators=(',', ':')) + '\n')
        output.flush()

    def on_span(msg: SpanMsg) -> None:
        nonlocal written
        if count is not None and written >= count:
            return
        write(record_to_dict(record_from_message(msg)))
        written += 1
        if count is not None and written >= count:
            stop.set()

    def on_matched(info: QoSSubscriptionMatchedInfo) -> None:
        # Taken after the match: spans sent before this time may have been missed.
        if info.current_count_change > 0 and not stop.is_set():
            write({MATCHED_KEY: MATCHED, 'publishers': info.current_count,
                   'time_ns': time.time_ns()})

    executor = SingleThreadedExecutor(context=context)
    node = Node(NODE_NAME, context=context)
    try:
        subscription = node.create_subscription(
            SpanMsg, SPAN_TOPIC, on_span, SPAN_QOS,
            event_callbacks=SubscriptionEventCallbacks(
                incompatible_qos=_warn_incompatible, matched=on_matched))
        executor.add_node(node)
        spin_until_stopped(executor, context, stop, duration_sec,
                           more=lambda: count is None or count > 0)
        drain([subscription])
    finally:
        restore()
        executor.shutdown()
        node.destroy_node()
        context.try_shutdown()
    return written


def _warn_incompatible(event: object) -> None:
    print(
        f'mtrace collect: a publisher of {SPAN_TOPIC} has a QoS this reliable subscription '
        'cannot match (a best-effort span publisher?); its spans are not received',
        file=sys.stderr)


def spin_until_stopped(
    executor: Executor, context: Context, stop: threading.Event,
    duration_sec: Optional[float], more: Callable[[], bool] = lambda: True,
) -> None:
    """Spin until ``stop`` is set, ``duration_sec`` passed, ``more()`` is false or ROS ends."""
    deadline = None if duration_sec is None else time.monotonic() + duration_sec
    while not stop.is_set() and more() and context.ok():
        left = _POLL_SEC if deadline is None else deadline - time.monotonic()
        if left <= 0:
            break
        executor.spin_once(timeout_sec=min(left, _POLL_SEC))


def stop_on_signals(stop: threading.Event):
    """Make SIGINT and SIGTERM set ``stop``; return the function that undoes it."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return restore
