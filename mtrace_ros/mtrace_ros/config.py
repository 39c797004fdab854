"""Process-wide switches, read from the environment."""

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
