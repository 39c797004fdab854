"""
A TracedNode for multi-process tests: a root, or a relay from one topic to others.

Prints one JSON line per root tick or received message with the trace
context it ran in, so the test can check ids end to end.

    chain_node.py NAME [--sub TOPIC] [--pub TOPIC ...] [--root-period SEC]
"""

import argparse
import json

from mtrace_msgs.msg import TracedString
import mtrace_ros
import rclpy
from rclpy.executors import ExternalShutdownException


def report(node_name: str, header_span_id=None) -> None:
    context = mtrace_ros.current_trace()
    print(json.dumps({
        'node': node_name, 'trace_id': context.trace_id, 'span_id': context.span_id,
        'parent_span_id': context.parent_span_id, 'header_span_id': header_span_id,
    }), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('name')
    parser.add_argument('--sub')
    parser.add_argument('--pub', action='append', default=[])
    parser.add_argument('--root-period', type=float)
    args, ros_args = parser.parse_known_args()
    rclpy.init(args=ros_args)
    node = mtrace_ros.TracedNode(args.name)
    publishers = [node.create_publisher(TracedString, topic, 10) for topic in args.pub]

    def forward(data: str) -> None:
        for publisher in publishers:
            publisher.publish(TracedString(data=data))

    def on_message(msg: TracedString) -> None:
        report(args.name, msg.header.span_id.tobytes().hex())
        forward(msg.data)

    def tick() -> None:
        with mtrace_ros.start_trace():
            report(args.name)
            forward('tick')

    if args.sub:
        node.create_subscription(TracedString, args.sub, on_message, 10)
    if args.root_period:
        node.create_timer(args.root_period, tick)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
