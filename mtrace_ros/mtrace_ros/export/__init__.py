"""
Where spans go: the span record, its wire and file forms, and the sinks.

:mod:`.spans` records what each root and each traced callback did. When a
span ends it is handed to every sink: a ROS topic, a JSON Lines file, OTLP.
Each sink exports from a thread of its own through a bounded queue, so a slow
or broken sink never blocks a callback: it drops spans, counts them and warns
once (:mod:`mtrace_ros.export.processor`). Sinks are chosen with the
``MTRACE_SINKS`` environment variable, the ``mtrace.sinks`` parameter of a
:class:`mtrace_ros.TracedNode`, or :func:`configure_sinks`.
"""

from mtrace_ros.core.settings import ENV_SINKS
from mtrace_ros.core.settings import SINKS_PARAMETER
from mtrace_ros.export.registry import close_sinks
from mtrace_ros.export.registry import configure_sinks
from mtrace_ros.export.registry import configured_sinks

__all__ = [
    'ENV_SINKS',
    'SINKS_PARAMETER',
    'close_sinks',
    'configure_sinks',
    'configured_sinks',
]
