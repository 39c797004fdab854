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

On the wire a record is the CDR serialization of ``TraceRecord``: 72 bytes
(:data:`RECORD_SIZE`), laid out as :data:`RECORD_LAYOUT`. mtrace writes and
reads those bytes itself (:func:`encode_record`, :func:`decode_record`: a
``struct`` call instead of building a message object, the companion route's
largest cost); the codec tests check that they are the serialized message.
"""

import struct
import time
from typing import NamedTuple
from typing import Optional
from typing import Tuple

from mtrace_msgs.msg import TraceRecord
from mtrace_ros.core.clock import NS_PER_SEC
from mtrace_ros.core.clock import time_to_ns
from mtrace_ros.core.context import TraceContext
from mtrace_ros.core.ids import INVALID_SPAN_ID
from mtrace_ros.wire import traced_header
from mtrace_ros.wire.traced_header import Problem
import numpy
from rclpy.qos import QoSProfile
from rclpy.serialization import deserialize_message

COMPANION_SUFFIX = '/_mtrace'
#: Not COMPANION_SUFFIX: a topic and a service may share a name, their records may not.
REQUEST_RECORD_SUFFIX = '/_mtrace_request'
GID_SIZE = 16
_UINT8 = numpy.dtype(numpy.uint8)
_UINT64_MAX = (1 << 64) - 1
#: The least history depth of a companion endpoint: a burst of records waits in
#: the reader's queue until the data messages that need them are handled.
MIN_COMPANION_DEPTH = 100


#: A record's bytes after the 4-byte CDR encapsulation header: publisher_gid,
#: sequence_number, trace_id, span_id, parent_span_id, flags, 3 bytes of padding,
#: stamp.sec, stamp.nanosec (CDR aligns each value to its size, from the header's end).
RECORD_LAYOUT = '16sQ16s8s8sB3xiI'
RECORD_SIZE = 4 + struct.calcsize('<' + RECORD_LAYOUT)
#: The encapsulation headers of little- and big-endian plain CDR.
CDR_LE = b'\x00\x01\x00\x00'
CDR_BE = b'\x00\x00\x00\x00'
_ENCODE = struct.Struct('<4s' + RECORD_LAYOUT)
_LITTLE = struct.Struct('<4x' + RECORD_LAYOUT)
_BIG = struct.Struct('>4x' + RECORD_LAYOUT)
_NO_PARENT = bytes(8)


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


def companion_qos(data_qos: QoSProfile) -> QoSProfile:
    """
    Return the QoS of a companion endpoint, derived from its data endpoint's.

    Reliability, durability and history are the data topic's, so records are
    as reliable as their messages, and a late joiner of a transient-local
    topic gets the records of the messages it gets. The depth is the data
    topic's, at least :data:`MIN_COMPANION_DEPTH`: a reader keeps the records
    of every message its data queue may hold, and a record queue is never the
    first to overflow.
    """
    return QoSProfile(
        history=data_qos.history,
        depth=max(data_qos.depth, MIN_COMPANION_DEPTH),
        reliability=data_qos.reliability,
        durability=data_qos.durability)


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
        return None, None, _unmatchable(gid, sequence_number)
    context, problem = traced_header.read(record)
    return RecordKey(gid, sequence_number), context, problem


def encode_record(
    context: TraceContext, key: RecordKey, stamp_ns: Optional[int] = None,
) -> bytes:
    """Return the serialized ``TraceRecord`` of :func:`make_record` (little-endian CDR)."""
    sec, nanosec = divmod(time.time_ns() if stamp_ns is None else stamp_ns, NS_PER_SEC)
    return _ENCODE.pack(
        CDR_LE, key.publisher_gid, key.sequence_number, context.trace_id_bytes,
        context.span_id_bytes, context.parent_span_id_bytes or _NO_PARENT, context.flags, sec,
        nanosec)


class Decoded(NamedTuple):
    """A record read from its bytes (see :func:`read_record` for the meaning of each part)."""

    key: Optional[RecordKey]
    context: Optional[TraceContext]
    problem: Optional[Problem]
    stamp_ns: int
    parent_span_id: Optional[bytes]


def decode_record(data: bytes) -> Decoded:
    """
    Read a serialized ``TraceRecord`` as :func:`read_record` reads a message.

    Another encapsulation than plain CDR (an rmw that writes XCDR2, say) is
    deserialized by rclpy; bytes that are no record give no key and no
    context, and say what is wrong.
    """
    header = data[:4]
    layout = _LITTLE if header == CDR_LE else _BIG if header == CDR_BE else None
    if layout is None or not RECORD_SIZE <= len(data) <= RECORD_SIZE + 3:
        return _deserialized(data)
    gid, sequence_number, trace_id, span_id, parent, flags, sec, nanosec = layout.unpack_from(
        data)
    stamp_ns = sec * NS_PER_SEC + nanosec
    parent_span_id = None if parent == INVALID_SPAN_ID else parent
    if gid == bytes(GID_SIZE) or sequence_number == 0:
        return Decoded(None, None, _unmatchable(gid, sequence_number), stamp_ns, parent_span_id)
    context, problem = traced_header.read_ids(trace_id, span_id, flags)
    return Decoded(
        RecordKey(gid, sequence_number), context, problem, stamp_ns, parent_span_id)


def _deserialized(data: bytes) -> Decoded:
    try:
        record = deserialize_message(data, TraceRecord)
    except Exception:  # corrupt bytes: rclpy raises
        return Decoded(None, None, Problem(
            'unreadable trace record', f'{len(data)} bytes, header {data[:4].hex()}'), 0, None)
    key, context, problem = read_record(record)
    return Decoded(key, context, problem, time_to_ns(record.stamp), record_parent_span_id(record))


def _unmatchable(gid: bytes, sequence_number: int) -> Problem:
    return Problem(
        'unmatchable trace record', f'gid {gid.hex()}, sequence number {sequence_number}')


def record_parent_span_id(record: TraceRecord) -> Optional[bytes]:
    """Return the publishing span's parent span id, or ``None`` for a root (all zero)."""
    parent = record.parent_span_id.tobytes()
    return None if parent == INVALID_SPAN_ID else parent
