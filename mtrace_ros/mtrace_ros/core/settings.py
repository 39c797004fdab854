"""
Every ``MTRACE_*`` setting: the environment variables and parameter names, in one place.

Settings are read when they are used, not at import, so a test or a
launcher may set them for a process at any time before it creates nodes.
"""

import os

#: Set to ``0``, ``false``, ``no`` or ``off`` to switch tracing off for a process.
ENV_ENABLED = 'MTRACE_ENABLED'


def tracing_enabled() -> bool:
    """
    Return whether tracing is on (``MTRACE_ENABLED`` is unset or truthy).

    Read when a traced publisher or subscription is created and when a trace
    is started, so a process switched off pays nothing per message, and its
    wire format stays the same (headers are left as they are).
    """
    value = os.environ.get(ENV_ENABLED, '1').strip().lower()
    return value not in ('0', 'false', 'no', 'off')


#: How trace ids are written into log lines: a format with ``{trace_id}``,
#: ``{span_id}`` and ``{message}`` (see :func:`mtrace_ros.instrument_logging`).
ENV_LOG_FORMAT = 'MTRACE_LOG_FORMAT'

#: The span sinks of every process it is set for (see :mod:`mtrace_ros.export.spec`).
ENV_SINKS = 'MTRACE_SINKS'
#: The node parameter naming sinks, read from the node's parameter overrides.
SINKS_PARAMETER = 'mtrace.sinks'
