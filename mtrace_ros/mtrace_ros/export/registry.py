"""
Which span sinks a process has: configured once, from the environment, parameters or code.

Sinks are named by entries of the sink list syntax (:mod:`mtrace_ros.export.spec`).
Configuring is idempotent: an entry that names a sink the process already has
reuses it, so every node of a process may name the same sinks. The
environment variable and the node parameter never stop a node: a bad entry
is reported once as a warning and the other entries still apply.
"""

import atexit
import os
import threading
from typing import Dict
from typing import List
from typing import Optional
from typing import Set
from typing import Tuple

from mtrace_ros.core.settings import ENV_SINKS
from mtrace_ros.core.settings import node_setting
from mtrace_ros.core.settings import SINKS_PARAMETER
from mtrace_ros.export import spans
from mtrace_ros.export.jsonl import JsonLinesSink
from mtrace_ros.export.otlp import OtlpSink
from mtrace_ros.export.processor import DEFAULT_CLOSE_TIMEOUT_SEC
from mtrace_ros.export.processor import QueuedSink
from mtrace_ros.export.spec import JSONL
from mtrace_ros.export.spec import OTLP_GRPC
from mtrace_ros.export.spec import parse_sinks
from mtrace_ros.export.spec import SinkSpec
from mtrace_ros.export.spec import TOPIC
from mtrace_ros.export.topic import TopicSink
import rclpy
import rclpy.logging
from rclpy.node import Node


_lock = threading.RLock()
_configured: Dict[SinkSpec, QueuedSink] = {}
_warned: Set[Tuple[str, str]] = set()
_logger = rclpy.logging.get_logger('mtrace.sinks')


def _create(entry: SinkSpec, node: Optional[Node]) -> QueuedSink:
    if entry.kind == TOPIC:
        context = rclpy.get_default_context() if node is None else node.context
        if not context.ok():
            raise RuntimeError(
                f'span sink {entry}: needs an initialized rclpy context '
                '(call rclpy.init() first, or pass node=)')
        return TopicSink(context, entry.target)
    if entry.kind == JSONL:
        return JsonLinesSink(entry.target)
    return OtlpSink('grpc' if entry.kind == OTLP_GRPC else 'http', entry.target)


def configure_sinks(spec: str, *, node: Optional[Node] = None) -> List[QueuedSink]:
    """
    Make the process send its spans to the sinks ``spec`` names, in addition to any it has.

    :param spec: a sink list, e.g. ``'topic,jsonl:/tmp/spans.jsonl'`` (see the
        README, or :mod:`mtrace_ros.export.spec`).
    :param node: for the topic sink, the node whose context it publishes in
        (default: rclpy's default context).
    :return: the sinks ``spec`` names, whether new or already configured.
    :raises ValueError: naming the first bad entry (then no sink is created).
    :raises ImportError: for an OTLP sink without the OpenTelemetry SDK.
    :raises RuntimeError: for a topic sink without an initialized context.
    """
    entries = parse_sinks(spec)
    sinks = []
    with _lock:
        for entry in entries:
            sink = _configured.get(entry)
            if sink is None or sink.closed:
                sink = _configured[entry] = _create(entry, node)
                spans.add_sink(sink)
            sinks.append(sink)
    return sinks


def configured_sinks() -> List[QueuedSink]:
    """Return the sinks configured in this process (and not closed)."""
    with _lock:
        return [sink for sink in _configured.values() if not sink.closed]


#: What QueuedSink.close may take beyond its timeout (its abort wait).
_CLOSE_GRACE_SEC = 2.0


def close_sinks(timeout_sec: float = DEFAULT_CLOSE_TIMEOUT_SEC) -> None:
    """
    Stop recording to every configured sink; flush and close them.

    Called at interpreter exit; call it earlier to flush at a time of your
    choosing. The sinks close side by side, so the whole call takes about
    ``timeout_sec`` at most, however many there are (a launch file's SIGTERM
    is followed by SIGKILL a few seconds later).
    """
    with _lock:
        sinks = list(_configured.values())
        _configured.clear()
    for sink in sinks:
        spans.remove_sink(sink)
    closers = [
        threading.Thread(target=sink.close, args=(timeout_sec,), name='mtrace-close', daemon=True)
        for sink in sinks]
    for closer in closers:
        closer.start()
    for closer in closers:
        closer.join(timeout_sec + _CLOSE_GRACE_SEC)


atexit.register(close_sinks)


def _configure_or_warn(spec: str, node: Optional[Node], source: str) -> None:
    """Configure each entry of ``spec`` on its own; warn once about each one that fails."""
    logger = _logger if node is None else node.get_logger()
    for entry in spec.split(','):
        try:
            configure_sinks(entry, node=node)
        except Exception as ex:  # bad configuration must not stop the node
            with _lock:
                if (source, entry) in _warned:
                    continue
                _warned.add((source, entry))
            logger.warning(f'mtrace: {source}: {ex}; spans are not sent there')


def configure_from_environment(node: Optional[Node] = None) -> None:
    """Configure the sinks ``MTRACE_SINKS`` names (warnings for bad entries, never raises)."""
    spec = os.environ.get(ENV_SINKS, '')
    if spec.strip():
        _configure_or_warn(spec, node, ENV_SINKS)


def configure_node_sinks(node: Node) -> None:
    """Configure the sinks of ``MTRACE_SINKS`` and of the node's ``mtrace.sinks`` parameter."""
    configure_from_environment(node)
    try:
        spec = node_setting(node, SINKS_PARAMETER)
        if spec is None:
            return
        if not isinstance(spec, str):
            raise TypeError(f'expected a string, got {spec!r}')
    except Exception as ex:  # a bad parameter must not stop the node
        node.get_logger().warning(f'mtrace: parameter {SINKS_PARAMETER}: {ex}; ignored')
        return
    if spec.strip():
        _configure_or_warn(spec, node, f'parameter {SINKS_PARAMETER}')
