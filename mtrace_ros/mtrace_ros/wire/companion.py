"""
The companion route: a message's trace context in a ``TraceRecord`` beside it.

A type with no ``TracedHeader`` field keeps its type and bytes on the data
topic; its context travels on the hidden topic :func:`companion_topic` in a
``mtrace_msgs/msg/TraceRecord`` keyed by the publisher's gid and the
message's publication sequence number, the two values rmw's ``MessageInfo``
gives the subscriber. :func:`make_record` writes a record, :func:`read_record`
reads one back; records come from other processes and are checked.

Services use the same record for requests whose type has no ``TracedHeader``
(see :mod:`mtrace_ros.instrumentation.request_matcher`): a traced client
publishes it on :func:`request_record_topic` just before it sends the
request, with ``publisher_gid`` = a random id of that client (rmw gives a
server no client gid), ``sequence_number`` = the request's sequence number
and ``stamp`` = the send time by the client's clock, which also stamps the
request's ``source_timestamp``.
"""

from typing import NamedTuple
from typing import Optional
from typing import Tuple

from mtrace_msgs.msg import TraceRecord
from mtrace_ros.core.context import TraceContext
from mtrace_ros.core.ids import INVALID_SPAN_ID
from mtrace_ros.wire import traced_header
from mtrace_ros.wire.traced_header import Problem
import numpy

COMPANION_SUFFIX = '/_mtrace'
#: Not COMPANION_SUFFIX: a topic and a service may share a name, their records may not.
REQUEST_RECORD_SUFFIX = '/_mtrace_request'
GID_SIZE = 16
_UINT8 = numpy.dtype(numpy.uint8)
_UINT64_MAX = (1 << 64) - 1


class RecordKey(NamedTuple):
    """Which data message a record belongs to: its publisher's gid and sequence number."""

    publisher_gid: bytes
    sequence_number: int


def companion_topic(resolved_topic: str) -> str:
    """Return the hidden companion topic of a resolved data topic (e.g. ``/chat/_mtrace``)."""
    return resolved_topic.rstrip('/') + COMPANION_SUFFIX


def request_record_topic(resolved_service: str) -> str:
    """Return the hidden topic of a service's request records (``/plan/_mtrace_request``)."""
    return resolved_service.rstrip('/') + REQUEST_RECORD_SUFFIX


def make_record(
    context: TraceContext, key: RecordKey, stamp_ns: Optional[int] = None,
) -> TraceRecord:
    """
    Return the record of a message published by ``context``'s span.

    :param context: the span that publishes the message.
    :param key: the publisher's gid (16 bytes) and the message's sequence number.
    :param stamp_ns: the publish time (default: now, by the system clock).
    """
    record = TraceRecord()
    record.publisher_gid = numpy.frombuffer(key.publisher_gid, _UINT8)
    record.sequence_number = key.sequence_number
    parent = context.parent_span_id_bytes
    if parent is not None:
        record.parent_span_id = numpy.frombuffer(parent, _UINT8)
    traced_header.inject(record, context, stamp_ns)
    return record


def read_record(
    record: TraceRecord,
) -> Tuple[Optional[RecordKey], Optional[TraceContext], Optional[Problem]]:
    """
    Return a received record's key, the publisher's context, and what is wrong with it.

    The key is ``None`` for a record that cannot be matched to any message
    (an all-zero gid or sequence number 0, which rmw never assigns); the
    context is ``None`` when the record carries no usable trace. The parent
    span id is not part of the returned context: the receiver's span is the
    child of the record's ``span_id``, whatever that span's own parent was.
    """
    gid = record.publisher_gid.tobytes()
    sequence_number = record.sequence_number
    if gid == bytes(GID_SIZE) or not 0 < sequence_number <= _UINT64_MAX:
        return None, None, Problem(
            'unmatchable trace record', f'gid {gid.hex()}, sequence number {sequence_number}')
    context, problem = traced_header.read(record)
    return RecordKey(gid, sequence_number), context, problem


def record_parent_span_id(record: TraceRecord) -> Optional[bytes]:
    """Return the publishing span's parent span id, or ``None`` for a root (all zero)."""
    parent = record.parent_span_id.tobytes()
    return None if parent == INVALID_SPAN_ID else parent
