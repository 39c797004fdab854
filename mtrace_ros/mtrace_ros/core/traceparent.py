"""
The W3C ``traceparent`` string: parse and check it, saying what is wrong.

``traceparent`` is how a trace enters or leaves ROS: an HTTP request, a
``TRACEPARENT`` environment variable, another tracer. Unlike OpenTelemetry's
propagator, which ignores a bad header quietly, :func:`parse` raises
``ValueError`` naming the problem, because a caller who passes one explicitly
wants to know (https://www.w3.org/TR/trace-context/#traceparent-header).
"""

import re
from typing import Tuple

from mtrace_ros.core.ids import INVALID_SPAN_ID
from mtrace_ros.core.ids import INVALID_TRACE_ID
from mtrace_ros.core.text import echo

_FIELD = re.compile(r'[0-9a-f]*')
# (name, length) of the four fields of version 00, in order.
_FIELDS = (('version', 2), ('trace-id', 32), ('parent-id', 16), ('trace-flags', 2))


def parse(traceparent: str) -> Tuple[bytes, bytes, int]:
    """
    Return ``(trace_id, parent_span_id, flags)`` from a ``traceparent`` string.

    Later versions than ``00`` are accepted as the spec says: their first four
    fields are read and anything after them is ignored.

    :raises ValueError: naming what is wrong (type, field count, a field's
        length or characters, version ``ff``, an all-zero id).
    """
    if not isinstance(traceparent, str):
        raise ValueError(
            f'traceparent must be a str, got {type(traceparent).__name__}')
    shown = echo(traceparent)
    # W3C allows spaces and tabs around the value (OWS), no other whitespace.
    parts = traceparent.strip(' \t').split('-')
    if len(parts) < 4:
        raise ValueError(
            f'traceparent {shown} has {len(parts)} dash-separated fields, expected 4 '
            '(version-traceid-parentid-flags)')
    for (name, size), value in zip(_FIELDS, parts):
        if len(value) != size:
            raise ValueError(
                f'traceparent {shown}: {name} must be {size} hex characters, '
                f'got {len(value)}')
        if not _FIELD.fullmatch(value):
            raise ValueError(
                f'traceparent {shown}: {name} {echo(value)} is not lowercase hex')
    version, trace_hex, parent_hex, flags_hex = parts[:4]
    if version == 'ff':
        raise ValueError(f'traceparent {shown}: version ff is forbidden')
    if version == '00' and len(parts) != 4:
        raise ValueError(
            f'traceparent {shown}: version 00 has exactly 4 fields, got {len(parts)}')
    trace_id = bytes.fromhex(trace_hex)
    parent_id = bytes.fromhex(parent_hex)
    if trace_id == INVALID_TRACE_ID:
        raise ValueError(f'traceparent {shown}: trace-id is all zeros (invalid)')
    if parent_id == INVALID_SPAN_ID:
        raise ValueError(f'traceparent {shown}: parent-id is all zeros (invalid)')
    return trace_id, parent_id, int(flags_hex, 16)
