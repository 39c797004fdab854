"""
One context with OpenTelemetry: user spans, propagators and instrumented clients see the hop.

Real rclpy, a real OpenTelemetry SDK (a TracerProvider of the test's own, not
the global one), the real ``requests`` instrumentation against a local HTTP
server.
"""

import http.server

from conftest import publish_until
from mtrace_msgs.msg import TracedString
from mtrace_ros import current_span
from mtrace_ros import current_trace
from mtrace_ros import start_trace
from mtrace_ros import TracedNode
from opentelemetry import trace as otel_trace
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import NoOpTracerProvider
from otlp_receiver import serving_http
import pytest
import requests


@pytest.fixture
def sdk():
    """Yield (tracer provider, in-memory exporter) of an SDK the test configured."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def _hop(make_node, executor, work):
    """Run ``work(msg)`` in a traced callback of node ``b``; return its results by message."""
    receiver = make_node(TracedNode, 'b')
    sender = make_node(TracedNode, 'a')
    results = []

    def on_message(msg):
        results.append((current_trace(), work(msg)))
    receiver.create_subscription(TracedString, 'hop', on_message, 10)
    publisher = sender.create_publisher(TracedString, 'hop', 10)
    executor.add_node(receiver)
    executor.add_node(sender)
    assert publish_until(executor, lambda: publisher.publish(TracedString()), lambda: results)
    return results[0]


def test_user_otel_span_in_a_callback_is_a_child_of_the_hop(
        make_node, executor, sdk, recorded):
    provider, exporter = sdk
    tracer = provider.get_tracer('user')

    def work(msg):
        current = otel_trace.get_current_span()
        current.set_attribute('user.via_otel', 7)  # writes into mtrace's span
        with tracer.start_as_current_span('user work') as span:
            return current.get_span_context(), span.get_span_context()
    hop, (seen, user) = _hop(make_node, executor, work)

    assert (f'{seen.trace_id:032x}', f'{seen.span_id:016x}') == (hop.trace_id, hop.span_id)
    [finished] = exporter.get_finished_spans()
    assert finished.name == 'user work'
    assert f'{user.trace_id:032x}' == hop.trace_id
    assert f'{finished.parent.span_id:016x}' == hop.span_id
    [record] = [one for one in recorded if one['span_id'] == hop.span_id]
    assert record['attributes'] == {'user.via_otel': 7}
    # After the callback OpenTelemetry's context is what it was: no span.
    assert not otel_trace.get_current_span().get_span_context().is_valid


class _Recorder(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        self.server.traceparents.append(self.headers.get('traceparent'))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    """Serve HTTP on 127.0.0.1; yield the server (``.traceparents``: one per request)."""
    with serving_http(_Recorder, traceparents=[]) as server:
        yield server


@pytest.mark.parametrize('with_sdk', [True, False], ids=['sdk', 'api-only'])
def test_instrumented_http_request_from_a_callback_carries_the_hop(
        make_node, executor, sdk, http_server, with_sdk):
    provider, exporter = sdk
    instrumentor = RequestsInstrumentor()
    instrumentor.instrument(tracer_provider=provider if with_sdk else NoOpTracerProvider())
    try:
        hop, status = _hop(make_node, executor, lambda msg: requests.get(
            f'http://127.0.0.1:{http_server.server_port}/ping', timeout=10).status_code)
    finally:
        instrumentor.uninstrument()
    assert status == 204
    [traceparent] = http_server.traceparents
    version, trace_id, parent_id, flags = traceparent.split('-')
    assert (version, trace_id, flags) == ('00', hop.trace_id, '01')
    if with_sdk:  # the HTTP client span sits between the hop and the server
        [client] = exporter.get_finished_spans()
        assert f'{client.context.span_id:016x}' == parent_id
        assert f'{client.parent.span_id:016x}' == hop.span_id
    else:
        assert parent_id == hop.span_id


def test_publish_inside_an_otel_span_continues_its_trace(make_node, executor, sdk, recorded):
    provider, _ = sdk
    receiver = make_node(TracedNode, 'b')
    sender = make_node(TracedNode, 'a')
    seen = []
    receiver.create_subscription(
        TracedString, 'hop', lambda msg: seen.append(current_trace()), 10)
    publisher = sender.create_publisher(TracedString, 'hop', 10)
    executor.add_node(receiver)
    executor.add_node(sender)

    def publish():
        with provider.get_tracer('user').start_as_current_span('http handler') as outer:
            publisher.publish(TracedString())
            spans_of_outer.append(outer.get_span_context())
    spans_of_outer = []
    assert publish_until(executor, publish, lambda: seen)
    hop = seen[0]
    outer = spans_of_outer[-1]
    assert hop.trace_id == f'{outer.trace_id:032x}'
    [root] = [one for one in recorded if one['span_id'] == hop.parent_span_id]
    assert root['kind'] == 'root' and root['parent_span_id'] == f'{outer.span_id:016x}'


def test_an_unsampled_otel_span_makes_an_unsampled_trace(make_node, executor, recorded):
    provider = TracerProvider(sampler=ALWAYS_OFF)
    receiver = make_node(TracedNode, 'b')
    sender = make_node(TracedNode, 'a')
    seen = []
    receiver.create_subscription(TracedString, 'hop', seen.append, 10)
    publisher = sender.create_publisher(TracedString, 'hop', 10)
    executor.add_node(receiver)
    executor.add_node(sender)

    def publish():
        with provider.get_tracer('user').start_as_current_span('not sampled') as outer:
            publisher.publish(TracedString())
            outer_ids.append(outer.get_span_context().trace_id)
    outer_ids = []
    assert publish_until(executor, publish, lambda: seen)
    header = seen[0].header
    assert bytes(header.trace_id).hex() == f'{outer_ids[-1]:032x}'
    assert header.flags == 0
    assert [one for one in recorded if one['trace_id'] == f'{outer_ids[-1]:032x}'] == []


def test_start_trace_and_current_span_in_the_otel_context(sdk, recorded):
    provider, exporter = sdk
    with start_trace(name='tick') as context:
        current_span().add_event('started')
        with provider.get_tracer('user').start_as_current_span('inner'):
            inner = otel_trace.get_current_span().get_span_context()
    [finished] = exporter.get_finished_spans()
    assert f'{finished.parent.span_id:016x}' == context.span_id
    assert f'{inner.trace_id:032x}' == context.trace_id
    [record] = recorded
    assert record['name'] == 'tick' and [event['name'] for event in record['events']] == [
        'started']
