"""
A plain rclpy node (mtrace is never imported) on a ``std_msgs/String`` topic.

Subscriber: prints one JSON line per message it receives. Publisher: sends
``NAME 1``, ``NAME 2``, ... every period and prints one JSON line per message.

    plain_node.py NAME (--sub TOPIC | --pub TOPIC --period SEC)
"""

import argparse
import json

import rclpy
from rclpy.node import Node
from std_msgs.msg import String
from stopping import spin_until_stopped  # noqa: I100 (test-local module)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('name')
    parser.add_argument('--sub')
    parser.add_argument('--pub')
    parser.add_argument('--period', type=float, default=0.1)
    args, ros_args = parser.parse_known_args()
    rclpy.init(args=ros_args)
    node = Node(args.name)
    sent = [0]

    def on_message(msg: String) -> None:
        print(json.dumps({'node': args.name, 'type': type(msg).__name__, 'data': msg.data}),
              flush=True)

    if args.sub:
        node.create_subscription(String, args.sub, on_message, 10)
    if args.pub:
        publisher = node.create_publisher(String, args.pub, 10)

        def tick() -> None:
            sent[0] += 1
            msg = String(data=f'{args.name} {sent[0]}')
            publisher.publish(msg)
            print(json.dumps({'node': args.name, 'data': msg.data}), flush=True)
        node.create_timer(args.period, tick)
    spin_until_stopped(node)


if __name__ == '__main__':
    main()
