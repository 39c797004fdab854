"""
A TracedNode for multi-process tests: a root, or a relay from one topic to others.

Prints one JSON line per root publication or received message with the
message's data and the trace context it ran in, so the test can check ids end
to end. ``--type string`` uses ``std_msgs/String`` (the companion route)
instead of ``mtrace_msgs/TracedString`` (the in-band header).

    chain_node.py NAME [--sub TOPIC] [--pub TOPIC ...] [--root-period SEC]
                  [--burst N] [--ticks N] [--wait-subscribers N] [--depth N]
                  [--type traced|string] [--best-effort] [--transient-local]
"""

import argparse
import json
from typing import Optional

from mtrace_msgs.msg import TracedString
import mtrace_ros
from mtrace_ros.wire.companion import companion_topic
import rclpy
from rclpy.qos import DurabilityPolicy
from rclpy.qos import QoSProfile
from rclpy.qos import ReliabilityPolicy
from std_msgs.msg import String
from stopping import spin_until_stopped  # noqa: I100 (test-local module)

TYPES = {'traced': TracedString, 'string': String}


def report(node_name: str, data: str, header_span_id: Optional[str] = None,
           has_gid: Optional[bool] = None) -> None:
    context = mtrace_ros.current_trace()
    print(json.dumps({
        'node': node_name, 'data': data, 'trace_id': context.trace_id,
        'span_id': context.span_id, 'parent_span_id': context.parent_span_id,
        'header_span_id': header_span_id, 'has_gid': has_gid,
    }), flush=True)


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument('name')
    parser.add_argument('--sub')
    parser.add_argument('--pub', action='append', default=[])
    parser.add_argument('--root-period', type=float)
    parser.add_argument('--burst', type=int, default=1,
                        help='messages per root tick, each in a trace of its own')
    parser.add_argument('--ticks', type=int, help='stop publishing after this many ticks')
    parser.add_argument('--wait-subscribers', type=int, default=0,
                        help='the root ticks only once each topic has this many subscribers, '
                             'on the data topic (and on its companion topic)')
    parser.add_argument('--depth', type=int, default=10, help='history depth of every endpoint')
    parser.add_argument('--type', choices=sorted(TYPES), default='traced')
    parser.add_argument('--best-effort', action='store_true')
    parser.add_argument('--transient-local', action='store_true')
    return parser.parse_known_args()


def main() -> None:
    args, ros_args = parse_args()
    msg_type = TYPES[args.type]
    qos = QoSProfile(depth=args.depth)
    if args.best_effort:
        qos.reliability = ReliabilityPolicy.BEST_EFFORT
    if args.transient_local:
        qos.durability = DurabilityPolicy.TRANSIENT_LOCAL
    rclpy.init(args=ros_args)
    node = mtrace_ros.TracedNode(args.name)
    publishers = [node.create_publisher(msg_type, topic, qos) for topic in args.pub]
    ticks = [0]

    def forward(data: str) -> None:
        for publisher in publishers:
            publisher.publish(msg_type(data=data))

    def on_message(msg, info) -> None:
        header = getattr(msg, 'header', None)
        report(args.name, msg.data,
               None if header is None else header.span_id.tobytes().hex(),
               'publisher_gid' in info)
        forward(msg.data)

    def subscribed() -> bool:
        # On the companion route, also the record writer must be matched with the
        # readers (the graph can list a reader before the writer is matched with it,
        # and a volatile record that no reader is matched with is not written).
        wanted = args.wait_subscribers
        return all(
            publisher.get_subscription_count() >= wanted and (
                msg_type is not String
                or node.count_subscribers(companion_topic(publisher.topic_name)) >= wanted
                and publisher._records.get_subscription_count() >= wanted)
            for publisher in publishers)

    def tick() -> None:
        if (args.ticks is not None and ticks[0] >= args.ticks) or not subscribed():
            return
        ticks[0] += 1
        for index in range(args.burst):
            data = f'{args.name} {ticks[0]}.{index}'
            with mtrace_ros.start_trace():
                report(args.name, data)
                forward(data)

    if args.sub:
        node.create_subscription(msg_type, args.sub, on_message, qos)
    if args.root_period:
        node.create_timer(args.root_period, tick)
    spin_until_stopped(node)


if __name__ == '__main__':
    main()
