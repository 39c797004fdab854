"""OTLP export: real OTLP/HTTP and OTLP/gRPC endpoints receive mtrace's own ids."""

from concurrent import futures
import http.server
import socket
import threading
import time

from conftest import publish_until
from conftest import spin_until
from conftest import wait_until
from fan_in import run_fan_in
import grpc
from mtrace_msgs.msg import TracedString
from mtrace_ros import close_sinks
from mtrace_ros import configure_sinks
from mtrace_ros import start_trace
from mtrace_ros import TracedNode
from mtrace_ros.export import spans
from mtrace_ros.export.otlp import OtlpSink
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.trace.v1.trace_pb2 import Status
import pytest


class _OtlpHttpHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers['Content-Length']))
        request = trace_service_pb2.ExportTraceServiceRequest()
        request.ParseFromString(body)
        self.server.requests.append((self.path, request))
        reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header('Content-Type', 'application/x-protobuf')
        self.send_header('Content-Length', str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


@pytest.fixture
def otlp_http():
    """Serve OTLP/HTTP on 127.0.0.1; yield the server (``.requests``: (path, request))."""
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _OtlpHttpHandler)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self):
        self.requests = []

    def Export(self, request, context):  # noqa: N802 (the service's name)
        self.requests.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()


@pytest.fixture
def otlp_grpc():
    """Serve OTLP/gRPC on 127.0.0.1; yield (port, service with ``.requests``)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    service = _TraceService()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(service, server)
    port = server.add_insecure_port('127.0.0.1:0')
    server.start()
    yield port, service
    server.stop(grace=None).wait()


def _received_spans(requests):
    """Return {span id hex: (service name, span)} from ExportTraceServiceRequests."""
    found = {}
    for request in requests:
        for resource_spans in request.resource_spans:
            resource = {
                kv.key: kv.value.string_value for kv in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    found[span.span_id.hex()] = (resource['service.name'], span)
    return found


def _attributes(span):
    return {kv.key: kv.value for kv in span.attributes}


def _check_exported(found, fan_in):
    fusion, imu, failed = fan_in
    service, span = found[fusion.span_id]
    assert service == 'fusion'
    assert span.trace_id.hex() == fusion.trace_id
    assert span.parent_span_id.hex() == fusion.parent_span_id
    assert span.name == 'process /image'
    attributes = _attributes(span)
    assert attributes['messaging.destination.name'].string_value == '/image'
    assert 0 <= attributes['mtrace.latency_ns'].int_value < 10**9
    # The conventions' link to the creation context (also the parent), then the fan-in.
    assert [(one.trace_id.hex(), one.span_id.hex()) for one in span.links] == [
        (fusion.trace_id, fusion.parent_span_id), (imu.trace_id, imu.span_id)]
    assert span.status.code == Status.STATUS_CODE_UNSET
    root_service, root = found[fusion.parent_span_id]
    assert root_service == 'sensors' and root.parent_span_id == b''
    assert [value.string_value for value in (
        _attributes(root)['mtrace.published_topics'].array_value.values)] == ['/image']
    _, error = found[failed.span_id]
    assert error.status.code == Status.STATUS_CODE_ERROR
    assert error.status.message == 'corrupt frame'


def test_otlp_http_export_keeps_mtrace_ids_and_links(make_node, executor, otlp_http, sinks_closed):
    configure_sinks(f'otlp-http:127.0.0.1:{otlp_http.server_port}')
    fan_in = run_fan_in(make_node, executor)
    close_sinks()  # flushes
    assert {path for path, _ in otlp_http.requests} == {'/v1/traces'}
    _check_exported(_received_spans(request for _, request in otlp_http.requests), fan_in)


def test_otlp_grpc_export_keeps_mtrace_ids_and_links(make_node, executor, otlp_grpc, sinks_closed):
    port, service = otlp_grpc
    configure_sinks(f'otlp-grpc:127.0.0.1:{port}')
    fan_in = run_fan_in(make_node, executor)
    close_sinks()
    _check_exported(_received_spans(service.requests), fan_in)


def _closed_port():
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def test_otlp_endpoint_down_never_blocks_and_warns_once(
        make_node, executor, capfd, caplog, recorded):
    sink = OtlpSink('http', f'http://127.0.0.1:{_closed_port()}/v1/traces', timeout_sec=0.5)
    spans.add_sink(sink)
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
        spans.remove_sink(sink)
    assert elapsed < 3.0  # 400 spans; with exports blocking callbacks: 0.5 s each
    sink.close(timeout_sec=1.0)
    assert sink.exported == 0 and sink.dropped == len(recorded)
    err = capfd.readouterr().err
    assert err.count('span sink otlp-http:') == 1, err
    assert 'did not take' in err and 'Failed to export spans batch' in err
    # The SDK's own log records from the sink's thread are folded into that warning.
    assert [record.name for record in caplog.records] == []
