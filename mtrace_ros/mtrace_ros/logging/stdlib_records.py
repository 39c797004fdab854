"""
Trace ids on the records of Python's standard ``logging``.

A record factory, wrapping whichever one was installed, sets the ids on each
record created inside a trace, under mtrace's names (``trace_id``,
``span_id``) and OpenTelemetry's (``otelTraceID``, ``otelSpanID``,
``otelTraceSampled``), so existing formatters work. Outside a trace the
attributes get OpenTelemetry's "no trace" values unless something (such as
OpenTelemetry's own instrumentation) set them already, so that a format that
names them never fails.
"""

import logging
from typing import Any
from typing import Callable
from typing import Dict
from typing import Optional

from mtrace_ros.core.context import current_trace
from mtrace_ros.core.context import TraceContext

#: The value of the id attributes on records made outside any trace.
NO_TRACE_ID = '0'
_NO_TRACE = (
    ('trace_id', NO_TRACE_ID),
    ('span_id', NO_TRACE_ID),
    ('otelTraceID', NO_TRACE_ID),
    ('otelSpanID', NO_TRACE_ID),
    ('otelTraceSampled', False),
    ('otelServiceName', ''),
)
_MEMO_KEY = 'log_record_ids'

_installed = False
# The factory that was installed before ours, and ours.
_previous: Optional[Callable[..., logging.LogRecord]] = None
_ours: Optional[Callable[..., logging.LogRecord]] = None


def _record_ids(context: TraceContext) -> Dict[str, Any]:
    trace_id, span_id = context.trace_id, context.span_id
    return {
        'trace_id': trace_id,
        'span_id': span_id,
        'otelTraceID': trace_id,
        'otelSpanID': span_id,
        'otelTraceSampled': context.sampled,
    }


def install() -> None:
    """Wrap the current record factory (once; later calls do nothing)."""
    global _installed, _previous, _ours
    if _installed:
        return
    make_record = _previous = logging.getLogRecordFactory()

    def make_traced_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        if not _installed:  # uninstalled while another factory wraps this one
            return record
        attributes = record.__dict__
        context = current_trace()
        if context is not None:
            attributes.update(context.memo(_MEMO_KEY, _record_ids))
        for name, value in _NO_TRACE:
            attributes.setdefault(name, value)
        return record

    logging.setLogRecordFactory(make_traced_record)
    _ours = make_traced_record
    _installed = True


def uninstall() -> None:
    """Stop adding ids; give back the previous factory unless another one wraps ours."""
    global _installed
    if not _installed:
        return
    _installed = False
    if logging.getLogRecordFactory() is _ours:
        logging.setLogRecordFactory(_previous)
