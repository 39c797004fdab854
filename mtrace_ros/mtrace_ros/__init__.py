"""
mtrace: distributed tracing of message flows for ROS 2 (rclpy).

Every traced message carries a W3C trace context in band (a ``TracedHeader``);
every traced callback runs in the trace of the message it handles; whatever it
publishes continues that trace. See the README for a tour.
"""

from mtrace_ros.core.context import current_trace
from mtrace_ros.core.context import TraceContext
from mtrace_ros.core.settings import ENV_LOGGING
from mtrace_ros.core.settings import switched_on
from mtrace_ros.core.settings import tasks_enabled
from mtrace_ros.export import add_sink
from mtrace_ros.export import close_sinks
from mtrace_ros.export import configure_sinks
from mtrace_ros.export import force_flush
from mtrace_ros.export import sink_stats
from mtrace_ros.instrumentation.callbacks import wrap
from mtrace_ros.instrumentation.explicit import continue_trace
from mtrace_ros.instrumentation.explicit import link
from mtrace_ros.instrumentation.explicit import start_trace
from mtrace_ros.instrumentation.node import TracedNode
from mtrace_ros.instrumentation.publisher import create_traced_publisher
from mtrace_ros.instrumentation.publisher import EnvelopePublisher
from mtrace_ros.instrumentation.publisher import TracedPublisher
from mtrace_ros.instrumentation.service import create_traced_client
from mtrace_ros.instrumentation.service import create_traced_service
from mtrace_ros.instrumentation.span_api import current_span
from mtrace_ros.instrumentation.subscription import create_traced_subscription
from mtrace_ros.instrumentation.tasks import instrument_tasks
from mtrace_ros.instrumentation.tasks import uninstrument_tasks
from mtrace_ros.logging import instrument_logging
from mtrace_ros.logging import RosLogHandler
from mtrace_ros.logging import uninstrument_logging

__all__ = [
    'EnvelopePublisher',
    'RosLogHandler',
    'TraceContext',
    'TracedNode',
    'TracedPublisher',
    'add_sink',
    'close_sinks',
    'configure_sinks',
    'continue_trace',
    'create_traced_client',
    'create_traced_publisher',
    'create_traced_service',
    'create_traced_subscription',
    'current_span',
    'current_trace',
    'force_flush',
    'instrument_logging',
    'instrument_tasks',
    'link',
    'sink_stats',
    'start_trace',
    'uninstrument_logging',
    'uninstrument_tasks',
    'wrap',
]

# Importing mtrace_ros is enough for trace ids in log lines (see mtrace_ros.logging;
# MTRACE_LOGGING=0 opts out), and for rclpy tasks that keep their own trace (see
# mtrace_ros.instrumentation.tasks; MTRACE_TASKS=0 opts out).
if switched_on(ENV_LOGGING):
    instrument_logging()
if tasks_enabled():
    instrument_tasks()
