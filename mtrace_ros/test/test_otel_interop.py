"""
Interoperability with OpenTelemetry's W3C propagator, in both directions.

A ``traceparent`` mtrace writes is read by OpenTelemetry as the same ids, and
one OpenTelemetry writes continues into ROS.
"""

import mtrace_ros
from opentelemetry import trace as otel_trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
PARENT = '00f067aa0ba902b7'


def test_opentelemetry_reads_our_traceparent():
    with mtrace_ros.start_trace() as context:
        carrier = {'traceparent': context.traceparent}
    otel_context = TraceContextTextMapPropagator().extract(carrier)
    span_context = otel_trace.get_current_span(otel_context).get_span_context()
    assert span_context.is_valid
    assert f'{span_context.trace_id:032x}' == context.trace_id
    assert f'{span_context.span_id:016x}' == context.span_id


def test_we_read_opentelemetry_traceparent():
    span_context = otel_trace.SpanContext(
        trace_id=int(TRACE, 16), span_id=int(PARENT, 16), is_remote=False,
        trace_flags=otel_trace.TraceFlags(1))
    carrier = {}
    TraceContextTextMapPropagator().inject(
        carrier, otel_trace.set_span_in_context(otel_trace.NonRecordingSpan(span_context)))
    with mtrace_ros.start_trace(carrier['traceparent']) as context:
        assert (context.trace_id, context.parent_span_id) == (TRACE, PARENT)
