"""
The six demo nodes; each is a console_script (``ros2 run mtrace_ros a`` ...).

They are ordinary nodes converted by their base class (:class:`TracedNode`)
and log with ``self.get_logger()`` as usual: every line they write while
handling a message carries its trace id. Two of them do on purpose what
breaks naive trace propagation: ``b`` awaits, in an ``async def`` callback, a
future that a timer callback completes later; ``c`` hands its work to a
thread pool. The edge ``c -> f`` is a ``std_msgs/String`` topic, traced
without any change to the type (:data:`STANDARD_TYPE_EDGES`).
"""

import concurrent.futures
import os
import signal
import sys
import threading
import time
from typing import Any
from typing import List
from typing import Optional
from typing import Tuple
from typing import Type

from mtrace_msgs.action import TracedCount
from mtrace_msgs.msg import TracedString
from mtrace_msgs.srv import TracedTrigger
import mtrace_ros
from mtrace_ros.action import ActionClient
from mtrace_ros.action import ActionServer
from mtrace_ros.demo.stopping import StopSignals
from mtrace_ros.demo.topology import COUNT_ACTION
from mtrace_ros.demo.topology import DEFAULT_RATE_HZ
from mtrace_ros.demo.topology import DemoNode
from mtrace_ros.demo.topology import ENV_RUNNER_FD
from mtrace_ros.demo.topology import node_named
from mtrace_ros.demo.topology import PLAN_SERVICE
from mtrace_ros.demo.topology import rate_problem
from mtrace_ros.demo.topology import STANDARD_TYPE_EDGES
from rcl_interfaces.msg import ParameterDescriptor
import rclpy
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import ExternalShutdownException
import rclpy.logging
from rclpy.signals import SignalHandlerOptions
from rclpy.task import Future
from std_msgs.msg import String

QOS_DEPTH = 10
#: How long b holds each message before its release timer lets it go on.
B_HOLD_SEC = 0.02


def message_type(topic: str) -> Type:
    """Return the message type of a demo edge: any type is traced, with a header or without."""
    return String if topic in STANDARD_TYPE_EDGES else TracedString


class TreeNode(mtrace_ros.TracedNode):
    """A node of the demo tree: subscribes to its parent's topic, publishes to its children."""

    def __init__(self, spec: DemoNode) -> None:
        super().__init__(spec.name)
        self.spec = spec
        self.group = ReentrantCallbackGroup()
        self.outputs = [
            self.create_publisher(message_type(topic), topic, QOS_DEPTH)
            for topic in spec.publishes]
        if spec.subscribes:
            self.create_subscription(
                message_type(spec.subscribes), spec.subscribes, self.on_message, QOS_DEPTH,
                callback_group=self.group)

    def on_message(self, msg: Any) -> None:
        """Handle one message: log it and pass it on."""
        self.get_logger().info(f'received "{msg.data}" on {self.spec.subscribes}')
        self.forward(msg.data)

    def forward(self, data: str) -> None:
        """Publish ``data`` to every child of this node."""
        for publisher in self.outputs:
            publisher.publish(publisher.msg_type(data=data))


class BadParameter(Exception):
    """A parameter the node cannot run with; the message is the one line said."""


class RootNode(TreeNode):
    """``a``: one new trace per timer tick, at the ``rate`` parameter (Hz)."""

    def __init__(self, spec: DemoNode) -> None:
        super().__init__(spec)
        # Any type: `rate:=5` (an integer) works, `rate:=abc` is refused below in one line.
        rate = self.declare_parameter(
            'rate', DEFAULT_RATE_HZ, ParameterDescriptor(dynamic_typing=True)).value
        problem = rate_problem(rate)
        if problem is not None:
            self.destroy_node()
            raise BadParameter(f'parameter {problem}')
        self.ticks = 0
        self.create_timer(1.0 / rate, self.tick)

    def tick(self) -> None:
        """Start a trace and send the input of this tick down the tree."""
        self.ticks += 1
        with mtrace_ros.start_trace(node=self.get_logger().name):
            self.get_logger().info(f'tick {self.ticks}: new input, starting a trace')
            self.forward(f'input {self.ticks}')


class AwaitingNode(TreeNode):
    """``b``: an ``async def`` callback awaits a future that a timer callback completes."""

    def __init__(self, spec: DemoNode) -> None:
        super().__init__(spec)
        self.held: List[Tuple[Future, float]] = []
        self.create_timer(B_HOLD_SEC, self.release, callback_group=self.group)

    async def on_message(self, msg: TracedString) -> None:
        """Wait for the release timer, then pass the message on (in the same trace)."""
        self.get_logger().info(f'received "{msg.data}"; waiting for the release timer')
        released = Future()
        self.held.append((released, time.monotonic()))
        waited_ms = await released
        self.get_logger().info(f'released after {waited_ms:.1f} ms; forwarding to d and e')
        self.forward(msg.data)

    def release(self) -> None:
        """Complete every held future (runs outside any trace: a plain timer)."""
        held, self.held = self.held, []
        now = time.monotonic()
        for future, since in held:
            future.set_result((now - since) * 1000.0)


class PoolNode(TreeNode):
    """``c``: hands each message to a worker thread, carrying the trace with ``wrap``."""

    def __init__(self, spec: DemoNode) -> None:
        super().__init__(spec)
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)

    def on_message(self, msg: TracedString) -> None:
        """Queue the work; the worker logs and publishes in this message's trace."""
        self.get_logger().info(f'received "{msg.data}"; handing it to a worker thread')
        self.pool.submit(mtrace_ros.wrap(self.work), msg.data)

    def work(self, data: str) -> None:
        """Do the work in a pool thread, inside the trace carried by ``wrap``."""
        started = time.perf_counter()
        result = data.upper()
        self.get_logger().info(
            f'worker thread processed "{data}" in {(time.perf_counter() - started) * 1e6:.0f} us')
        self.forward(result)

    def destroy_node(self) -> None:
        """Stop the pool with the node; work under way ends (its span too) before sinks flush."""
        self.pool.shutdown(wait=True, cancel_futures=True)
        super().destroy_node()


class PlanServer(TreeNode):
    """``d``: a leaf that also serves :data:`PLAN_SERVICE` and :data:`COUNT_ACTION`."""

    def __init__(self, spec: DemoNode) -> None:
        super().__init__(spec)
        self.create_service(TracedTrigger, PLAN_SERVICE, self.plan, callback_group=self.group)
        self.counter = ActionServer(
            self, TracedCount, COUNT_ACTION, self.count, callback_group=self.group)

    def count(self, goal_handle: Any) -> TracedCount.Result:
        """Count to the goal's target, one feedback per step (in the sender's trace)."""
        target = goal_handle.request.target
        self.get_logger().info(f'counting to {target}')
        for current in range(1, target + 1):
            goal_handle.publish_feedback(TracedCount.Feedback(current=current))
        goal_handle.succeed()
        return TracedCount.Result(count=target)

    def plan(self, request: TracedTrigger.Request, response: TracedTrigger.Response) -> Any:
        """Answer one request (logged in the caller's trace)."""
        self.get_logger().info(f'planning for "{request.data}"')
        response.success = True
        response.message = f'plan for {request.data}'
        return response


class PlanAsker(TreeNode):
    """``e``: a leaf that asks d's :data:`PLAN_SERVICE` for each message it handles."""

    def __init__(self, spec: DemoNode) -> None:
        super().__init__(spec)
        self.client = self.create_client(TracedTrigger, PLAN_SERVICE, callback_group=self.group)

    def on_message(self, msg: TracedString) -> None:
        """Log the message and ask d; the answer is logged in the same trace."""
        super().on_message(msg)
        if self.client.service_is_ready():
            future = self.client.call_async(TracedTrigger.Request(data=msg.data))
            future.add_done_callback(self.on_plan)

    def on_plan(self, future: Future) -> None:
        """Log d's answer (a done callback: it runs in the trace of the message that asked)."""
        self.get_logger().info(f'd answered "{future.result().message}"')


class GoalSender(TreeNode):
    """``f``: a leaf that sends d a short :data:`COUNT_ACTION` goal for each message."""

    def __init__(self, spec: DemoNode) -> None:
        super().__init__(spec)
        self.counter = ActionClient(self, TracedCount, COUNT_ACTION, callback_group=self.group)

    def on_message(self, msg: Any) -> None:
        """Log the message and send d a goal; its result is logged in the same trace."""
        super().on_message(msg)
        if self.counter.server_is_ready():
            future = self.counter.send_goal_async(TracedCount.Goal(target=2))
            future.add_done_callback(self.on_accepted)

    def on_accepted(self, future: Future) -> None:
        """Ask for the accepted goal's result (a done callback: in the message's trace)."""
        if future.result().accepted:
            future.result().get_result_async().add_done_callback(self.on_result)

    def on_result(self, future: Future) -> None:
        """Log the goal's result."""
        self.get_logger().info(f'd counted to {future.result().result.count}')


_NODE_CLASSES = {
    'a': RootNode, 'b': AwaitingNode, 'c': PoolNode, 'd': PlanServer, 'e': PlanAsker,
    'f': GoalSender}


def run(name: str, args: Optional[List[str]] = None) -> None:
    """
    Run the demo node ``name`` until Ctrl-C (SIGINT), SIGTERM or shutdown.

    One thread is enough, even for ``b``: its coroutine callback is suspended
    while the release timer runs (the awaited future wakes it up). The node
    takes the stop signals itself, instead of rclpy (see
    :mod:`mtrace_ros.demo.stopping`): it stops promptly, and exits 0, wherever
    the signal lands; and it stops in order, so its span topic sink delivers
    every span before the context shuts down (rclpy's handler would shut it
    down at once, under the sink).
    """
    stop = StopSignals()
    stop.install()
    if stop.asked:
        return  # stopped while it still imported: nothing started, nothing to stop
    spec = node_named(name)
    _stop_when_runner_dies()
    # not `with`: rclpy 7 (Jazzy) init returns no context manager
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    try:
        try:
            node = _NODE_CLASSES.get(name, TreeNode)(spec)
        except BadParameter as ex:
            rclpy.logging.get_logger(name).fatal(str(ex))
            sys.exit(2)
        try:
            stop.spin(node)
        except ExternalShutdownException:
            pass
        finally:
            node.destroy_node()  # a TracedNode: its topic sink delivers what it queues first
            stop.torn_down = True
    finally:
        rclpy.try_shutdown()


def _stop_when_runner_dies() -> None:
    """Under ``make demo``, stop as on Ctrl-C when the runner's pipe closes (it died)."""
    try:
        fd = int(os.environ.pop(ENV_RUNNER_FD))
        os.fstat(fd)
    except (KeyError, ValueError, OSError):
        return  # not started by the runner (or by one that passed no pipe)

    def watch() -> None:
        try:
            while os.read(fd, 1):
                pass
        except OSError:
            pass  # a broken pipe is a closed one
        os.kill(os.getpid(), signal.SIGINT)
    threading.Thread(target=watch, name='mtrace-demo-runner-watch', daemon=True).start()


def main_a(args: Optional[List[str]] = None) -> None:
    """Run node ``a``, the root."""
    run('a', args)


def main_b(args: Optional[List[str]] = None) -> None:
    """Run node ``b``."""
    run('b', args)


def main_c(args: Optional[List[str]] = None) -> None:
    """Run node ``c``."""
    run('c', args)


def main_d(args: Optional[List[str]] = None) -> None:
    """Run node ``d``."""
    run('d', args)


def main_e(args: Optional[List[str]] = None) -> None:
    """Run node ``e``."""
    run('e', args)


def main_f(args: Optional[List[str]] = None) -> None:
    """Run node ``f``."""
    run('f', args)
