"""
The out-of-band route of actions: a goal's trace context in a ``GoalTraceRecord``.

An action type whose ``Goal`` has no ``TracedHeader`` field keeps its types
and bytes; the client's goal span travels on the hidden topic
:func:`goal_record_topic` in a ``mtrace_msgs/msg/GoalTraceRecord`` keyed by the
goal's UUID, which the client picks before it sends the goal: the server
matches a goal request to its record exactly. :func:`make_goal_record` writes
a record, :func:`read_goal_record` reads one back; records come from other
processes and are checked.
"""

from typing import Optional
from typing import Tuple

from mtrace_msgs.msg import GoalTraceRecord
from mtrace_ros.core.context import TraceContext
from mtrace_ros.wire import traced_header
from mtrace_ros.wire.traced_header import Problem
import numpy
from rclpy.qos import QoSProfile

GOAL_RECORD_SUFFIX = '/_action/_mtrace'
UUID_SIZE = 16
_UINT8 = numpy.dtype(numpy.uint8)
#: Reliable and volatile, like the action's services; deep enough for a burst of goals
#: whose requests the server has not handled yet.
GOAL_RECORD_QOS = QoSProfile(depth=100)


def goal_record_topic(resolved_action: str) -> str:
    """Return the hidden record topic of a resolved action name (``/count/_action/_mtrace``)."""
    return resolved_action.rstrip('/') + GOAL_RECORD_SUFFIX


def make_goal_record(context: TraceContext, goal_id: bytes) -> GoalTraceRecord:
    """Return the record of the goal ``goal_id`` (16 bytes) sent in ``context``'s span."""
    record = GoalTraceRecord()
    record.goal_id = numpy.frombuffer(goal_id, _UINT8)
    traced_header.inject(record.header, context)
    return record


def goal_record_key(record: GoalTraceRecord) -> Optional[bytes]:
    """Return a record's goal UUID, or ``None`` for the all-zero UUID no client picks."""
    goal_id = record.goal_id.tobytes()
    return None if goal_id == bytes(UUID_SIZE) else goal_id


def read_goal_record(
    record: GoalTraceRecord,
) -> Tuple[Optional[TraceContext], Optional[Problem]]:
    """Return the client's goal span from a received record, and what is wrong with it."""
    return traced_header.read(record.header)
