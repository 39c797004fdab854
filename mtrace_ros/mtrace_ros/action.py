"""
Traced drop-ins for ``rclpy.action``: ``from mtrace_ros.action import ActionServer``.

See :mod:`mtrace_ros.instrumentation.action`.
"""

from mtrace_ros.instrumentation.action import ActionClient
from mtrace_ros.instrumentation.action import ActionServer

__all__ = ['ActionClient', 'ActionServer']
