"""
One context with OpenTelemetry: mtrace's span is OpenTelemetry's current span, and back.

Loaded by :mod:`mtrace_ros.core.context` only once the process has imported
``opentelemetry`` itself (mtrace never imports it at start-up). From then on:

* whenever mtrace makes a span active (a traced callback, ``start_trace``,
  ``continue_trace``, ``wrap``), the same span becomes OpenTelemetry's
  current span (a :class:`HopSpan`, with mtrace's trace and span ids). Spans
  the user starts with any tracer are its children, and OpenTelemetry
  propagators and instrumented HTTP/gRPC clients send its ``traceparent``.
  Its ``set_attribute``, ``add_event``, ``record_exception`` and ``set_status``
  write into mtrace's span (see :mod:`mtrace_ros.instrumentation.span_api`);
  ``end()`` does nothing: mtrace ends the hop.
* a span mtrace opens while no mtrace trace is active (a publish from a
  plain thread, ``start_trace()``) continues the active OpenTelemetry span's
  trace, keeping its sampled flag, instead of starting a new one.
"""

from typing import Any
from typing import Optional

from mtrace_ros.core.context import current_trace
from mtrace_ros.core.context import FLAG_SAMPLED
from mtrace_ros.core.context import TraceContext
from mtrace_ros.instrumentation.span_api import CurrentSpan
from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.trace import SpanContext
from opentelemetry.trace import TraceFlags


class HopSpan(CurrentSpan, otel_trace.Span):
    """An mtrace span seen through OpenTelemetry's ``Span`` interface."""

    def __init__(self, context: TraceContext) -> None:
        """Show the span ``context`` names; its OpenTelemetry ``SpanContext`` is made on demand."""
        super().__init__(context)
        self._span_context: Optional[SpanContext] = None

    def get_span_context(self) -> SpanContext:
        """Return mtrace's ids and flags as OpenTelemetry's ``SpanContext``."""
        span_context = self._span_context
        if span_context is None:
            trace = self._trace
            assert trace is not None
            span_context = self._span_context = SpanContext(
                int.from_bytes(trace.trace_id_bytes, 'big'),
                int.from_bytes(trace.span_id_bytes, 'big'),
                is_remote=False, trace_flags=TraceFlags(trace.flags))
        return span_context

    def update_name(self, name: str) -> None:
        """Rename the span."""
        span = self._span()
        if span is not None and isinstance(name, str):
            span.name = name

    def add_link(self, context: SpanContext, attributes: Any = None) -> None:
        """Link the span to another span (fan-in), as :func:`mtrace_ros.link` does."""
        span = self._span()
        if span is not None and context.is_valid:
            span.add_link(_from_span_context(context))

    def end(self, end_time: Optional[int] = None) -> None:
        """Do nothing: mtrace ends its spans when the callback or ``with`` body ends."""


def _from_span_context(span_context: SpanContext) -> TraceContext:
    return TraceContext(
        span_context.trace_id.to_bytes(16, 'big'), span_context.span_id.to_bytes(8, 'big'),
        None, int(span_context.trace_flags) & FLAG_SAMPLED)


def attach(context: TraceContext) -> object:
    """Make ``context``'s span OpenTelemetry's current span; return OpenTelemetry's token."""
    return otel_context.attach(otel_trace.set_span_in_context(HopSpan(context)))


def detach(token: object) -> None:
    """Restore OpenTelemetry's context from before the matching :func:`attach`."""
    otel_context.detach(token)


def active_parent() -> Optional[TraceContext]:
    """Return the active OpenTelemetry span as a parent, when no mtrace trace is active."""
    if current_trace() is not None:
        return None
    span_context = otel_trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return _from_span_context(span_context)
