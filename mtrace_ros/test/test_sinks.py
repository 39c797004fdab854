"""Span sinks: the sink list syntax, configuration, and sinks that are slow or broken."""

import json
import threading
import time

from conftest import collect_span_topic
from conftest import node_script
from conftest import publish_until
from conftest import spin_until
from conftest import wait_until
from mtrace_msgs.msg import TracedString
from mtrace_ros import add_sink
from mtrace_ros import configure_sinks
from mtrace_ros import current_trace
from mtrace_ros import start_trace
from mtrace_ros import TracedNode
from mtrace_ros.export import configured_sinks
from mtrace_ros.export import spans
from mtrace_ros.export.jsonl import JsonLinesExporter
from mtrace_ros.export.processor import BatchSpanProcessor
from mtrace_ros.export.registry import remove_sink
from mtrace_ros.export.schema import record_to_dict
from mtrace_ros.export.spec import parse_sinks
from mtrace_ros.export.spec import SinkSpec
from mtrace_ros.export.topic import TopicExporter
import pytest
from rclpy.parameter import Parameter
from span_fixtures import make_span


def test_sink_list_syntax_is_normalized(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = (
        ' topic , topic:robot1/spans, jsonl:spans.jsonl,, otlp-http, '
        'otlp-http:127.0.0.1:4318, otlp-http:https://tempo:4318/custom, '
        'otlp-grpc:127.0.0.1:4317, otlp-grpc, JSONL:spans.jsonl,')
    assert parse_sinks(spec) == [
        SinkSpec('topic', '/mtrace/spans'),
        SinkSpec('topic', '/robot1/spans'),
        SinkSpec('jsonl', str(tmp_path / 'spans.jsonl')),
        SinkSpec('otlp-http', ''),
        SinkSpec('otlp-http', 'http://127.0.0.1:4318/v1/traces'),
        SinkSpec('otlp-http', 'https://tempo:4318/custom'),
        SinkSpec('otlp-grpc', 'http://127.0.0.1:4317'),
        SinkSpec('otlp-grpc', ''),
    ]
    assert parse_sinks('') == [] and parse_sinks(' , ') == []


@pytest.mark.parametrize('entry, problem', [
    ('jaeger:127.0.0.1', "unknown kind 'jaeger'"),
    ('jsonl', 'a file path is needed'),
    ('jsonl:', 'a file path is needed'),
    ('topic:bad topic', 'invalid topic name'),
    ('otlp-http:ftp://collector', 'not an http:// or https:// endpoint'),
    ('otlp-grpc:collector:port', 'bad port'),
])
def test_a_bad_entry_is_named_in_the_error(entry, problem):
    with pytest.raises(ValueError) as raised:
        parse_sinks(f'topic,{entry},jsonl:/tmp/x.jsonl')
    assert repr(entry) in str(raised.value) and problem in str(raised.value)


def test_configure_sinks_raises_before_creating_any_sink(tmp_path, sinks_closed):
    with pytest.raises(ValueError, match="'nope'"):
        configure_sinks(f'jsonl:{tmp_path}/a.jsonl,nope')
    assert configured_sinks() == []


def test_nodes_naming_the_same_sink_share_it(tmp_path, make_node, sinks_closed):
    path = tmp_path / 'spans.jsonl'
    override = [Parameter('mtrace.sinks', value=f'jsonl:{path}')]
    first = make_node(TracedNode, 'first', parameter_overrides=override)
    make_node(TracedNode, 'second', parameter_overrides=override)
    [sink] = configured_sinks()
    assert isinstance(sink.exporter, JsonLinesExporter) and sink.exporter.path == str(path)
    assert configure_sinks(f'jsonl:{tmp_path}/../{tmp_path.name}/spans.jsonl') == [sink]
    assert not first.has_parameter('mtrace.sinks')


def test_a_bad_parameter_is_a_warning_and_the_node_runs(make_node, capfd, sinks_closed):
    make_node(TracedNode, 'odd', parameter_overrides=[
        Parameter('mtrace.sinks', value='jsonl:,kafka:x')])
    assert configured_sinks() == []
    err = capfd.readouterr().err
    assert "parameter mtrace.sinks: bad span sink 'jsonl:'" in err
    assert "parameter mtrace.sinks: bad span sink 'kafka:x'" in err


def test_jsonl_sink_appends_span_records(tmp_path, sinks_closed):
    path = tmp_path / 'spans.jsonl'
    [sink] = configure_sinks(f'jsonl:{path}')
    ended = []
    for _ in range(3):
        with start_trace(node='writer') as context:
            ended.append(context.span)
    assert wait_until(lambda: sink.exported == 3)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert records == [record_to_dict(span.to_record()) for span in ended]


def test_unwritable_jsonl_path_drops_counts_and_warns_once(tmp_path, capfd, sinks_closed):
    not_a_dir = tmp_path / 'file'
    not_a_dir.write_text('')
    [sink] = configure_sinks(f'jsonl:{not_a_dir}/spans.jsonl')
    for _ in range(5):
        with start_trace(node='writer'):
            time.sleep(0.01)  # a new batch for each span: every one of them fails
    assert wait_until(lambda: sink.dropped == 5)
    err = capfd.readouterr().err
    assert err.count('span sink jsonl:') == 1
    assert 'NotADirectoryError' in err and 'further drops are counted' in err


class BlockedExporter:
    """An exporter whose exports wait until the test lets them go."""

    name = 'blocked'

    def __init__(self):
        self.go = threading.Event()

    def export(self, records):
        self.go.wait()
        return True

    def shutdown(self):
        pass


def test_a_slow_sink_drops_and_counts_instead_of_blocking(capfd):
    exporter = BlockedExporter()
    sink = add_sink(exporter, queue_size=10, batch_size=1, schedule_delay_ms=0)
    try:
        started = time.monotonic()
        for _ in range(100):
            with start_trace(node='fast'):
                pass
        elapsed = time.monotonic() - started
        assert sink.dropped >= 100 - 10 - 1
    finally:
        exporter.go.set()
        remove_sink(sink)
    assert elapsed < 0.5
    assert sink.exported + sink.dropped == 100 and sink.exported >= 10
    err = capfd.readouterr().err
    assert err.count('span sink blocked is dropping spans') == 1
    assert 'queue of 10 spans is full' in err
    sink.submit(make_span())  # after close: counted, not queued
    assert sink.dropped == 100 - sink.exported + 1


def test_topic_sink_publishes_span_messages_and_closes_with_its_context(
        make_node, executor, ros_context, sinks_closed):
    collector = make_node(name='collector')
    received = collect_span_topic(collector)
    sender = make_node(TracedNode, 'sender')
    [sink] = configure_sinks('topic', node=sender)
    assert isinstance(sink.exporter, TopicExporter)
    executor.add_node(collector)
    ended = []

    def trace():
        with start_trace(node='sender') as context:
            pass
        ended.append(record_to_dict(context.span.to_record()))
    assert publish_until(executor, trace, lambda: received)
    assert spin_until(executor, lambda: received[-1] == ended[-1])
    assert received[0] in ended

    ros_context.try_shutdown()
    assert sink.closed and configured_sinks() == []
    assert not spans.recording()


def test_bad_environment_entry_is_a_warning_and_good_entries_still_work(processes, tmp_path):
    path = tmp_path / 'a.jsonl'
    root = processes(
        node_script('chain_node.py') + ['a', '--pub', 'a', '--root-period', '0.05'],
        name='root', env={'MTRACE_SINKS': f'bogus:1, jsonl:{path}, jsonl:'})
    assert wait_until(lambda: path.exists() and path.read_text().count('\n') >= 2), root.output()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert {(record['node'], record['kind']) for record in records} == {('a', 'root')}
    assert root.popen.poll() is None
    output = root.output()
    assert output.count("MTRACE_SINKS: bad span sink 'bogus:1'") == 1, output
    assert output.count("MTRACE_SINKS: bad span sink 'jsonl:'") == 1, output


def test_current_trace_matches_the_recorded_span(make_node, executor, tmp_path, sinks_closed):
    [sink] = configure_sinks(f'jsonl:{tmp_path}/s.jsonl')
    node = make_node(TracedNode, 'self_talk')
    seen = []
    node.create_subscription(TracedString, 'loop', lambda msg: seen.append(current_trace()), 10)
    publisher = node.create_publisher(TracedString, 'loop', 10)
    executor.add_node(node)
    assert publish_until(executor, lambda: publisher.publish(TracedString()), lambda: seen)
    assert wait_until(lambda: sink.exported >= 2)
    records = [json.loads(line) for line in (tmp_path / 's.jsonl').read_text().splitlines()]
    [receive] = [record for record in records if record['span_id'] == seen[0].span_id]
    assert receive['trace_id'] == seen[0].trace_id
    assert receive['parent_span_id'] == seen[0].parent_span_id


def test_topic_sink_counts_exactly_what_it_published_when_one_record_fails(
        make_node, executor, capfd):
    collector = make_node(name='collector')
    received = collect_span_topic(collector)
    executor.add_node(collector)
    # Not added: make_span() records hand their spans to every added sink.
    sink = BatchSpanProcessor(
        TopicExporter(collector.context), batch_size=3, schedule_delay_ms=60000)
    try:
        assert publish_until(
            executor, lambda: sink.submit(make_span()) or sink.force_flush(), lambda: received)
        before = sink.exported
        # Made by hand, past Span.to_record's cleaning: a text no ROS string can carry.
        unpublishable = make_span()._replace(node='bad \udcff')
        batch = [make_span(), unpublishable, make_span()]
        for record in batch:
            sink.submit(record)
        assert sink.force_flush()
        assert spin_until(executor, lambda: {batch[0].span_id, batch[2].span_id} <= {
            record['span_id'] for record in received})
        assert (sink.exported - before, sink.dropped) == (2, 1)
        assert 'UnicodeEncodeError' in capfd.readouterr().err
    finally:
        sink.close()
