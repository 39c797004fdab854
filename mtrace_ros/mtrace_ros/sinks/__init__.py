"""
Span sinks: where recorded spans go (a ROS topic, a JSON Lines file, OTLP).

Each sink exports from a thread of its own through a bounded queue, so a slow
or broken sink never blocks a callback: it drops spans, counts them and warns
once (:mod:`mtrace_ros.sinks.queued`). Sinks are chosen with the
``MTRACE_SINKS`` environment variable, the ``mtrace.sinks`` parameter of a
:class:`mtrace_ros.TracedNode`, or :func:`configure_sinks`.
"""

from mtrace_ros.sinks.registry import close_sinks
from mtrace_ros.sinks.registry import configure_sinks
from mtrace_ros.sinks.registry import configured_sinks
from mtrace_ros.sinks.registry import ENV_SINKS
from mtrace_ros.sinks.registry import SINKS_PARAMETER

__all__ = [
    'ENV_SINKS',
    'SINKS_PARAMETER',
    'close_sinks',
    'configure_sinks',
    'configured_sinks',
]
