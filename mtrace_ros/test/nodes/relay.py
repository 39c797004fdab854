"""
A TracedNode that relays TracedStrings: a root with a timer, a relay, or a leaf.

    relay.py --name a --pub a --period 0.2     # root: a new trace every 0.2 s
    relay.py --name b --sub a --pub b          # relay: forwards what it gets
    relay.py --name d --sub b                  # leaf

ROS arguments (``--ros-args -p mtrace.sinks:=...``) are passed to rclpy.
"""

import argparse
import sys

from mtrace_msgs.msg import TracedString
from mtrace_ros import start_trace
from mtrace_ros import TracedNode
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.utilities import remove_ros_args


class Relay(TracedNode):
    """Subscribe to one topic and/or publish on another, every message in its trace."""

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args.name)
        self._publisher = (
            self.create_publisher(TracedString, args.pub, 10) if args.pub else None)
        if args.sub:
            self.create_subscription(TracedString, args.sub, self._forward, 10)
        if args.period:
            self.create_timer(args.period, self._tick)
        self._count = 0

    def _tick(self) -> None:
        self._count += 1
        with start_trace(node=self.get_logger().name):
            self._publisher.publish(TracedString(data=str(self._count)))

    def _forward(self, msg: TracedString) -> None:
        if self._publisher is not None:
            self._publisher.publish(TracedString(data=msg.data))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--name', required=True)
    parser.add_argument('--sub')
    parser.add_argument('--pub')
    parser.add_argument('--period', type=float)
    args = parser.parse_args(remove_ros_args(sys.argv)[1:])
    rclpy.init(args=sys.argv)
    node = Relay(args)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
