"""
Run a traced hop in a process where OpenTelemetry cannot be imported; print what happened.

A ``sys.meta_path`` finder refuses every ``opentelemetry`` module, as on a
ROS install without it. Prints one JSON object.

    without_opentelemetry.py SPANS_JSONL
"""

import json
import sys
import time

# Blocks OpenTelemetry before anything below is imported (the module is next to this script).
__import__('no_opentelemetry').block()

from mtrace_msgs.msg import TracedString  # noqa: E402 (after the blocker)
import mtrace_ros  # noqa: E402
from mtrace_ros.core import context  # noqa: E402
from mtrace_ros.core import sampling  # noqa: E402
import rclpy  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402


def main() -> None:
    rclpy.init()
    node = mtrace_ros.TracedNode('plain')
    mtrace_ros.configure_sinks(f'jsonl:{sys.argv[1]}', node=node)
    try:
        mtrace_ros.configure_sinks('otlp-http')
        otlp = 'created'
    except ImportError as ex:
        otlp = str(ex)
    handled = []

    def on_message(msg):
        mtrace_ros.current_span().set_attribute('no.otel', True)
        handled.append(mtrace_ros.current_trace().trace_id)
    node.create_subscription(TracedString, 'hop', on_message, 10)
    publisher = node.create_publisher(TracedString, 'hop', 10)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    deadline = time.monotonic() + 10
    while not handled and time.monotonic() < deadline:
        with mtrace_ros.start_trace(name='tick'):
            publisher.publish(TracedString())
        executor.spin_once(timeout_sec=0.05)
    sampling.configure_sampling(0.5, None)
    sampled = 0
    for _ in range(2000):
        with mtrace_ros.start_trace() as trace:
            sampled += trace.sampled
    mtrace_ros.close_sinks()
    print(json.dumps({
        'handled': handled[:1],
        'otel_modules': sorted(name for name in sys.modules if name.startswith('opentelemetry')),
        'bridge': repr(context._bridge),
        'otlp': otlp,
        'sampled': sampled,
    }), flush=True)
    node.destroy_node()
    rclpy.shutdown()


if __name__ == '__main__':
    main()
