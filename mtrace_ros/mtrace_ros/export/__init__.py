"""
Where spans go: the span record, its wire and file forms, and the sinks.

:mod:`.spans` records what each root and each traced callback did. When a
span ends it is handed to every sink: a ROS topic, a JSON Lines file, OTLP.
Each sink is an exporter behind one batching layer
(:mod:`mtrace_ros.export.processor`): a bounded queue and a thread of its
own, so a slow or broken sink never blocks a callback; it drops spans,
counts them exactly and says so. :func:`add_sink` plugs in any exporter. Sinks are chosen with the
``MTRACE_SINKS`` environment variable, the ``mtrace.sinks`` parameter of a
:class:`mtrace_ros.TracedNode`, or :func:`configure_sinks`.
"""

from mtrace_ros.core.settings import ENV_SINKS
from mtrace_ros.core.settings import SINKS_PARAMETER
from mtrace_ros.export.processor import BatchSpanProcessor
from mtrace_ros.export.processor import SinkStats
from mtrace_ros.export.processor import SpanExporter
from mtrace_ros.export.registry import add_sink
from mtrace_ros.export.registry import close_sinks
from mtrace_ros.export.registry import configure_sinks
from mtrace_ros.export.registry import configured_sinks
from mtrace_ros.export.registry import force_flush
from mtrace_ros.export.registry import sink_stats

__all__ = [
    'BatchSpanProcessor',
    'ENV_SINKS',
    'SINKS_PARAMETER',
    'SinkStats',
    'SpanExporter',
    'add_sink',
    'close_sinks',
    'configure_sinks',
    'configured_sinks',
    'force_flush',
    'sink_stats',
]
