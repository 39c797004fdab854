"""
Which span sinks a process has: the one registry, fed by the environment, parameters or code.

A sink is an exporter behind its own :class:`.processor.BatchSpanProcessor`.
:func:`add_sink` plugs in any exporter (the public seam);
:func:`configure_sinks` creates the built-in ones that sink entries name. The
sinks themselves are listed in one place, :func:`.spans.sinks` (the list every
ended span is handed to); this module adds to it, flushes, counts and closes.
Sinks are named by entries of the sink list syntax (:mod:`mtrace_ros.export.spec`).
Configuring is idempotent: an entry that names a sink the process already has
reuses it, so every node of a process may name the same sinks. The
environment variable and the node parameter never stop a node: a bad entry
is reported once as a warning and the other entries still apply.
"""

import atexit
import os
import threading
import time
from typing import List
from typing import Optional
from typing import Set
from typing import Tuple

from mtrace_ros.core.settings import ENV_SINKS
from mtrace_ros.core.settings import node_setting
from mtrace_ros.core.settings import SINKS_PARAMETER
from mtrace_ros.export import spans
from mtrace_ros.export.jsonl import JsonLinesExporter
from mtrace_ros.export.otlp import OtlpExporter
from mtrace_ros.export.processor import BatchSpanProcessor
from mtrace_ros.export.processor import DEFAULT_CLOSE_TIMEOUT_SEC
from mtrace_ros.export.processor import Processor
from mtrace_ros.export.processor import SimpleSpanProcessor
from mtrace_ros.export.processor import SinkStats
from mtrace_ros.export.processor import SpanExporter
from mtrace_ros.export.spec import JSONL
from mtrace_ros.export.spec import OTLP_GRPC
from mtrace_ros.export.spec import parse_sinks
from mtrace_ros.export.spec import SinkSpec
from mtrace_ros.export.spec import TOPIC
from mtrace_ros.export.topic import TopicExporter
import rclpy
from rclpy.context import Context
import rclpy.logging
from rclpy.node import Node


_lock = threading.RLock()
_warned: Set[Tuple[str, str]] = set()
_logger = rclpy.logging.get_logger('mtrace.sinks')


def add_sink(
    exporter: SpanExporter, *, name: Optional[str] = None, synchronous: bool = False,
    queue_size: Optional[int] = None, batch_size: Optional[int] = None,
    schedule_delay_ms: Optional[int] = None,
) -> Processor:
    """
    Send every span that ends from now on to ``exporter``, in batches; return its processor.

    ``exporter`` has OpenTelemetry's exporter shape: ``export(records) -> bool``,
    ``shutdown()``, ``force_flush()`` (see :class:`.processor.SpanExporter`); it
    receives :class:`.schema.SpanRecord` batches from a thread of its own.
    ``queue_size``, ``batch_size`` and ``schedule_delay_ms`` override the
    ``MTRACE_SINK_*`` settings for this sink (see :class:`.processor.BatchSpanProcessor`).
    ``synchronous=True`` exports each span as it ends, in the thread that
    ended it (OpenTelemetry's ``SimpleSpanProcessor``): for tests and
    debugging only, since a slow exporter then slows the callbacks.
    """
    processor: Processor
    if synchronous:
        processor = SimpleSpanProcessor(exporter, name)
    else:
        processor = BatchSpanProcessor(
            exporter, name, queue_size=queue_size, batch_size=batch_size,
            schedule_delay_ms=schedule_delay_ms)
    spans.add_sink(processor)
    return processor


def remove_sink(processor: Processor,
                timeout_sec: float = DEFAULT_CLOSE_TIMEOUT_SEC) -> None:
    """Stop sending spans to a sink, then close it (its queue is exported first)."""
    spans.remove_sink(processor)
    processor.close(timeout_sec)


def _create(entry: SinkSpec, node: Optional[Node]) -> BatchSpanProcessor:
    if entry.kind == TOPIC:
        context = rclpy.get_default_context() if node is None else node.context
        if not context.ok():
            raise RuntimeError(
                f'span sink {entry}: needs an initialized rclpy context '
                '(call rclpy.init() first, or pass node=)')
        processor = BatchSpanProcessor(TopicExporter(context, entry.target))
        # Too late to publish then: an orderly stop flushed it first (flush_before_shutdown).
        context.on_shutdown(lambda: remove_sink(processor, timeout_sec=0.0))
    elif entry.kind == JSONL:
        processor = BatchSpanProcessor(JsonLinesExporter(entry.target))
    else:
        processor = BatchSpanProcessor(
            OtlpExporter('grpc' if entry.kind == OTLP_GRPC else 'http', entry.target))
    processor.entry = entry
    return processor


def configure_sinks(spec: str, *, node: Optional[Node] = None) -> List[BatchSpanProcessor]:
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
            named = [sink for sink in spans.sinks() if getattr(sink, 'entry', None) == entry]
            sink = next((sink for sink in named if not sink.closed), None)
            if sink is None:
                sink = _create(entry, node)
                spans.add_sink(sink)
            sinks.append(sink)
    return sinks


def configured_sinks() -> List[Processor]:
    """Return the sinks of this process that are not closed, in the order they were added."""
    return [sink for sink in spans.sinks() if not sink.closed]


def force_flush(timeout_sec: float = DEFAULT_CLOSE_TIMEOUT_SEC) -> bool:
    """Export every span queued now, in every sink, without closing; return whether in time."""
    deadline = time.monotonic() + timeout_sec
    done = True
    for sink in configured_sinks():
        done = sink.force_flush(max(0.0, deadline - time.monotonic())) and done
    return done


#: How long a node's orderly stop waits for its topic sinks (queue exported, samples acknowledged).
STOP_FLUSH_TIMEOUT_SEC = 2.0


def flush_before_shutdown(context: Context, timeout_sec: float = STOP_FLUSH_TIMEOUT_SEC) -> bool:
    """
    Deliver what the topic sinks publishing in ``context`` still hold; return whether in time.

    Called while ``context`` can still publish (a :class:`TracedNode` being
    destroyed, before rclpy shuts the context down): once it is down, its
    topic sinks can deliver nothing more, and what they queue is dropped.
    """
    deadline = time.monotonic() + timeout_sec
    done = True
    for sink in configured_sinks():
        exporter = getattr(sink, 'exporter', None)
        if isinstance(exporter, TopicExporter) and exporter.context is context:
            done = sink.force_flush(max(0.0, deadline - time.monotonic())) and done
    return done


def sink_stats() -> List[SinkStats]:
    """Return, per sink of this process, how many spans it exported, dropped and has queued."""
    return [sink.stats() for sink in configured_sinks()]


#: What BatchSpanProcessor.close may take beyond its timeout (its abort wait).
_CLOSE_GRACE_SEC = 2.0


def close_sinks(timeout_sec: float = DEFAULT_CLOSE_TIMEOUT_SEC) -> None:
    """
    Stop recording to every sink; flush and close them.

    Called at interpreter exit; call it earlier to flush at a time of your
    choosing. The sinks close side by side, so the whole call takes about
    ``timeout_sec`` at most, however many there are (a launch file's SIGTERM
    is followed by SIGKILL a few seconds later).
    """
    closers = [
        threading.Thread(target=sink.close, args=(timeout_sec,), name='mtrace-close', daemon=True)
        for sink in spans.remove_all_sinks()]
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
