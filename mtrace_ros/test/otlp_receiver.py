"""A local OTLP receiver (HTTP and gRPC) decoding with opentelemetry-proto, for tests."""

from concurrent import futures
import contextlib
import http.server
import threading
from typing import Any
from typing import Type

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
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


@contextlib.contextmanager
def serving_http(handler: Type[http.server.BaseHTTPRequestHandler], **state: Any):
    """Serve HTTP with ``handler`` on 127.0.0.1 in a thread; yield the server, with ``state``."""
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    for name, value in state.items():
        setattr(server, name, value)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def otlp_http():
    """Serve OTLP/HTTP on 127.0.0.1; yield the server (``.requests``: (path, request))."""
    with serving_http(_OtlpHttpHandler, requests=[]) as server:
        yield server


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


def received_spans(requests):
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


def attributes_of(item):
    """Return {key: AnyValue} of a decoded span, event or resource."""
    return {kv.key: kv.value for kv in item.attributes}
