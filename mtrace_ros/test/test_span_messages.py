"""A span received from the span topic reads exactly like the span recorded in-process."""

from mtrace_ros.core.context import TraceContext
from mtrace_ros.export.schema import record_from_dict
from mtrace_ros.export.schema import record_from_message
from mtrace_ros.export.schema import record_to_dict
from mtrace_ros.export.schema import record_to_message
from span_fixtures import make_span


def test_root_span_message_gives_the_records_nones():
    span = make_span(node='a', topic=None, latency_ns=None, root=True, publishes=[('/a_to_b', 2)])
    record = record_from_message(record_to_message(span))
    assert record == span
    assert record.parent_span_id is None
    assert record.topic is None and record.latency_ns is None and record.error is None
    assert record.kind == 'root'


def test_receive_span_with_error_publishes_and_links_round_trips():
    other = TraceContext(bytes(range(1, 17)), bytes(range(8, 0, -1)))
    span = make_span(
        node='robot1.f', error=ValueError('bad reading'),
        publishes=[('/f_out', 0), ('/f_out', 3)], links=[other])
    record = record_from_message(record_to_message(span))
    assert record == span
    assert record.error == 'ValueError: bad reading'
    assert record_to_dict(record)['links'] == [
        {'trace_id': other.trace_id, 'span_id': other.span_id}]


def test_json_line_form_round_trips():
    span = make_span(publishes=[('/f_out', 3)], error=KeyError('x'))
    assert record_from_dict(record_to_dict(span)) == span


def test_unknown_kind_is_kept_as_its_number():
    msg = record_to_message(make_span())
    msg.kind = 200
    assert record_from_message(msg).kind == '200'
