"""The companion record codec: a context and a message's key, to a TraceRecord and back."""

from mtrace_msgs.msg import TraceRecord
from mtrace_ros.core.context import TraceContext
from mtrace_ros.wire.companion import companion_topic
from mtrace_ros.wire.companion import make_record
from mtrace_ros.wire.companion import read_record
from mtrace_ros.wire.companion import record_parent_span_id
from mtrace_ros.wire.companion import RecordKey

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
