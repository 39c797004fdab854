"""How a test node spins until it is stopped (``ChildProcess.stop`` sends SIGINT)."""

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node


def spin_until_stopped(node: Node) -> None:
    """Spin ``node`` until SIGINT or shutdown; then destroy it and shut rclpy down."""
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RuntimeError:
        # rclpy's SIGINT handler shuts the context down from its own thread: between
        # two waits, the next one fails ("context is not valid"). That is the stop.
        if rclpy.ok():
            raise
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
