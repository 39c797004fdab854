"""
Publish TracedStrings with a fixed, known header with plain rclpy until stopped.

Used to check that every header byte crosses a process boundary intact.
"""

import sys

from mtrace_msgs.msg import TracedString
import rclpy

TRACE_ID = list(range(1, 17))
SPAN_ID = [0xF0, 0xE1, 0xD2, 0xC3, 0xB4, 0xA5, 0x96, 0x87]
FLAGS = 0x81
STAMP = (1_700_000_000, 123_456_789)
DATA = 'payload \u00e9\u00e8 ' + 'x' * 200


def main() -> None:
    # Here, not at the top: test_wire imports this module from the test directory.
    from stopping import spin_until_stopped

    rclpy.init()
    node = rclpy.create_node('fixed_header_talker')
    publisher = node.create_publisher(TracedString, sys.argv[1], 10)

    def tick() -> None:
        msg = TracedString(data=DATA)
        msg.header.trace_id = TRACE_ID
        msg.header.span_id = SPAN_ID
        msg.header.flags = FLAGS
        msg.header.stamp.sec, msg.header.stamp.nanosec = STAMP
        publisher.publish(msg)

    node.create_timer(0.05, tick)
    spin_until_stopped(node)


if __name__ == '__main__':
    main()
