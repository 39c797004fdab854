"""
Record traced topics into a standard rosbag2 recording, without ROS's command line.

``mtrace record -o DIR`` does what ``ros2 bag record -s mcap -o DIR`` does for
the topics that hold traces: a plain rclpy node subscribes to each topic with
serialized (CDR) messages and writes them, with the receive time, into
``DIR/`` (``metadata.yaml`` and one MCAP file, with each topic's message
definition and type hash), which ``ros2 bag info``, ``ros2 bag play``,
Foxglove and ``mtrace tree DIR`` open. Topics are found as they appear. The
recorder records no spans itself. On SIGINT or SIGTERM it stops taking
messages, writes those its subscriptions had already received
(:mod:`.draining`) and closes the recording, so the MCAP file has its summary
and the metadata is written.
"""

import importlib
import pathlib
import sys
import threading
import time
from typing import Any
from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence
from typing import Set

from mtrace_ros.analysis.bag_reader import COMPANION_SUFFIX
from mtrace_ros.analysis.bag_reader import HEADER_TYPE
from mtrace_ros.analysis.bag_reader import LOG_TYPE
from mtrace_ros.analysis.bag_reader import ROSOUT_TOPIC
from mtrace_ros.analysis.bag_reader import SPAN_TYPE
from mtrace_ros.analysis.draining import drain
from mtrace_ros.analysis.recorder import spin_until_stopped
from mtrace_ros.analysis.recorder import stop_on_signals
from mtrace_ros.analysis.recording_types import add_installed_type
from mtrace_ros.analysis.recording_types import installed_typestore
from mtrace_ros.core.compat import ROSOUT_QOS
from mtrace_ros.export.schema import SPAN_QOS
from mtrace_ros.export.schema import SPAN_TOPIC
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy
from rclpy.qos import QoSProfile
from rclpy.qos import ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from rclpy.subscription import Subscription
from rosbags.rosbag2 import StoragePlugin
from rosbags.rosbag2 import Writer

NODE_NAME = 'mtrace_record'
#: How often the graph is looked at for new topics.
DISCOVERY_PERIOD_SEC = 0.5
#: rosbag2 format version ``ros2 bag record`` writes on Jazzy and later.
BAG_VERSION = 9


def _message_class(type_name: str) -> Any:
    """Return the generated Python class of ``pkg/msg/Type``."""
    package, _, name = type_name.partition('/msg/')
    return getattr(importlib.import_module(f'{package}.msg'), name)


def _has_trace(typestore: Any, type_name: str) -> bool:
    """Return whether the type has a top-level ``TracedHeader`` field (or is one's envelope)."""
    if not add_installed_type(typestore, type_name):
        return False
    return any(detail == HEADER_TYPE for _, (_, detail) in typestore.fielddefs[type_name][1])


def default_topic(topic: str, type_name: str, typestore: Any) -> bool:
    """Return whether ``mtrace record`` records a topic when no topics are named."""
    return (topic in (SPAN_TOPIC, ROSOUT_TOPIC) or topic.endswith(COMPANION_SUFFIX)
            or _has_trace(typestore, type_name))


def _qos(node: Node, topic: str) -> QoSProfile:
    """Return a QoS that matches every publisher of ``topic`` (as ``ros2 bag record`` adapts)."""
    if topic == SPAN_TOPIC:
        return SPAN_QOS
    if topic == ROSOUT_TOPIC:
        return ROSOUT_QOS
    offered = [info.qos_profile for info in node.get_publishers_info_by_topic(topic)]
    reliable = bool(offered) and all(
        qos.reliability == ReliabilityPolicy.RELIABLE for qos in offered)
    latched = bool(offered) and all(
        qos.durability == DurabilityPolicy.TRANSIENT_LOCAL for qos in offered)
    return QoSProfile(
        depth=1000,
        reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE)


class BagRecorder:
    """Subscribes to topics as they appear and writes their serialized messages to a bag."""

    def __init__(self, node: Node, writer: Writer, topics: Sequence[str]) -> None:
        """Record ``topics`` (resolved names), or the default topics if none are given."""
        self.node = node
        self.writer = writer
        self.wanted = {node.resolve_topic_name(topic) for topic in topics}
        self.typestore = installed_typestore()
        self.connections: Dict[str, Any] = {}
        self.counts: Dict[str, int] = {}
        self.subscriptions: List[Subscription] = []
        self._passed: Set[str] = set()
        self._lock = threading.Lock()
        self.closed = False

    def start(self) -> None:
        """Subscribe at once to the span topic and /rosout (if recorded): their types are known."""
        for topic, type_name in ((SPAN_TOPIC, SPAN_TYPE), (ROSOUT_TOPIC, LOG_TYPE)):
            if not self.wanted or topic in self.wanted:
                self._subscribe(topic, type_name)
        self.discover()

    def discover(self) -> None:
        """Subscribe to every topic to record that has appeared since the last look."""
        for topic, types in self.node.get_topic_names_and_types():
            if topic in self.connections or topic in self._passed:
                continue
            if len(types) != 1:
                self._pass(topic, f'has {len(types)} types ({", ".join(types)})')
                continue
            type_name = types[0]
            if self.wanted and topic not in self.wanted:
                continue
            if not self.wanted and not default_topic(topic, type_name, self.typestore):
                self._passed.add(topic)
                continue
            self._subscribe(topic, type_name)

    def _pass(self, topic: str, why: str) -> None:
        self._passed.add(topic)
        print(f'mtrace record: not recording {topic}: it {why}', file=sys.stderr)

    def _subscribe(self, topic: str, type_name: str) -> None:
        try:
            msg_class = _message_class(type_name)
            if not add_installed_type(self.typestore, type_name):
                raise LookupError('no .msg definition installed')
        except (ImportError, AttributeError, LookupError, ValueError) as error:
            self._pass(topic, f'has type {type_name}, which is not installed here ({error})')
            return
        connection = self.writer.add_connection(topic, type_name, typestore=self.typestore)
        self.connections[topic] = connection
        self.counts[topic] = 0

        def write(data: bytes) -> None:
            with self._lock:
                if self.closed:
                    return
                self.writer.write(connection, time.time_ns(), data)
                self.counts[topic] += 1
        self.subscriptions.append(self.node.create_subscription(
            msg_class, topic, write, _qos(self.node, topic), raw=True))
        print(f'mtrace record: recording {topic} ({type_name})', file=sys.stderr, flush=True)

    def close(self) -> None:
        """Stop writing and close the recording (MCAP summary and metadata.yaml)."""
        with self._lock:
            if not self.closed:
                self.closed = True
                self.writer.close()


def record(
    output: str,
    topics: Sequence[str] = (),
    *,
    duration_sec: Optional[float] = None,
    args: Optional[List[str]] = None,
    ready: Optional[threading.Event] = None,
) -> Dict[str, int]:
    """
    Record ``topics`` (default: every traced topic, the companion topics, spans, /rosout).

    Stops after ``duration_sec``, or on SIGINT / SIGTERM, then writes what its
    subscriptions had received by then; returns the message count per recorded topic.

    :raises RuntimeError: if ``output`` exists or cannot be created.
    """
    path = pathlib.Path(output)
    try:
        writer = Writer(path, version=BAG_VERSION, storage_plugin=StoragePlugin.MCAP)
        writer.open()
    except Exception as error:  # rosbags' WriterError, or an OSError
        raise RuntimeError(str(error)) from None
    stop = threading.Event()
    context = Context()
    rclpy.init(args=args, context=context, signal_handler_options=SignalHandlerOptions.NO)
    restore = stop_on_signals(stop)
    executor = SingleThreadedExecutor(context=context)
    node = Node(NODE_NAME, context=context)
    recorder = BagRecorder(node, writer, topics)
    try:
        recorder.start()
        node.create_timer(DISCOVERY_PERIOD_SEC, recorder.discover)
        executor.add_node(node)
        if ready is not None:
            ready.set()
        spin_until_stopped(executor, context, stop, duration_sec)
        drain(recorder.subscriptions)
    finally:
        restore()
        recorder.close()
        executor.shutdown()
        node.destroy_node()
        context.try_shutdown()
    return recorder.counts
