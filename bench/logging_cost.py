"""
Group 5: a log call inside a trace and outside one, against the plain logger.

Importing mtrace_ros instruments rclpy's logger for the whole process, so
the two loggers live in two child processes, identical but for that: the
plain one never imports mtrace_ros. Each times ``node.get_logger().info``
in a loop, inside ``mtrace_ros.start_trace()`` (traced child) and outside.
Console output goes to /dev/null in both, /rosout and the log file alike.
"""

from typing import List

from children import Child
from harness import compare
from harness import median_row
from harness import Row
from harness import target_note
from ros_setup import Session

GROUP = '5 logging'


class LoggerChild:
    """A child process that times its logger on request."""

    def __init__(self, traced: bool) -> None:
        self.child = Child(['logger', 'traced' if traced else 'plain'],
                           env={'RCUTILS_LOGGING_USE_STDOUT': '0'})

    def measure(self, count: int, where: str) -> 'LoggerMeasure':
        """Return a measure of ns per log call, ``where`` 'inside' or 'outside' a trace."""
        return LoggerMeasure(self.child, count, where)


class LoggerMeasure:
    """One repetition: ``count`` log calls in the child; ns per call."""

    def __init__(self, child: Child, count: int, where: str) -> None:
        self._child = child
        self._command = f'run {count} {where}'

    def __call__(self) -> float:
        """Return ns per call."""
        return float(self._child.request(self._command).split()[1])


def run(session: Session, *, quick: bool, repeat: int) -> List[Row]:
    """Measure the log call inside and outside a trace (the session is not used)."""
    count = 100 if quick else 300
    plain, traced = LoggerChild(traced=False), LoggerChild(traced=True)
    try:
        plain.child.expect()
        traced.child.expect()
        rows = []
        for where, target in (('inside', 1.10), ('outside', 1.0)):
            values = compare(plain.measure(count, where), traced.measure(count, where),
                             repeat=repeat)
            row = median_row(GROUP, f'log call {where} a trace', 'us/call', values,
                             scale=1e-3)
            row.note = (target_note(row, target, at_least=False) if where == 'inside'
                        else 'target: unchanged')
            rows.append(row)
        return rows
    finally:
        plain.child.stop()
        traced.child.stop()
