"""
Load: 4 executor threads, 4 topics, sync and async callbacks, N traced messages.

Some async callbacks suspend, so steps of different messages interleave.

Every callback logs ``expect=<trace id of its message>`` (the test checks the
trace id mtrace put in front of it) and every span is checked against the
span that published its message. Prints one JSON summary line at the end.

    load_node.py COUNT [traced|string]

``traced`` (the default) sends ``mtrace_msgs/TracedString`` (the trace in the
message's header); ``string`` sends ``std_msgs/String`` (the companion
route), each message's data holding its index and the trace id it was sent in.
"""

import gc
import json
import sys
import threading
import time
import tracemalloc

from mtrace_msgs.msg import TracedString
import mtrace_ros
from mtrace_ros.export import spans
import rclpy
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from rclpy.qos import QoSProfile
from std_msgs.msg import String

TOPICS = ('sync_1', 'sync_2', 'async_1', 'async_2')
#: Messages per burst, and bursts per chunk: a chunk is drained before the next.
BURST = 50
CHUNK = 500
SUSPEND_EVERY = 4


def rss_kib() -> int:
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return -1


class YieldOnce:
    """
    Suspend a coroutine callback for one executor round.

    rclpy re-polls every suspended task on each executor iteration, so
    awaiting this lets other callbacks run in between, without a timer.
    """

    def __await__(self):
        yield


class TracedMessages:
    """``TracedString``: the index in the data, the trace id in the header."""

    msg_type = TracedString

    @staticmethod
    def make(index: int, trace_id: str) -> TracedString:
        return TracedString(data=str(index))

    @staticmethod
    def index(msg: TracedString) -> int:
        return int(msg.data)

    @staticmethod
    def trace_id(msg: TracedString) -> str:
        return msg.header.trace_id.tobytes().hex()


class StringMessages:
    """``std_msgs/String``: the index and the trace id it was sent in, in the data."""

    msg_type = String

    @staticmethod
    def make(index: int, trace_id: str) -> String:
        return String(data=f'{index} {trace_id}')

    @staticmethod
    def index(msg: String) -> int:
        return int(msg.data.split()[0])

    @staticmethod
    def trace_id(msg: String) -> str:
        return msg.data.split()[1]


MESSAGES = {'traced': TracedMessages, 'string': StringMessages}


class CheckingExporter:
    """Checks each span's parent against the span that published its message; keeps nothing."""

    def __init__(self, parents):
        self.parents = parents
        self.checked = 0
        self.wrong = 0
        self._lock = threading.Lock()  # spans end in four executor threads

    def export(self, records):
        for record in records:
            if record.kind != spans.KIND_RECEIVE:
                continue
            with self._lock:
                expected_parent = self.parents.pop(record.trace_id, None)
                self.checked += 1
                self.wrong += record.parent_span_id != expected_parent
        return True

    def shutdown(self):
        pass


def main() -> None:
    count = int(sys.argv[1])
    messages = MESSAGES[sys.argv[2] if len(sys.argv) > 2 else 'traced']
    parents = {}
    sink = CheckingExporter(parents)
    mtrace_ros.add_sink(sink, synchronous=True)
    rclpy.init()
    node = mtrace_ros.TracedNode('load')
    group = ReentrantCallbackGroup()
    qos = QoSProfile(depth=CHUNK)
    publishers = [node.create_publisher(messages.msg_type, topic, qos) for topic in TOPICS]
    lock = threading.Lock()
    # own: in its message's trace; foreign: under another span (another message's);
    # new_roots: in a new root trace (no trace context found for it); untraced: in none.
    done = {'received': 0, 'own': 0, 'foreign': 0, 'new_roots': 0, 'untraced': 0}

    def finish(msg):
        trace_id = messages.trace_id(msg)
        context = mtrace_ros.current_trace()
        node.get_logger().info(f'expect={trace_id}')
        if context is None:
            outcome = 'untraced'
        elif context.trace_id == trace_id:
            outcome = 'own'
        else:
            outcome = 'new_roots' if context.parent_span_id is None else 'foreign'
        with lock:
            done['received'] += 1
            done[outcome] += 1

    def on_sync(msg):
        finish(msg)

    async def on_async(msg):
        # rclpy's MultiThreadedExecutor re-submits a suspended task on every
        # round and scans them all each time: suspend some, not all, messages.
        if messages.index(msg) % SUSPEND_EVERY == 0:
            await YieldOnce()
        finish(msg)

    for topic in TOPICS:
        node.create_subscription(
            messages.msg_type, topic, on_async if topic.startswith('async') else on_sync, qos,
            callback_group=group)
    # rclpy's MultiThreadedExecutor can sleep in its wait set while a message
    # is still queued for a subscription whose previous callback was running;
    # a periodic no-op timer wakes it (without, a paced publisher can stall).
    node.create_timer(0.005, lambda: None, callback_group=group)
    executor = MultiThreadedExecutor(num_threads=4)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    deadline = time.monotonic() + 10
    while not all(p.get_subscription_count() for p in publishers):
        assert time.monotonic() < deadline, 'subscriptions never matched'
        time.sleep(0.01)

    def publish_all(first: int, last: int) -> None:
        """Publish messages first..last-1, each in a new trace, chunk by chunk."""
        for index in range(first, last):
            if index % BURST == 0:
                time.sleep(0.005)  # paces the bursts; rclpy's executor gets the GIL
            with mtrace_ros.start_trace() as root:
                parents[root.trace_id] = root.span_id
                publishers[index % len(publishers)].publish(messages.make(index, root.trace_id))
            if (index + 1) % CHUNK == 0 or index + 1 == last:
                deadline = time.monotonic() + 30
                while done['received'] < index + 1 and time.monotonic() < deadline:
                    time.sleep(0.01)

    # Memory after the first fifth (queues drained) against memory at the end:
    # Python objects still alive (tracemalloc), and the process's RSS.
    publish_all(0, count // 5)
    rss_warm = rss_kib()
    tracemalloc.start()
    publish_all(count // 5, count)
    gc.collect()  # a span and its context refer to each other: unreachable pairs wait for it
    heap_growth = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    executor.shutdown()
    spinner.join(10)
    print(json.dumps({
        **done,
        'spans_checked': sink.checked, 'wrong_spans': sink.wrong,
        'rss_warm_kib': rss_warm, 'rss_end_kib': rss_kib(),
        'python_heap_growth_bytes': heap_growth,
    }), flush=True)
    node.destroy_node()
    rclpy.try_shutdown()


if __name__ == '__main__':
    main()
