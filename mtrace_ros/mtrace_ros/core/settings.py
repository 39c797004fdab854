"""
Every ``MTRACE_*`` setting: the environment variables and parameter names, in one place.

Settings are read when they are used, not at import, so a test or a
launcher may set them for a process at any time before it creates nodes;
``MTRACE_TASKS``, which changes rclpy's classes, is read once, at import.
"""

import os
from typing import Any
from typing import Callable
from typing import List
from typing import NamedTuple

#: Set to ``0``, ``false``, ``no`` or ``off`` to switch tracing off for a process.
ENV_ENABLED = 'MTRACE_ENABLED'

#: Set to an off value (as for ``MTRACE_ENABLED``) to leave rclpy's tasks as they are:
#: no context of their own (see :mod:`mtrace_ros.instrumentation.tasks`).
ENV_TASKS = 'MTRACE_TASKS'

_OFF_VALUES = ('0', 'false', 'no', 'off')


def switched_on(variable: str) -> bool:
    """Return whether an on/off variable is unset or anything but ``0/false/no/off``."""
    return os.environ.get(variable, '1').strip().lower() not in _OFF_VALUES


def tracing_enabled() -> bool:
    """
    Return whether tracing is on (``MTRACE_ENABLED`` is unset or truthy).

    Read when a traced publisher or subscription is created and when a trace
    is started, so a process switched off pays nothing per message, and its
    wire format stays the same (headers are left as they are).
    """
    return switched_on(ENV_ENABLED)


def tasks_enabled() -> bool:
    """
    Return whether rclpy's tasks get contexts of their own (``MTRACE_TASKS`` and tracing on).

    Read once, by ``import mtrace_ros``: the instrumentation is process-wide.
    A process with tracing switched off leaves rclpy's tasks alone too.
    """
    return switched_on(ENV_TASKS) and tracing_enabled()


#: How trace ids are written into log lines: a format with ``{trace_id}``,
#: ``{span_id}`` and ``{message}`` (see :func:`mtrace_ros.instrument_logging`).
ENV_LOG_FORMAT = 'MTRACE_LOG_FORMAT'

#: The span sinks of every process it is set for (see :mod:`mtrace_ros.export.spec`).
ENV_SINKS = 'MTRACE_SINKS'
#: The node parameter naming sinks, read from the node's parameter overrides.
SINKS_PARAMETER = 'mtrace.sinks'


def node_setting(node: Any, name: str) -> Any:
    """
    Return the value a node was given for the setting ``name``, or ``None``.

    mtrace declares no parameters of its own (a ``TracedNode`` must list the
    same parameters as a ``Node``): its ``mtrace.*`` settings are read from
    the node's parameter overrides (``--ros-args -p mtrace.sinks:=...``,
    launch parameters, ``parameter_overrides=``), or from the parameter if the
    node declared it itself.
    """
    if node.has_parameter(name):
        return node.get_parameter(name).value
    override = getattr(node, '_parameter_overrides', {}).get(name)
    return None if override is None else override.value


#: Topics left untraced by the companion route (comma-separated names, compared resolved):
#: for topics where the extra ``<topic>/_mtrace`` endpoint is unwanted.
ENV_EXCLUDE_TOPICS = 'MTRACE_EXCLUDE_TOPICS'
#: The node parameter override adding topics to ``MTRACE_EXCLUDE_TOPICS`` (both apply).
EXCLUDE_TOPICS_PARAMETER = 'mtrace.exclude_topics'


def split_names(value: Any) -> List[str]:
    """Return the names in a comma-separated string or a list of them (``None``: none)."""
    if value is None:
        return []
    items = value.split(',') if isinstance(value, str) else list(value)
    return [str(item).strip() for item in items if str(item).strip()]


def excluded_topics(node: Any) -> List[str]:
    """Return the topic names (as given) that ``node`` must leave untraced."""
    return (split_names(os.environ.get(ENV_EXCLUDE_TOPICS))
            + split_names(node_setting(node, EXCLUDE_TOPICS_PARAMETER)))


#: Share of new traces whose spans are recorded, 0 to 1 (see :mod:`mtrace_ros.core.sampling`).
ENV_SAMPLE_RATIO = 'MTRACE_SAMPLE_RATIO'
#: The node parameter override of ``MTRACE_SAMPLE_RATIO`` (it wins).
SAMPLE_RATIO_PARAMETER = 'mtrace.sample_ratio'
#: Most new traces sampled per second in a process (default: no limit).
ENV_SPAN_RATE_LIMIT = 'MTRACE_SPAN_RATE_LIMIT'
#: ``0``, ``false``, ``no`` or ``off`` switches the OpenTelemetry bridge off
#: (see :mod:`mtrace_ros.instrumentation.otel_context`).
ENV_OTEL_BRIDGE = 'MTRACE_OTEL_BRIDGE'


#: What a traced callback does with a message played back from a recording
#: (published by rosbag2's player node): ``link`` (the default) starts a new
#: trace linked to the recorded one, ``continue`` continues the recorded trace.
ENV_REPLAY = 'MTRACE_REPLAY'
REPLAY_LINK = 'link'
REPLAY_CONTINUE = 'continue'
#: The node name of ``ros2 bag play`` (rosbag2's player), by which replays are recognized.
PLAYER_NODE_NAME = 'rosbag2_player'


def replay_mode() -> str:
    """Return :data:`REPLAY_CONTINUE` if ``MTRACE_REPLAY=continue``, else :data:`REPLAY_LINK`."""
    value = os.environ.get(ENV_REPLAY, REPLAY_LINK).strip().lower()
    return REPLAY_CONTINUE if value == REPLAY_CONTINUE else REPLAY_LINK


#: Set to ``0`` (or ``false``, ``no``, ``off``) to leave rclpy and Python logging untouched.
ENV_LOGGING = 'MTRACE_LOGGING'

#: The sink batching settings: each takes precedence over OpenTelemetry's
#: ``OTEL_BSP_*`` variable of the same meaning, which is honoured too.
ENV_SINK_QUEUE_SIZE = 'MTRACE_SINK_QUEUE_SIZE'
ENV_SINK_BATCH_SIZE = 'MTRACE_SINK_BATCH_SIZE'
ENV_SINK_SCHEDULE_DELAY_MS = 'MTRACE_SINK_SCHEDULE_DELAY_MS'
_SINK_SETTINGS = (
    # (mtrace variable, OpenTelemetry variable, default): the SDK's BatchSpanProcessor defaults
    (ENV_SINK_QUEUE_SIZE, 'OTEL_BSP_MAX_QUEUE_SIZE', 2048),
    (ENV_SINK_BATCH_SIZE, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 512),
    (ENV_SINK_SCHEDULE_DELAY_MS, 'OTEL_BSP_SCHEDULE_DELAY', 5000),
)


class SinkSettings(NamedTuple):
    """How every sink batches: queue bound, batch size, and the longest wait before a batch."""

    queue_size: int
    batch_size: int
    schedule_delay_ms: int


def sink_settings(warn: Callable[[str], None]) -> SinkSettings:
    """
    Return the batching settings from the environment.

    A value that is not a whole number at least 1 (0 allowed for the delay) is
    reported through ``warn``, naming the variable, and the default is used.
    """
    values = []
    for ours, theirs, default in _SINK_SETTINGS:
        value = default
        for variable in (theirs, ours):  # ours last: it wins
            text = os.environ.get(variable, '').strip()
            if not text:
                continue
            minimum = 0 if ours == ENV_SINK_SCHEDULE_DELAY_MS else 1
            try:
                number = int(text)
                if number < minimum:
                    raise ValueError
                value = number
            except ValueError:
                warn(f'{variable}={text[:40]!r} is not a whole number >= {minimum}; '
                     f'using {value}')
        values.append(value)
    return SinkSettings(*values)
