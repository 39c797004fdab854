"""
Group 4: the embedded-header path against the envelope path, each against plain.

Header path: ``mtrace_msgs/TracedString``, traced in place vs plain rclpy.
Envelope path: ``std_msgs/String`` in a ``TracedEnvelope`` vs plain
``std_msgs/String``. Latency here starts at the clock read just before
``publish()``, so it includes the whole publish call on both sides.
"""

from typing import List

from harness import Row
from latency import FROM_SEND
from latency import latency_rows
from publish_cost import compare_publish
from ros_setup import ENVELOPE_PLAIN
from ros_setup import ENVELOPE_TRACED
from ros_setup import HEADER_PLAIN
from ros_setup import HEADER_TRACED
from ros_setup import Session
from throughput import one_process_row

GROUP = '4 header/envelope'


def run(session: Session, *, quick: bool, repeat: int) -> List[Row]:
    """Measure publish cost, throughput and latency (256 B) of both paths."""
    count = 100 if quick else 200
    samples = 100 if quick else 200
    rows = []
    for name, plain, traced in (('header', HEADER_PLAIN, HEADER_TRACED),
                                ('envelope', ENVELOPE_PLAIN, ENVELOPE_TRACED)):
        rows.append(compare_publish(
            session, plain, traced, 256, count, repeat, in_trace=True, group=GROUP,
            case=f'{name}: publish 256 B'))
        with session.spinning():
            rows.append(one_process_row(
                session, plain, traced, 256, count, repeat, group=GROUP,
                case=f'{name}: throughput 256 B, one process'))
            rows.extend(latency_rows(
                session, plain, traced, samples, repeat, start=FROM_SEND, group=GROUP,
                case=f'{name}: latency send -> callback')[:1])
    return rows
