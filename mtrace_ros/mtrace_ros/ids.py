"""
Trace and span ids: random, from the operating system's CSPRNG, never all zero.

W3C Trace Context requires random ids for privacy and collision resistance
and reserves the all-zero id for "invalid".
"""

import os

TRACE_ID_SIZE = 16
SPAN_ID_SIZE = 8
INVALID_TRACE_ID = bytes(TRACE_ID_SIZE)
INVALID_SPAN_ID = bytes(SPAN_ID_SIZE)


def new_trace_id() -> bytes:
    """Return 16 random bytes, not all zero."""
    trace_id = os.urandom(TRACE_ID_SIZE)
    while trace_id == INVALID_TRACE_ID:
        trace_id = os.urandom(TRACE_ID_SIZE)
    return trace_id


def new_span_id() -> bytes:
    """Return 8 random bytes, not all zero."""
    span_id = os.urandom(SPAN_ID_SIZE)
    while span_id == INVALID_SPAN_ID:
        span_id = os.urandom(SPAN_ID_SIZE)
    return span_id
