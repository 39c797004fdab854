"""
The span API: current_span()'s attributes, events, exceptions and status in every form.

JSON Lines, the span topic, ``mtrace tree`` and ``mtrace html`` (OTLP:
test_otel_conventions.py); hostile values in records and messages.
"""

import json
import logging

from conftest import collect_span_topic
from conftest import publish_until
from conftest import spin_until
from mtrace_msgs.msg import SpanAttribute
from mtrace_msgs.msg import TracedString
from mtrace_ros import close_sinks
from mtrace_ros import configure_sinks
from mtrace_ros import current_span
from mtrace_ros import current_trace
from mtrace_ros import start_trace
from mtrace_ros import TracedNode
from mtrace_ros.analysis.html_report import render_html
from mtrace_ros.analysis.records import read_records
from mtrace_ros.analysis.trees import Forest
from mtrace_ros.analysis.trees import render_text
from mtrace_ros.export.schema import record_from_dict
from mtrace_ros.export.schema import record_from_message
from mtrace_ros.export.schema import record_to_dict
from mtrace_ros.export.schema import record_to_message
from mtrace_ros.export.schema import RecordError
import pytest
from span_fixtures import make_span


def _annotate():
    span = current_span()
    span.set_attribute('goal.id', 'g-17')
    span.set_attributes({'goal.retries': 2, 'goal.weights': [0.5, 0.25], 'goal.ok': True})
    span.add_event('planned', {'steps': 3})
    try:
        raise KeyError('map tile')
    except KeyError as ex:
        span.record_exception(ex)
    span.set_status('error', 'fell back to the old map')


def test_span_api_data_reach_jsonl_the_span_topic_tree_and_html(
        make_node, executor, tmp_path, sinks_closed):
    collector = make_node(name='collector')
    received = collect_span_topic(collector)
    node = make_node(TracedNode, 'planner')
    configure_sinks(f'topic,jsonl:{tmp_path}/spans.jsonl', node=node)
    handled = []

    def on_goal(msg):
        _annotate()
        handled.append(current_trace())
    node.create_subscription(TracedString, 'goal', on_goal, 10)
    publisher = node.create_publisher(TracedString, 'goal', 10)
    executor.add_node(collector)
    executor.add_node(node)
    assert publish_until(executor, lambda: publisher.publish(TracedString()), lambda: handled)
    span_id = handled[0].span_id
    assert spin_until(executor, lambda: any(one['span_id'] == span_id for one in received))
    close_sinks()

    lines = (tmp_path / 'spans.jsonl').read_bytes().splitlines()
    [from_file] = [one for one in map(json.loads, lines) if one['span_id'] == span_id]
    [from_topic] = [one for one in received if one['span_id'] == span_id]
    assert from_file == from_topic
    assert from_file['attributes'] == {
        'goal.id': 'g-17', 'goal.retries': 2, 'goal.weights': [0.5, 0.25], 'goal.ok': True}
    assert from_file['status'] == {'code': 'error', 'message': 'fell back to the old map'}
    planned, exception = from_file['events']
    assert planned['name'] == 'planned' and planned['attributes'] == {'steps': 3}
    assert from_file['start_ns'] <= planned['time_ns'] <= exception['time_ns']
    assert exception['name'] == 'exception'
    assert exception['attributes']['exception.type'] == 'KeyError'
    assert exception['attributes']['exception.message'] == "'map tile'"
    assert 'in _annotate' in exception['attributes']['exception.stacktrace']

    records, bad = read_records(lines)
    assert bad == []
    text = render_text(Forest(records))
    span_line = next(line for line in text.splitlines() if 'planner  /goal' in line)
    below = text.splitlines()[text.splitlines().index(span_line) + 1:][:2]
    assert 'ERROR fell back to the old map' in span_line
    assert '• planned' in below[0] and 'steps=3' in below[0]
    assert '• exception' in below[1] and "exception.message='map tile'" in below[1]
    assert 'stacktrace' not in text
    page = render_html(Forest(records))
    assert '• planned' in page and 'goal.id: g-17' in page


def test_bad_values_are_dropped_with_one_warning_each_never_raised(recorded, caplog):
    with caplog.at_level(logging.WARNING, logger='mtrace'):
        with start_trace(name='bad'):
            span = current_span()
            for _ in range(3):
                span.set_attribute('nested', {'a': 1})
            span.set_attribute('mixed', [1, 'two'])
            span.set_attribute('', 1)
            span.add_event('odd', {'value': object()})
            span.record_exception('not an exception')
            span.set_status('fine')
            span.set_attribute('kept', 1)
    [record] = recorded
    assert record['attributes'] == {'kept': 1} and record['events'] == []
    assert record['status'] == {'code': 'unset', 'message': ''}
    messages = [entry.getMessage() for entry in caplog.records]
    assert len(messages) == 6 and len(set(messages)) == 6
    assert "attribute 'nested': expected str, bool, int, float" in messages[0]
    assert 'a list must hold values of one type' in messages[1]


def test_outside_a_recorded_span_current_span_does_nothing(recorded):
    span = current_span()
    assert not span.is_recording() and span.trace is None
    span.set_attribute('k', 1)
    span.add_event('e')
    span.set_status('error', 'x')
    with start_trace() as context:
        pass
    late = current_span()
    assert late.trace is None
    assert [record['span_id'] for record in recorded] == [context.span_id]


def _full_record():
    span = make_span(error=RuntimeError('boom'), publishes=[('/out', 2)])
    return span._replace(
        name='custom', attributes={'a': 'x', 'b': [1, 2], 'c': 0.5, 'd': False})


def test_new_fields_round_trip_through_json_and_the_span_message():
    record = _full_record()
    assert record.status.code == 'error' and record.status.message == 'boom'
    assert record.events[0].name == 'exception'
    assert record_from_dict(json.loads(json.dumps(record_to_dict(record)))) == _listed(record)
    assert record_from_message(record_to_message(record)) == _listed(record)


def _listed(record):
    """Return the record with list attribute values as JSON gives them back."""
    return record._replace(attributes={
        key: list(value) if isinstance(value, (list, tuple)) else value
        for key, value in record.attributes.items()})


@pytest.mark.parametrize('change, problem', [
    ({'attributes': []}, "'attributes' must be an object"),
    ({'attributes': {'k': {'x': 1}}}, "'attributes': attribute 'k': expected str"),
    ({'attributes': {'k': [1, 'a']}}, 'a list must hold values of one type'),
    ({'attributes': {'k': 2 ** 70}}, 'an integer must fit in 64 bits'),
    ({'events': [{'name': 'e', 'time_ns': 1, 'attributes': {'k': [2 ** 64]}}]},
     'an integer must fit in 64 bits'),
    ({'events': {}}, "'events' must be a list of objects"),
    ({'events': [{'name': 'e'}]}, "'time_ns' must be int"),
    ({'events': [{'name': 3, 'time_ns': 1}]}, "'name' must be str"),
    ({'status': 'error'}, "'status' must be an object"),
    ({'status': {'code': 'fatal'}}, "'status': code must be one of"),
    ({'status': {'code': 'error', 'message': 5}}, "'message' must be str"),
    ({'name': 7}, "'name' must be str"),
    ({'publishes': [{'topic': '/t', 'subscriber_count': 1, 'time_ns': 'now'}]},
     "'time_ns' must be int"),
])
def test_hostile_span_file_fields_are_named(change, problem):
    value = record_to_dict(make_span())
    value.update(change)
    with pytest.raises(RecordError, match=problem.replace('(', r'\(')):
        record_from_dict(value)


def test_older_records_without_the_new_fields_still_read():
    value = record_to_dict(make_span())
    for key in ('name', 'attributes', 'events', 'status'):
        del value[key]
    for publish in value['publishes']:
        del publish['time_ns']
    record = record_from_dict(value)
    assert record.attributes == {} and record.events == () and record.status.code == 'unset'


def test_hostile_span_messages_never_raise():
    msg = record_to_message(make_span())
    msg.attributes = [
        SpanAttribute(key='text', value='not json {'),
        SpanAttribute(key='object', value='{"a": 1}'),
        SpanAttribute(key='number', value='42')]
    msg.status_code = 9
    msg.status_message = 'from a newer publisher'
    record = record_from_message(msg)
    assert record.attributes == {'text': 'not json {', 'object': '{"a": 1}', 'number': 42}
    assert record.status == ('error', 'from a newer publisher')
