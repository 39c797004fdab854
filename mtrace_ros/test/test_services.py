"""
Services carry the trace (issue 14): caller -> server callback -> response -> caller.

The calls common to both routes run in band and out of band; test_services_oob.py
has what only the out-of-band route does.
"""

import threading

from conftest import DEADLINE_SEC
from conftest import spin_until
from mtrace_msgs.srv import TracedTrigger
import mtrace_ros
from mtrace_ros.analysis.trees import Forest
from mtrace_ros.analysis.trees import render_text
from mtrace_ros.export.schema import record_from_dict
from mtrace_ros.export.schema import record_from_message
from mtrace_ros.export.schema import record_to_message
from mtrace_ros.instrumentation import notices
from mtrace_ros.instrumentation.service import TracedClient
import pytest
from service_calls import client_span as _client_span
from service_calls import ended as _ended
from service_calls import local_server
from service_calls import make_client as _client
from service_calls import served as _served
from service_calls import start_server as _server
from std_srvs.srv import Trigger


#: The server process serves both: in band (TracedTrigger) and out of band (std_srvs Trigger).
ROUTES = pytest.mark.parametrize(
    'srv_type,srv_name', [(TracedTrigger, 'trigger'), (Trigger, 'std_trigger')],
    ids=['in-band', 'out-of-band'])


def _check_hop(recorded, caller, response):
    """Check that the server ran in a child of the caller's client span, and said so."""
    served = _served(response)
    assert served['trace_id'] == caller.trace_id
    client_span = _client_span(recorded, caller.trace_id)
    assert client_span['parent_span_id'] == caller.span_id
    assert client_span['topic'] in ('/trigger', '/std_trigger')
    assert served['parent_span_id'] == client_span['span_id']
    if hasattr(response, 'header'):  # in band
        assert response.header.span_id.tobytes().hex() == served['span_id']
    assert client_span['start_ns'] <= client_span['end_ns']


@ROUTES
@pytest.mark.parametrize('flags', [[], ['--multi'], ['--async']],
                         ids=['single', 'multithreaded', 'async-server'])
def test_done_callback_runs_in_the_caller_span(
        processes, make_node, executor, recorded, flags, srv_type, srv_name):
    _server(processes, *flags)
    client = _client(make_node, executor, srv_type=srv_type, srv_name=srv_name)
    assert isinstance(client, TracedClient)
    seen = []
    with mtrace_ros.start_trace() as caller:
        future = client.call_async(srv_type.Request())
        future.add_done_callback(lambda f: seen.append(mtrace_ros.current_trace()))
    assert mtrace_ros.current_trace() is None
    assert spin_until(executor, lambda: seen)
    assert seen == [caller]
    # The client span ends when rclpy drops the pending request: on Jazzy, in a done-callback
    # of its own that may run after the user's.
    assert spin_until(executor, lambda: any(span['kind'] == 'client' for span in recorded))
    _check_hop(recorded, caller, future.result())


@ROUTES
def test_async_def_awaiting_call_async_continues_in_its_span(
        processes, make_node, executor, recorded, srv_type, srv_name):
    _server(processes)
    client = _client(make_node, executor, srv_type=srv_type, srv_name=srv_name)
    after = []

    async def ask():
        with mtrace_ros.start_trace() as caller:
            response = await client.call_async(srv_type.Request())
            after.append((caller, mtrace_ros.current_trace(), response))

    executor.create_task(ask)
    # The client span ends in a done callback, which may run after the task resumes.
    assert spin_until(executor, lambda: after and any(s['kind'] == 'client' for s in recorded))
    ((caller, current, response),) = after
    assert current == caller
    _check_hop(recorded, caller, response)


@ROUTES
def test_call_from_a_thread_returns_in_the_caller_span(
        processes, make_node, executor, recorded, srv_type, srv_name):
    _server(processes)
    client = _client(make_node, executor, srv_type=srv_type, srv_name=srv_name)
    spinner = threading.Thread(target=executor.spin)
    spinner.start()
    try:
        with mtrace_ros.start_trace() as caller:
            response = client.call(srv_type.Request(), timeout_sec=DEADLINE_SEC)
            assert mtrace_ros.current_trace() == caller
    finally:
        executor.shutdown()
        spinner.join()
    _check_hop(recorded, caller, response)


def test_two_traced_clients_calling_at_once_each_get_their_own_trace(
        processes, make_node, executor, recorded):
    _server(processes, '--multi')
    clients = [_client(make_node, executor, name) for name in ('one', 'two')]
    calls = []
    for client in clients:
        with mtrace_ros.start_trace() as caller:
            calls.append((caller, client.call_async(TracedTrigger.Request())))
    assert spin_until(executor, _ended(recorded, [future for _, future in calls]))
    assert calls[0][0].trace_id != calls[1][0].trace_id
    for caller, future in calls:
        _check_hop(recorded, caller, future.result())


@ROUTES
def test_traced_client_to_plain_server_works_untraced(
        processes, make_node, executor, recorded, srv_type, srv_name):
    _server(processes, '--plain')
    client = _client(make_node, executor, srv_type=srv_type, srv_name=srv_name)
    with mtrace_ros.start_trace() as caller:
        future = client.call_async(srv_type.Request())
    assert spin_until(executor, _ended(recorded, [future]))
    assert _served(future.result())['trace_id'] is None
    assert _client_span(recorded, caller.trace_id)['error'] is None


def test_plain_client_to_traced_server_starts_a_root_with_one_notice(
        make_node, executor, recorded):
    _, contexts = local_server(make_node, executor, TracedTrigger, 'trigger')
    client = _client(make_node, executor, plain=True)
    for _ in range(3):
        future = client.call_async(TracedTrigger.Request())
        assert spin_until(executor, future.done)
        assert future.result().header.trace_id.any()  # the server span
    assert len({context.trace_id for context in contexts}) == 3
    assert all(context.parent_span_id is None for context in contexts)
    assert [s['kind'] for s in recorded] == ['server'] * 3
    counts = {key[2]: count for key, count in notices.counts().items() if key[1] == '/trigger'}
    assert list(counts.values()) == [3], counts


@pytest.mark.parametrize('srv_type', [TracedTrigger, Trigger], ids=['in-band', 'out-of-band'])
def test_a_server_that_raises_records_the_error_and_the_caller_times_out(
        make_node, executor, recorded, srv_type):
    server = make_node(mtrace_ros.TracedNode, 'server')
    executor.add_node(server)

    def fail(request, response):
        raise RuntimeError('no map')

    server.create_service(srv_type, 'trigger', fail)
    client = _client(make_node, executor, srv_type=srv_type)
    with mtrace_ros.start_trace() as caller:
        future = client.call_async(srv_type.Request())
    with pytest.raises(RuntimeError, match='no map'):
        spin_until(executor, lambda: False)
    client.remove_pending_request(future)  # what call() does when its timeout expires
    (server_span,) = [s for s in recorded if s['kind'] == 'server']
    assert server_span['error'] == 'RuntimeError: no map'
    client_span = _client_span(recorded, caller.trace_id)
    assert server_span['parent_span_id'] == client_span['span_id']
    assert client_span['error'].startswith('TimeoutError')
    assert client.mtrace_calls == {}


def test_garbage_headers_never_lose_the_request(make_node, executor, recorded):
    server = make_node(mtrace_ros.TracedNode, 'server')
    executor.add_node(server)
    served = []
    server.create_service(
        TracedTrigger, 'trigger', lambda request, response: served.append(request) or response)
    client = _client(make_node, executor, plain=True)
    request = TracedTrigger.Request(data='garbage')
    request.header.trace_id[:] = 7
    request.header.flags = 0xff
    future = client.call_async(request)
    assert spin_until(executor, future.done)
    assert [r.data for r in served] == ['garbage']
    (span,) = [s for s in recorded if s['kind'] == 'server']
    assert span['parent_span_id'] is None


def test_tree_shows_a_service_hop_as_one_node_with_its_wait(make_node, executor, recorded):
    server = make_node(mtrace_ros.TracedNode, 'server')
    executor.add_node(server)
    server.create_service(TracedTrigger, 'trigger', lambda request, response: response)
    client = _client(make_node, executor)
    with mtrace_ros.start_trace() as caller:
        future = client.call_async(TracedTrigger.Request())
    assert spin_until(executor, _ended(recorded, [future]))
    forest = Forest(record_from_dict(span) for span in recorded)
    text = render_text(forest)
    assert '[client]' not in text
    (line,) = [line for line in text.splitlines() if '[server]' in line]
    assert line.startswith('└─ server  /trigger  [server]  caller waited '), text
    assert caller.trace_id in text
    # Span messages carry the new kinds.
    for span in recorded:
        assert record_from_message(record_to_message(record_from_dict(span))).kind == span['kind']
