"""
OpenTelemetry's conventions, checked on OTLP decoded by a local receiver.

Messaging spans (``process /ns/topic``, CONSUMER, parent and link to the
publisher), ``publish`` roots (PRODUCER), action phases (CLIENT, SERVER,
INTERNAL, ``rpc.*``), the ``ros.`` and ``mtrace.``
attributes, statuses, ``exception`` events, the resource and the scope; and
the requests an OTLP sink sends at a steady rate (batching).
"""

import os
import socket
import time

from conftest import publish_until
from conftest import spin_until
from conftest import wait_until
from mtrace_msgs.msg import TracedString
from mtrace_ros import close_sinks
from mtrace_ros import configure_sinks
from mtrace_ros import continue_trace
from mtrace_ros import current_span
from mtrace_ros import current_trace
from mtrace_ros import start_trace
from mtrace_ros import TracedNode
from mtrace_ros.export.otlp import OtlpExporter
from mtrace_ros.export.registry import add_sink
from mtrace_ros.export.registry import remove_sink
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanProto
from opentelemetry.proto.trace.v1.trace_pb2 import Status
from otlp_receiver import attributes_of
import pytest
from test_msgs.action import Fibonacci


def _decoded(requests):
    """Return {span id hex: (resource attributes, scope, span)} from OTLP requests."""
    found = {}
    for _, request in requests:
        for resource_spans in request.resource_spans:
            resource = attributes_of(resource_spans.resource)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    found[span.span_id.hex()] = (resource, scope_spans.scope, span)
    return found


def _plain(value):
    kind = value.WhichOneof('value')
    if kind == 'array_value':
        return [_plain(item) for item in value.array_value.values]
    return getattr(value, kind)


def _attrs(item):
    return {key: _plain(value) for key, value in attributes_of(item).items()}


def _events(span):
    return [(event.name, _attrs(event)) for event in span.events]


def test_names_kinds_attributes_status_resource_and_scope(
        make_node, executor, otlp_http, sinks_closed):
    configure_sinks(f'otlp-http:127.0.0.1:{otlp_http.server_port}')
    talker = make_node(TracedNode, 'talker', namespace='robot1')
    listener = make_node(TracedNode, 'listener', namespace='robot1')
    handled, later, failed = [], [], []

    def on_chatter(msg):
        span = current_span()
        span.set_attribute('robot.battery', 0.5)
        span.add_event('planned', {'steps': 3})
        handled.append((current_trace(), msg))

    def on_fail(msg):
        failed.append(current_trace())
        raise ValueError('no path')

    def tick():  # a timer: its spans belong to the node, named after the function
        if not handled:
            with start_trace():
                chatter.publish(TracedString())

    def catch_up():
        if handled and not later:
            with continue_trace(handled[-1][1]):
                later.append(current_trace())

    listener.create_subscription(TracedString, 'chatter', on_chatter, 10)
    listener.create_subscription(TracedString, 'fail', on_fail, 10)
    chatter = talker.create_publisher(TracedString, 'chatter', 10)
    fail = talker.create_publisher(TracedString, 'fail', 10)
    talker.create_timer(0.05, tick)
    listener.create_timer(0.05, catch_up)
    executor.add_node(talker)
    executor.add_node(listener)
    assert spin_until(executor, lambda: handled and later)
    with pytest.raises(ValueError, match='no path'):
        publish_until(executor, lambda: fail.publish(TracedString()), lambda: failed)
    close_sinks()

    found = _decoded(otlp_http.requests)
    hop, _ = handled[-1]
    resource, scope, process = found[hop.span_id]
    assert (scope.name, scope.version) == ('mtrace_ros', '0.1.0')
    assert resource['service.name'].string_value == 'listener'
    assert resource['service.namespace'].string_value == '/robot1'
    assert resource['host.name'].string_value == socket.gethostname()
    assert resource['process.pid'].int_value == os.getpid()
    assert process.name == 'process /robot1/chatter'
    assert process.kind == SpanProto.SPAN_KIND_CONSUMER
    attributes = _attrs(process)
    assert 0 <= attributes.pop('mtrace.latency_ns') < 10**9
    assert attributes == {
        'messaging.system': 'ros2',
        'messaging.operation.name': 'process',
        'messaging.operation.type': 'process',
        'messaging.destination.name': '/robot1/chatter',
        'ros.node.name': 'listener',
        'ros.node.namespace': '/robot1',
        'mtrace.kind': 'receive',
        'robot.battery': 0.5,
    }
    assert process.status.code == Status.STATUS_CODE_UNSET
    assert [(link.trace_id.hex(), link.span_id.hex()) for link in process.links] == [
        (hop.trace_id, hop.parent_span_id)]
    assert _events(process) == [('planned', {'steps': 3})]

    # The root: the timer's start_trace, attributed to the node, publishes as events.
    resource, _, root = found[hop.parent_span_id]
    assert resource['service.name'].string_value == 'talker'
    assert root.name == 'test_names_kinds_attributes_status_resource_and_scope.<locals>.tick'
    assert root.kind == SpanProto.SPAN_KIND_INTERNAL and root.parent_span_id == b''
    assert _attrs(root)['ros.node.name'] == 'talker'
    assert _events(root) == [('publish', {
        'messaging.destination.name': '/robot1/chatter', 'mtrace.subscriber_count': 1})]
    assert root.start_time_unix_nano <= root.events[0].time_unix_nano <= root.end_time_unix_nano

    # continue_trace in the listener's timer: the listener's, named after the function.
    resource, _, continued = found[later[0].span_id]
    assert resource['service.name'].string_value == 'listener'
    assert continued.name.endswith('<locals>.catch_up')
    assert continued.kind == SpanProto.SPAN_KIND_CONSUMER
    assert continued.parent_span_id.hex() == hop.parent_span_id

    # A failed callback: ERROR, error.type, one exception event.
    _, _, error = found[failed[0].span_id]
    assert error.status.code == Status.STATUS_CODE_ERROR
    assert error.status.message == 'no path'
    assert _attrs(error)['error.type'] == 'ValueError'
    [(name, exception)] = _events(error)
    assert name == 'exception'
    assert exception['exception.type'] == 'ValueError'
    assert exception['exception.message'] == 'no path'
    assert 'in on_fail' in exception['exception.stacktrace']

    # The publish outside any trace: a PRODUCER "publish" root, the creation context.
    publish_root = found[failed[0].parent_span_id][2]
    assert publish_root.name == 'publish /robot1/fail'
    assert publish_root.kind == SpanProto.SPAN_KIND_PRODUCER
    assert {key: value for key, value in _attrs(publish_root).items()
            if key.startswith('messaging.')} == {
        'messaging.system': 'ros2', 'messaging.operation.name': 'publish',
        'messaging.operation.type': 'send', 'messaging.destination.name': '/robot1/fail'}


def test_otel_service_name_and_resource_attributes_win(
        make_node, otlp_http, sinks_closed, monkeypatch):
    monkeypatch.setenv('OTEL_SERVICE_NAME', 'fleet')
    monkeypatch.setenv(
        'OTEL_RESOURCE_ATTRIBUTES', 'deployment.environment.name=lab,service.namespace=site1')
    configure_sinks(f'otlp-http:127.0.0.1:{otlp_http.server_port}')
    node = make_node(TracedNode, 'talker', namespace='robot1')
    publisher = node.create_publisher(TracedString, 'chatter', 10)
    with start_trace(name='manual') as context:
        current_span().set_status('ok')
        publisher.publish(TracedString())
    close_sinks()
    resource, _, span = _decoded(otlp_http.requests)[context.span_id]
    assert resource['service.name'].string_value == 'fleet'
    assert resource['service.namespace'].string_value == 'site1'
    assert resource['deployment.environment.name'].string_value == 'lab'
    assert span.name == 'manual'
    assert _attrs(span)['ros.node.name'] == 'talker'
    assert _attrs(span)['ros.node.namespace'] == '/robot1'
    assert span.status.code == Status.STATUS_CODE_OK


def test_at_100_spans_per_second_an_otlp_sink_batches_50_spans_per_request(
        otlp_http, monkeypatch):
    monkeypatch.delenv('MTRACE_SINK_SCHEDULE_DELAY_MS')  # the defaults, as a user has them
    sink = add_sink(OtlpExporter(
        'http', f'http://127.0.0.1:{otlp_http.server_port}/v1/traces'))
    ended = []
    try:
        next_at = time.monotonic()
        for _ in range(300):  # 3 s at 100 spans/s
            with start_trace(name='paced') as context:
                ended.append(context.span_id)
            next_at += 0.01
            time.sleep(max(0.0, next_at - time.monotonic()))
    finally:
        remove_sink(sink)
    assert set(_decoded(otlp_http.requests)) == set(ended)
    requests = len(otlp_http.requests)
    assert requests <= len(ended) / 50 + 1, f'{requests} requests for {len(ended)} spans'


def test_action_phases_are_client_server_and_internal_rpc_spans(
        action_pair, otlp_http, sinks_closed, recorded):
    configure_sinks(f'otlp-http:127.0.0.1:{otlp_http.server_port}')
    counter, client = action_pair(Fibonacci)
    handles, results = [], []
    with start_trace(name='ask') as caller:
        future = client.send_goal_async(Fibonacci.Goal(order=2))
        future.add_done_callback(lambda done: done.result().get_result_async().add_done_callback(
            results.append))
        future = client.send_goal_async(Fibonacci.Goal(order=1000))
        future.add_done_callback(lambda done: handles.append(done.result()))
    assert wait_until(lambda: results and handles and 'execute' in counter.seen)
    handles[0].cancel_goal_async()
    # Every phase span ended (two goals: 2 + 2 goal, 2 execute, 1 result, 1 + 1 cancel).
    assert wait_until(lambda: len(
        [s for s in recorded if s['trace_id'] == caller.trace_id and s['kind'] != 'root']) == 9)
    close_sinks()

    phases = sorted(
        (_attrs(span)['mtrace.kind'], _attrs(span).get('ros.action.role'), span.kind, span.name,
         _attrs(span).get('rpc.method'), _attrs(span)['rpc.system.name'],
         _attrs(span)['ros.action.name'])
        for _, _, span in _decoded(otlp_http.requests).values()
        if span.trace_id.hex() == caller.trace_id and span.span_id.hex() != caller.span_id)
    client_kind, server_kind = SpanProto.SPAN_KIND_CLIENT, SpanProto.SPAN_KIND_SERVER
    send_goal, cancel = '/count/_action/send_goal', '/count/_action/cancel_goal'
    assert phases == sorted([
        ('goal', 'client', client_kind, send_goal, send_goal, 'ros2', '/count'),
        ('goal', 'client', client_kind, send_goal, send_goal, 'ros2', '/count'),
        ('goal', 'server', server_kind, send_goal, send_goal, 'ros2', '/count'),
        ('goal', 'server', server_kind, send_goal, send_goal, 'ros2', '/count'),
        ('execute', 'server', SpanProto.SPAN_KIND_INTERNAL, 'execute /count', None, 'ros2',
         '/count'),
        ('execute', 'server', SpanProto.SPAN_KIND_INTERNAL, 'execute /count', None, 'ros2',
         '/count'),
        ('result', 'client', client_kind, '/count/_action/get_result',
         '/count/_action/get_result', 'ros2', '/count'),
        ('cancel', 'client', client_kind, cancel, cancel, 'ros2', '/count'),
        ('cancel', 'server', server_kind, cancel, cancel, 'ros2', '/count'),
    ])
