"""
Load: 4 executor threads, 4 topics, sync and async callbacks, N traced messages.

Every callback logs ``expect=<trace id of its message>`` (the test checks the
trace id mtrace put in front of it) and every span is checked against the
header it came from. Prints one JSON summary line at the end.

    load_node.py COUNT
"""

import json
import sys
import threading
import time

from mtrace_msgs.msg import TracedString
import mtrace_ros
from mtrace_ros import spans
import rclpy
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from rclpy.qos import QoSProfile
from rclpy.task import Future

TOPICS = ('sync_1', 'sync_2', 'async_1', 'async_2')
IN_FLIGHT = 200


def rss_kib() -> int:
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return -1


class CheckingSink:
    """Checks each span against the header of the message it handled; keeps nothing."""

    def __init__(self, parents):
        self.parents = parents
        self.checked = 0
        self.wrong = 0

    def submit(self, span):
        if span.kind != spans.KIND_RECEIVE:
            return
        expected_parent = self.parents.pop(span.context.trace_id, None)
        self.checked += 1
        self.wrong += span.context.parent_span_id != expected_parent

    def close(self):
        pass


def main() -> None:
    count = int(sys.argv[1])
    parents = {}
    sink = CheckingSink(parents)
    spans.add_sink(sink)
    rclpy.init()
    node = mtrace_ros.TracedNode('load')
    group = ReentrantCallbackGroup()
    qos = QoSProfile(depth=IN_FLIGHT * 2)
    publishers = [node.create_publisher(TracedString, topic, qos) for topic in TOPICS]
    lock = threading.Lock()
    done = {'received': 0, 'wrong': 0}
    pending = []

    def finish(msg):
        trace_id = msg.header.trace_id.tobytes().hex()
        context = mtrace_ros.current_trace()
        node.get_logger().info(f'expect={trace_id}')
        with lock:
            done['received'] += 1
            done['wrong'] += context is None or context.trace_id != trace_id

    def on_sync(msg):
        finish(msg)

    async def on_async(msg):
        future = Future()
        with lock:
            pending.append(future)
        await future
        finish(msg)

    def release():
        with lock:
            ready = pending[:]
            del pending[:]
        for future in ready:
            future.set_result(None)

    for topic in TOPICS:
        node.create_subscription(
            TracedString, topic, on_async if topic.startswith('async') else on_sync, qos,
            callback_group=group)
    node.create_timer(0.001, release, callback_group=group)
    executor = MultiThreadedExecutor(num_threads=4)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    deadline = time.monotonic() + 10
    while not all(p.get_subscription_count() for p in publishers):
        assert time.monotonic() < deadline, 'subscriptions never matched'
        time.sleep(0.01)

    rss_warm = None
    for index in range(count):
        while index - done['received'] > IN_FLIGHT:
            time.sleep(0.0005)
        if index == count // 5:
            rss_warm = rss_kib()
        with mtrace_ros.start_trace() as root:
            parents[root.trace_id] = root.span_id
            publishers[index % len(publishers)].publish(TracedString(data=str(index)))
    deadline = time.monotonic() + 60
    while done['received'] < count and time.monotonic() < deadline:
        time.sleep(0.01)
    executor.shutdown()
    spinner.join(10)
    print(json.dumps({
        'received': done['received'], 'wrong_contexts': done['wrong'],
        'spans_checked': sink.checked, 'wrong_spans': sink.wrong,
        'rss_warm_kib': rss_warm, 'rss_end_kib': rss_kib(),
    }), flush=True)
    node.destroy_node()
    rclpy.try_shutdown()


if __name__ == '__main__':
    main()
