"""OTLP export: real OTLP/HTTP and OTLP/gRPC endpoints receive mtrace's own ids."""

import http.server
import socket
import time

from conftest import collect_span_topic
from conftest import publish_until
from conftest import spin_until
from conftest import wait_until
from fan_in import run_fan_in
from mtrace_msgs.msg import TracedString
from mtrace_ros import close_sinks
from mtrace_ros import configure_sinks
from mtrace_ros import current_span
from mtrace_ros import force_flush
from mtrace_ros import start_trace
from mtrace_ros import TracedNode
from mtrace_ros.export.otlp import OtlpExporter
from mtrace_ros.export.registry import add_sink
from mtrace_ros.export.registry import remove_sink
from opentelemetry.proto.trace.v1.trace_pb2 import Status
from otlp_receiver import attributes_of
from otlp_receiver import received_spans
from otlp_receiver import serving_http
import pytest


def _check_exported(found, fan_in):
    fusion, imu, failed = fan_in
    service, span = found[fusion.span_id]
    assert service == 'fusion'
    assert span.trace_id.hex() == fusion.trace_id
    assert span.parent_span_id.hex() == fusion.parent_span_id
    assert span.name == 'process /image'
    attributes = attributes_of(span)
    assert attributes['messaging.destination.name'].string_value == '/image'
    assert 0 <= attributes['mtrace.latency_ns'].int_value < 10**9
    # The conventions' link to the creation context (also the parent), then the fan-in.
    assert [(one.trace_id.hex(), one.span_id.hex()) for one in span.links] == [
        (fusion.trace_id, fusion.parent_span_id), (imu.trace_id, imu.span_id)]
    assert span.status.code == Status.STATUS_CODE_UNSET
    root_service, root = found[fusion.parent_span_id]
    assert root_service == 'sensors' and root.parent_span_id == b''
    assert [value.string_value for value in (
        attributes_of(root)['mtrace.published_topics'].array_value.values)] == ['/image']
    _, error = found[failed.span_id]
    assert error.status.code == Status.STATUS_CODE_ERROR
    assert error.status.message == 'corrupt frame'


def test_otlp_http_export_keeps_mtrace_ids_and_links(make_node, executor, otlp_http, sinks_closed):
    configure_sinks(f'otlp-http:127.0.0.1:{otlp_http.server_port}')
    fan_in = run_fan_in(make_node, executor)
    close_sinks()  # flushes
    assert {path for path, _ in otlp_http.requests} == {'/v1/traces'}
    _check_exported(received_spans(request for _, request in otlp_http.requests), fan_in)


def test_otlp_grpc_export_keeps_mtrace_ids_and_links(make_node, executor, otlp_grpc, sinks_closed):
    port, service = otlp_grpc
    configure_sinks(f'otlp-grpc:127.0.0.1:{port}')
    fan_in = run_fan_in(make_node, executor)
    close_sinks()
    _check_exported(received_spans(service.requests), fan_in)


def _closed_port():
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def test_otlp_endpoint_down_never_blocks_and_warns_once(
        make_node, executor, capfd, caplog, recorded):
    sink = add_sink(OtlpExporter(
        'http', f'http://127.0.0.1:{_closed_port()}/v1/traces', timeout_sec=0.5))
    node = make_node(TracedNode, 'unlucky')
    handled = []
    node.create_subscription(TracedString, 'work', handled.append, 1000)
    publisher = node.create_publisher(TracedString, 'work', 1000)
    executor.add_node(node)
    try:
        assert publish_until(executor, lambda: publisher.publish(TracedString()), lambda: handled)
        before = len(handled)
        started = time.monotonic()
        for _ in range(200):
            with start_trace(node='unlucky'):
                publisher.publish(TracedString())
        assert spin_until(executor, lambda: len(handled) == before + 200)
        elapsed = time.monotonic() - started
        assert wait_until(lambda: sink.dropped > 0)
    finally:
        remove_sink(sink, timeout_sec=1.0)
    assert elapsed < 3.0  # 400 spans; with exports blocking callbacks: 0.5 s each
    assert sink.exported == 0 and sink.dropped == len(recorded)
    err = capfd.readouterr().err
    # One warning when it starts dropping, and the total when it closes: no loss is silent.
    assert err.count('span sink otlp-http:') == 2, err
    assert f'{len(recorded)} spans dropped in all (0 exported)' in err
    assert 'did not take' in err and 'Failed to export spans batch' in err
    # The SDK's own log records from the sink's thread are folded into that warning.
    assert [record.name for record in caplog.records] == []


def _failed_trace(text, **attributes):
    """Record a root span that ends with ``OSError(text)`` and carries ``attributes``."""
    with pytest.raises(OSError):
        with start_trace(node='writer', name=f'work {text}') as context:
            for key, value in attributes.items():
                current_span().set_attribute(key, value)
            raise OSError(text)
    return context.span_id


def test_one_bad_span_loses_no_batch_and_every_sink_counts_exactly(
        make_node, executor, otlp_http, sinks_closed):
    """A lone surrogate (a non-UTF-8 file name in an error) reaches no sink as such."""
    collector = make_node(TracedNode, 'collector')
    received = collect_span_topic(collector)
    executor.add_node(collector)
    topic, otlp = configure_sinks(
        f'topic,otlp-http:127.0.0.1:{otlp_http.server_port}', node=collector)

    def warm_up():
        _failed_trace('warm-up')
        force_flush()
    assert publish_until(executor, warm_up, lambda: received)  # the span topic is matched
    force_flush()
    before = {sink.name: sink.stats() for sink in (topic, otlp)}
    span_ids = [_failed_trace('fine'),
                _failed_trace('bad \udcff name', path='/tmp/\udcfe', paths=['ok', '\udcfd']),
                _failed_trace('fine again')]
    assert force_flush()
    assert spin_until(executor, lambda: set(span_ids) <= {r['span_id'] for r in received})
    for sink in (topic, otlp):
        stats = sink.stats()
        assert (stats.exported - before[sink.name].exported, stats.dropped) == (3, 0), stats
    by_span = {record['span_id']: record for record in received}
    bad = by_span[span_ids[1]]
    assert bad['error'] == 'OSError: bad \ufffd name' == 'OSError: ' + bad['status']['message']
    assert bad['name'] == 'work bad \ufffd name'
    assert bad['attributes'] == {'path': '/tmp/\ufffd', 'paths': ['ok', '\ufffd']}
    [event] = bad['events']
    assert event['attributes']['exception.message'] == 'bad \ufffd name'
    exported = received_spans(request for _, request in otlp_http.requests)
    assert set(span_ids) <= set(exported)
    assert exported[span_ids[1]][1].status.message == 'bad \ufffd name'


class _HostileOtlpHandler(http.server.BaseHTTPRequestHandler):
    """An OTLP endpoint refusing every batch with terminal escapes in its status line."""

    # What the exporter repeats is the reason phrase (read as Latin-1): C0 and C1
    # controls, and U+202E's UTF-8 bytes (read as 'â\x80®').
    STATUS = b'HTTP/1.1 400 no \x1b[2J\x1b]0;pwned\x07 \xe2\x80\xaeexe.txt\x85fake\r\n'

    def do_POST(self):  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers['Content-Length']))
        self.wfile.write(self.STATUS + b'Content-Length: 0\r\nConnection: close\r\n\r\n')
        self.close_connection = True

    def log_message(self, *args):
        pass


def test_what_an_endpoint_answers_is_escaped_in_the_sink_warning(capfd):
    with serving_http(_HostileOtlpHandler) as server:
        sink = add_sink(OtlpExporter(
            'http', f'http://127.0.0.1:{server.server_port}/v1/traces', timeout_sec=2.0))
        try:
            with start_trace(node='talker'):
                pass
            force_flush()
        finally:
            remove_sink(sink)
    assert (sink.exported, sink.dropped) == (0, 1)
    err = capfd.readouterr().err
    [warning] = [line for line in err.splitlines() if 'is dropping spans' in line]
    assert 'code: 400' in warning
    assert 'no \\x1b[2J\\x1b]0;pwned\\x07 \xe2\\x80\xaeexe.txt\\x85fake' in warning
    assert not set('\x1b\x07\x80\x85') & set(err)
