"""
Group 11: the companion route (issue 13) against plain rclpy, ``std_msgs/String`` both ways.

The traced side is :func:`mtrace_ros.create_traced_publisher` /
``create_traced_subscription`` on a type without a ``TracedHeader`` field:
each message keeps its type and bytes, and a ``TraceRecord`` goes on the
hidden companion topic just before it; the subscription takes the record
when its message needs it. In one process, publisher and subscription are
each other's only record readers, so records skip the middleware
(``local_records``); across two processes they go on the wire. Latency
starts at the clock read just before ``publish()`` (the type has no stamp),
so it includes the whole publish call (the record's too) on both sides. The
wire row adds up serialized sizes.
"""

from typing import List

from harness import Row
from harness import target_note
from latency import FROM_SEND
from latency import latency_rows
from mtrace_msgs.msg import TraceRecord
from publish_cost import compare_publish
from rclpy.serialization import serialize_message
from ros_setup import COMPANION_PLAIN
from ros_setup import COMPANION_TRACED
from ros_setup import Session
from std_msgs.msg import String
from throughput import one_process_row
from throughput import two_process_row

GROUP = '11 companion'
#: Issue 13's targets: one-process throughput ratio (goal 0.90), added median latency per hop.
THROUGHPUT_TARGET = 0.85
LATENCY_TARGET_US = 25.0


def wire_row(size: int) -> Row:
    """Return the bytes serialized per message (CDR, with its 4-byte header): plain vs traced."""
    data = len(serialize_message(String(data='x' * size)))
    record = len(serialize_message(TraceRecord()))  # fixed size: every field is fixed
    return Row(GROUP, f'serialized per message, {size} B String', 'B', data, data + record,
               note=f'+ one TraceRecord: {record} B (4 B CDR header + {record - 4} B)')


def run(session: Session, *, quick: bool, repeat: int) -> List[Row]:
    """Measure publish cost, one-process throughput and latency (256 B), and the wire cost."""
    count = 100 if quick else 200
    samples = 100 if quick else 200
    rows = [compare_publish(
        session, COMPANION_PLAIN, COMPANION_TRACED, 256, count, repeat, in_trace=True,
        group=GROUP, case='publish 256 B, inside a trace')]
    with session.spinning():
        throughput = one_process_row(
            session, COMPANION_PLAIN, COMPANION_TRACED, 256, count, repeat, group=GROUP,
            case='throughput 256 B, one process')
        throughput.note = target_note(throughput, THROUGHPUT_TARGET, at_least=True) + (
            ' (goal 0.90)')
        rows.append(throughput)
        rows.extend(latency_rows(
            session, COMPANION_PLAIN, COMPANION_TRACED, samples, repeat, start=FROM_SEND,
            group=GROUP, case='latency send -> callback', target_us=LATENCY_TARGET_US))
    rows.append(two_process_row(
        session, COMPANION_PLAIN, COMPANION_TRACED, 256, count * 3, repeat, group=GROUP,
        case='throughput 256 B, two processes (records on the wire)'))
    rows.append(wire_row(256))
    return rows
