"""
A benchmark child process: a subscriber that counts, or a logger that is timed.

Plain children never import mtrace_ros, so that they are plain rclpy in every
respect (importing mtrace_ros instruments rclpy's logger). The parent sends
one command per line on stdin; the child answers one line on stdout.

    child.py subscriber {plain|traced} TOPIC DEPTH [TYPE]
        TYPE: TracedString (default) or String (the companion route when traced);
        commands: reset -> ok; wait N -> count RECEIVED LAST_RECEIVE_NS (when N
        arrived, or nothing more for STALL_SEC)
    child.py logger {plain|traced}
        commands: run N {inside|outside} -> result NS_PER_CALL (inside or outside a trace)
"""

import contextlib
import sys
import threading
import time
from typing import Any
from typing import Callable
from typing import Dict

from mtrace_msgs.msg import TracedString
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rclpy.qos import ReliabilityPolicy
from std_msgs.msg import String

#: The message types a subscriber child can take, by name.
TYPES = {'TracedString': TracedString, 'String': String}


def say(line: str) -> None:
    """Answer the parent."""
    sys.stdout.write(line + '\n')
    sys.stdout.flush()


#: A burst ends when nothing more arrives for this long (or everything did).
STALL_SEC = 0.5
#: How long the first message of a burst may take at most.
FIRST_SEC = 10.0


class Counter:
    """Counts received messages, remembers when the last one arrived, signals a target."""

    def __init__(self) -> None:
        self.count = 0
        self.last_ns = 0
        self.target = 0
        self.reached = threading.Event()

    def __call__(self, msg: Any) -> None:
        self.last_ns = time.time_ns()
        self.count += 1
        if self.count == self.target:
            self.reached.set()

    def reset(self) -> str:
        self.count = self.last_ns = self.target = 0
        self.reached.clear()
        return 'ok'

    def wait(self, target: str) -> str:
        """Block (without taking the GIL from the executor) until ``target`` arrived or stall."""
        self.target = int(target)
        seen = -1
        waited = 0.0
        # The first message may take longer on a loaded machine: a stall is only
        # counted once something arrived (or after FIRST_SEC of nothing).
        while self.count < self.target and (self.count != seen or not seen):
            if not seen and waited >= FIRST_SEC:
                break
            seen = self.count
            self.reached.wait(STALL_SEC)
            waited += STALL_SEC
        return f'count {self.count} {self.last_ns}'


def subscriber(
    node: Node, traced: bool, topic: str, depth: int, msg_type: Any = TracedString,
) -> Dict[str, Callable]:
    """Subscribe to ``topic``; return the command handlers."""
    counter = Counter()
    qos = QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE)
    if traced:
        import mtrace_ros
        mtrace_ros.create_traced_subscription(node, msg_type, topic, counter, qos)
    else:
        node.create_subscription(msg_type, topic, counter, qos)
    return {'reset': counter.reset, 'wait': counter.wait}


def logger(node: Node, traced: bool) -> Dict[str, Callable]:
    """Return the handler that times the node's ``info`` calls, inside a trace or outside."""
    log = node.get_logger()
    if traced:
        import mtrace_ros  # instruments rclpy's logger (where logging is implemented)
        instrument = getattr(mtrace_ros, 'instrument_logging', None)
        if instrument is not None:
            instrument()
        in_trace: Callable[[], Any] = mtrace_ros.start_trace
    else:
        in_trace = contextlib.nullcontext

    def time_calls(count: int) -> float:
        info = log.info
        start = time.perf_counter_ns()
        for _ in range(count):
            info('benchmark line with a small payload')
        return (time.perf_counter_ns() - start) / count

    def run(count: str, where: str) -> str:
        if where == 'inside':
            with in_trace():
                return f'result {time_calls(int(count))}'
        return f'result {time_calls(int(count))}'

    return {'run': run}


def main() -> None:
    """Run the child named on the command line until stdin closes or 'quit'."""
    role, mode = sys.argv[1], sys.argv[2]
    rclpy.init()
    node = Node(f'bench_{role}_{mode}')
    if role == 'subscriber':
        handlers = subscriber(node, mode == 'traced', sys.argv[3], int(sys.argv[4]),
                              TYPES[sys.argv[5] if len(sys.argv) > 5 else 'TracedString'])
    else:
        handlers = logger(node, mode == 'traced')
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    say('ready')
    for line in sys.stdin:
        command, *args = line.split()
        if command == 'quit':
            break
        say(handlers[command](*args))


if __name__ == '__main__':
    try:
        main()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception as ex:  # tell the parent instead of dying silently
        say(f'error {type(ex).__name__}: {ex}')
        raise
    finally:
        rclpy.try_shutdown()
