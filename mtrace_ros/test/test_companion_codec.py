"""The companion record codec: a context and a message's key, to a TraceRecord and back."""

import struct

from mtrace_msgs.msg import TraceRecord
from mtrace_ros.core.context import TraceContext
from mtrace_ros.wire.companion import CDR_BE
from mtrace_ros.wire.companion import companion_topic
from mtrace_ros.wire.companion import decode_record
from mtrace_ros.wire.companion import encode_record
from mtrace_ros.wire.companion import make_record
from mtrace_ros.wire.companion import read_record
from mtrace_ros.wire.companion import RECORD_LAYOUT
from mtrace_ros.wire.companion import record_parent_span_id
from mtrace_ros.wire.companion import RECORD_SIZE
from mtrace_ros.wire.companion import RecordKey
import pytest
from rclpy.serialization import serialize_message

GID = bytes(range(1, 17))
CONTEXT = TraceContext(bytes(range(16, 32)), bytes(range(1, 9)), bytes(range(9, 17)), 1)


def test_companion_topic_is_hidden_beside_the_data_topic() -> None:
    assert companion_topic('/ns/chat') == '/ns/chat/_mtrace'


def test_record_round_trip_keeps_key_context_and_parent() -> None:
    record = make_record(CONTEXT, RecordKey(GID, 7), stamp_ns=1_500_000_001)
    key, context, problem = read_record(record)
    assert (key, problem) == (RecordKey(GID, 7), None)
    assert context.trace_id_bytes == CONTEXT.trace_id_bytes
    assert context.span_id_bytes == CONTEXT.span_id_bytes
    assert context.flags == 1
    assert record_parent_span_id(record) == CONTEXT.parent_span_id_bytes
    assert (record.stamp.sec, record.stamp.nanosec) == (1, 500_000_001)


def test_root_context_writes_zero_parent() -> None:
    root = TraceContext(CONTEXT.trace_id_bytes, CONTEXT.span_id_bytes)
    assert record_parent_span_id(make_record(root, RecordKey(GID, 1))) is None


def test_hostile_records_are_refused_with_a_reason() -> None:
    zero_gid = make_record(CONTEXT, RecordKey(bytes(16), 3))
    zero_seq = make_record(CONTEXT, RecordKey(GID, 0))
    zero_ids = TraceRecord(publisher_gid=list(GID), sequence_number=2**64 - 1)
    assert read_record(zero_gid)[2].kind == 'unmatchable trace record'
    assert read_record(zero_seq)[0] is None
    key, context, problem = read_record(zero_ids)
    assert key == RecordKey(GID, 2**64 - 1)
    assert context is None and 'all-zero' in problem.kind


def _without_padding(data: bytes) -> bytes:
    """Return record bytes with the 3 padding bytes after ``flags`` zeroed (rmw leaves junk)."""
    return data[:61] + bytes(3) + data[64:]


def test_encoded_bytes_are_the_serialized_record() -> None:
    record = make_record(CONTEXT, RecordKey(GID, 2**40 + 3), stamp_ns=1_500_000_001)
    encoded = encode_record(CONTEXT, RecordKey(GID, 2**40 + 3), stamp_ns=1_500_000_001)
    assert len(encoded) == RECORD_SIZE == 72
    assert encoded == _without_padding(serialize_message(record))


def test_decoding_serialized_records_reads_what_read_record_reads() -> None:
    record = make_record(CONTEXT, RecordKey(GID, 9), stamp_ns=2_000_000_003)
    decoded = decode_record(serialize_message(record))
    assert (decoded.key, decoded.problem) == read_record(record)[::2]
    assert decoded.context == read_record(record)[1]
    assert decoded.stamp_ns == 2_000_000_003
    assert decoded.parent_span_id == CONTEXT.parent_span_id_bytes


def test_big_endian_records_are_read() -> None:
    little = encode_record(CONTEXT, RecordKey(GID, 5), stamp_ns=7)
    fields = struct.unpack('<4x' + RECORD_LAYOUT, little)
    big = CDR_BE + struct.pack('>' + RECORD_LAYOUT, *fields)
    decoded = decode_record(big)
    assert decoded.key == RecordKey(GID, 5) and decoded.stamp_ns == 7
    assert decoded.context.span_id_bytes == CONTEXT.span_id_bytes


@pytest.mark.parametrize('data', [
    b'', b'\x00\x01\x00\x00' + bytes(10), b'\xff' * 72, b'\x00\x07\x00\x00' + bytes(3)])
def test_bytes_that_are_no_record_are_unreadable(data) -> None:
    decoded = decode_record(data)
    assert decoded.key is None and decoded.context is None
    assert decoded.problem.kind in ('unreadable trace record', 'unmatchable trace record')


def test_decoded_hostile_records_are_refused_like_messages() -> None:
    assert decode_record(encode_record(CONTEXT, RecordKey(bytes(16), 3))).key is None
    assert decode_record(encode_record(CONTEXT, RecordKey(GID, 0))).key is None
    zero = TraceContext(bytes(16), bytes(8))
    decoded = decode_record(encode_record(zero, RecordKey(GID, 2**64 - 1)))
    assert decoded.key == RecordKey(GID, 2**64 - 1)
    assert decoded.context is None and 'no trace context' in decoded.problem.kind
