"""
Group 8: what sharing the context with OpenTelemetry costs, per hop and per new trace.

Once a process has imported ``opentelemetry``, every traced callback also
makes its span OpenTelemetry's current span (and restores the previous one),
and every new trace first asks OpenTelemetry for an active span to continue.
Measured in one process, the bridge switched off against on, interleaved,
on mtrace's own per-message path (the traced callback wrapper called with a
``TracedString`` whose header carries a trace; no transport, no sink), so
that the difference is the bridge and nothing else:

* a traced callback with only the OpenTelemetry API imported;
* the same after an SDK ``TracerProvider`` was set as the global provider;
* a new trace opened and ended (what a publish outside any trace does).

A process that never imports OpenTelemetry pays one ``sys.modules`` look-up
per callback instead (not measured: it is below the timer's resolution per
hop). The group switches the bridge off when it ends, so groups run after it
in the same process are not bridged.
"""

import time
from typing import Any
from typing import Callable
from typing import List

from harness import compare
from harness import median_row
from harness import Row
from mtrace_msgs.msg import TracedString
from mtrace_ros.core import context
from mtrace_ros.core.context import new_root
from mtrace_ros.export import spans
from mtrace_ros.instrumentation.callbacks import traced_callback
from mtrace_ros.wire import traced_header
from ros_setup import Session

GROUP = '8 otel bridge'


class Timed:
    """One repetition: ``count`` runs of ``body`` with the bridge on or off; ns each."""

    def __init__(self, body: Callable[[int], Any], count: int, bridge: Any) -> None:
        self._body = body
        self._count = count
        self._bridge = bridge

    def __call__(self) -> float:
        """Return ns per run."""
        context._bridge = self._bridge
        start = time.perf_counter_ns()
        self._body(self._count)
        return (time.perf_counter_ns() - start) / self._count


def _hops(session: Session) -> Callable[[int], None]:
    msg = TracedString(data='x' * 256)
    traced_header.inject(msg.header, new_root())
    callback = traced_callback(
        lambda received: None, lambda received: (received.header, received),
        node_name='bench', topic='/bench', logger=session.node.get_logger())

    def run(count: int) -> None:
        for _ in range(count):
            callback(msg)
    return run


def _roots(count: int) -> None:
    for _ in range(count):
        spans.end_span(spans.open_span(spans.KIND_ROOT, node='bench'))


def run(session: Session, *, quick: bool, repeat: int) -> List[Row]:
    """Measure a traced callback and a new trace, bridge off and on, without and with an SDK."""
    from opentelemetry import trace as otel_trace
    from opentelemetry.sdk.trace import TracerProvider
    from mtrace_ros.instrumentation import otel_context

    count = 2000 if quick else 10000
    hops = _hops(session)

    def compare_row(body: Callable[[int], None], case: str, unit: str) -> Row:
        values = compare(Timed(body, count, False), Timed(body, count, otel_context),
                         repeat=repeat)
        return median_row(GROUP, case, unit, values, scale=1e-3, note='bridge off vs on')

    try:
        rows = [
            compare_row(hops, 'traced callback, OpenTelemetry API only', 'us/hop'),
            compare_row(_roots, 'new trace opened and ended, API only', 'us/trace'),
        ]
        otel_trace.set_tracer_provider(TracerProvider())
        rows += [
            compare_row(hops, 'traced callback, SDK TracerProvider set', 'us/hop'),
            compare_row(_roots, 'new trace opened and ended, SDK set', 'us/trace'),
        ]
        return rows
    finally:
        context._bridge = False
