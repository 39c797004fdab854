"""
A TracedNode that logs in every way rclpy and Python offer, for each message it gets.

Subscribes to ``TracedString`` on the topic named by ``argv[1]``. For each
message (``data`` = ``m0``, ``m1``, ...) it logs the lines below from distinct
call sites; tests find each call's line number by its text. One line is
logged outside any trace, at start.
"""

import logging
import sys

from mtrace_msgs.msg import TracedString
from mtrace_ros import current_trace
from mtrace_ros import RosLogHandler
from mtrace_ros import TracedNode
import rclpy
import rclpy.logging
from stopping import spin_until_stopped  # noqa: I100 (test-local module)


class LogLines(TracedNode):
    """Log one line per logging feature for each received message."""

    def __init__(self, topic: str) -> None:
        super().__init__('log_lines')
        self.library = logging.getLogger('some_library')
        self.library.setLevel(logging.INFO)
        self.library.addHandler(RosLogHandler(self.get_logger()))
        self.get_logger().info('started, outside any trace')
        self.create_subscription(TracedString, topic, self.on_message, 10)

    def on_message(self, msg: TracedString) -> None:
        logger = self.get_logger()
        data = msg.data
        logger.info(f'handling {data} in span {current_trace().span_id}')
        logger.debug(f'debug {data} is below the level')
        logger.get_child('child').warning(f'child logger {data}')
        rclpy.logging.get_logger('free').error(f'free logger {data} {{}} %s')
        logger.info(f'once info {data}', once=True)
        logger.warning(f'once warning {data}', once=True)
        logger.info(f'throttled {data}', throttle_duration_sec=3600.0)
        logger.info(f'skip first {data}', skip_first=True)
        self.library.warning('library %s', data)
        logger.info(f'handled {data}')


def main() -> None:
    rclpy.init()  # not `with`: rclpy 7 (Jazzy) init returns no context manager
    node = LogLines(sys.argv[1])
    spin_until_stopped(node)


if __name__ == '__main__':
    main()
