"""
Services out of band (issue 14): request types without a TracedHeader, matched by record.

Calls common to both routes (a done callback, ``async def``, ``call()`` from a
thread, servers single-threaded, multithreaded and ``async def``, a raising
server, a plain server) are tested for both in test_services.py.

The server process (nodes/service_node.py) answers ``/std_trigger``
(``std_srvs/srv/Trigger``) with the trace its callback ran in.
"""

import threading
import time

from conftest import DEADLINE_SEC
from conftest import spin_until
from conftest import wait_until
from mtrace_msgs.msg import TraceRecord
import mtrace_ros
from mtrace_ros.core.context import new_root
from mtrace_ros.instrumentation import notices
from mtrace_ros.instrumentation import record_inbox
from mtrace_ros.instrumentation import request_matcher
from mtrace_ros.instrumentation.request_matcher import RequestMatcher
from mtrace_ros.instrumentation.request_records import RECORD_QOS
from mtrace_ros.instrumentation.service import TracedService
from mtrace_ros.wire.companion import make_record
from mtrace_ros.wire.companion import RecordKey
from mtrace_ros.wire.companion import request_record_topic
from rcl_interfaces.srv import GetParameterTypes
import rclpy
from rclpy.node import Node
from rclpy.serialization import serialize_message
from service_calls import client_span
from service_calls import ended
from service_calls import local_server
from service_calls import make_client
from service_calls import served
from service_calls import start_server
from std_srvs.srv import Trigger


def _oob_client(make_node, executor, name='caller', srv_name='std_trigger', plain=False):
    return make_client(make_node, executor, name, Trigger, srv_name, plain=plain)


def _check_hop(recorded, caller, response, topic='/std_trigger'):
    """Check that the server ran in a child of the caller's client span."""
    where = served(response)
    span = client_span(recorded, caller.trace_id)
    assert span['parent_span_id'] == caller.span_id
    assert span['topic'] == topic
    assert where['trace_id'] == caller.trace_id
    assert where['parent_span_id'] == span['span_id']


def _counts(service):
    """Return this process's notice counts about ``service``, by problem."""
    counts = {}
    for (_, topic, problem), count in notices.counts().items():
        if topic == service:
            counts[problem] = counts.get(problem, 0) + count
    return counts


def _new(before, after):
    return {key: count - before.get(key, 0) for key, count in after.items()
            if count != before.get(key, 0)}


def _local_server(make_node, executor, srv_name, callback=None, srv_type=Trigger):
    service, contexts = local_server(make_node, executor, srv_type, srv_name, callback)
    assert isinstance(service, TracedService)
    return service, contexts


def test_call_from_a_sync_timer_callback(processes, make_node, executor, recorded):
    start_server(processes)
    client = _oob_client(make_node, executor)
    node = make_node(mtrace_ros.TracedNode, 'ticker')
    executor.add_node(node)
    calls = []

    def tick():
        if not calls:
            with mtrace_ros.start_trace() as caller:
                calls.append((caller, client.call_async(Trigger.Request())))

    node.create_timer(0.01, tick)
    assert spin_until(executor, lambda: calls and ended(recorded, [calls[0][1]])())
    ((caller, future),) = calls
    _check_hop(recorded, caller, future.result())


def test_an_rcl_interfaces_service_is_traced(make_node, executor, recorded):
    def serve(request, response):
        served_in.append(mtrace_ros.current_trace())
        return response

    served_in = []
    _local_server(make_node, executor, 'types', serve, GetParameterTypes)
    node = make_node(mtrace_ros.TracedNode, 'caller')
    executor.add_node(node)
    client = node.create_client(GetParameterTypes, 'types')
    assert client.wait_for_service(DEADLINE_SEC)
    with mtrace_ros.start_trace() as caller:
        future = client.call_async(GetParameterTypes.Request(names=['a']))
    assert spin_until(executor, ended(recorded, [future]))
    span = client_span(recorded, caller.trace_id)
    assert [(c.trace_id, c.parent_span_id) for c in served_in] == [
        (caller.trace_id, span['span_id'])]


def test_plain_client_to_traced_server_starts_a_root_with_one_notice(
        make_node, executor, recorded):
    _, contexts = _local_server(make_node, executor, 'plain_to_traced')
    client = _oob_client(make_node, executor, srv_name='plain_to_traced', plain=True)
    before = _counts('/plain_to_traced')
    for _ in range(3):
        future = client.call_async(Trigger.Request())
        assert spin_until(executor, future.done)
    assert len({context.trace_id for context in contexts}) == 3
    assert all(context.parent_span_id is None for context in contexts)
    assert [s['kind'] for s in recorded] == ['server'] * 3
    assert _new(before, _counts('/plain_to_traced')) == {
        request_matcher.NO_RECORD + request_matcher.NEW_ROOT: 3}


def test_a_timed_out_call_releases_its_state(make_node, executor, recorded):
    node = make_node(mtrace_ros.TracedNode, 'caller')
    executor.add_node(node)
    client = node.create_client(Trigger, 'nobody_serves')
    spinner = threading.Thread(target=executor.spin)
    spinner.start()
    try:
        with mtrace_ros.start_trace() as caller:
            try:
                assert client.call(Trigger.Request(), timeout_sec=0.2) is None  # Jazzy
            except TimeoutError:  # Kilted
                pass
    finally:
        executor.shutdown()
        spinner.join()
    assert client.mtrace_calls == {} and client._pending_requests == {}
    assert client_span(recorded, caller.trace_id)['error'].startswith('TimeoutError')


def _send_while_not_spinning(clients):
    """Send one call from each client; the server takes them all after they are sent."""
    calls = []
    for client in clients:
        with mtrace_ros.start_trace() as caller:
            calls.append((caller, client.call_async(Trigger.Request())))
    return calls


def test_two_traced_clients_with_different_sequence_numbers_match_exactly(
        make_node, executor, recorded):
    _, contexts = _local_server(make_node, executor, 'two_exact')
    one, two = (_oob_client(make_node, executor, name, 'two_exact') for name in ('one', 'two'))
    first = one.call_async(Trigger.Request())  # one's next request is its second
    assert spin_until(executor, first.done)
    calls = _send_while_not_spinning([one, two])
    assert spin_until(executor, ended(recorded, [first] + [future for _, future in calls]))
    servers = [s for s in recorded if s['kind'] == 'server'][1:]
    for caller, _ in calls:
        span = client_span(recorded, caller.trace_id)
        (server,) = [s for s in servers if s['trace_id'] == caller.trace_id]
        assert server['parent_span_id'] == span['span_id']
        assert server['links'] == []


def test_two_traced_clients_with_one_sequence_number_get_linked_roots(
        make_node, executor, recorded):
    _local_server(make_node, executor, 'two_ambiguous')
    clients = [_oob_client(make_node, executor, name, 'two_ambiguous') for name in ('a', 'b')]
    before = _counts('/two_ambiguous')
    calls = _send_while_not_spinning(clients)  # both sequence number 1, stamps apart by < 1 ms
    assert spin_until(executor, ended(recorded, [future for _, future in calls]))
    client_spans = {
        (span['trace_id'], span['span_id'])
        for span in (client_span(recorded, caller.trace_id) for caller, _ in calls)}
    servers = [s for s in recorded if s['kind'] == 'server']
    assert len(servers) == 2
    for server in servers:
        assert server['parent_span_id'] is None
        assert server['trace_id'] not in {caller.trace_id for caller, _ in calls}
        assert {(link['trace_id'], link['span_id']) for link in server['links']} == client_spans
    (problem,) = _new(before, _counts('/two_ambiguous'))
    assert problem.startswith(request_matcher.AMBIGUOUS)
    assert _new(before, _counts('/two_ambiguous'))[problem] == 2


# Hostile input: records come from other processes.

def _record_publisher(make_node, service):
    node = make_node(Node, 'spoofer')
    return node.create_publisher(TraceRecord, request_record_topic(service), RECORD_QOS)


def _spoofed(sequence_number, stamp_ns, gid=b'\x07' * 16):
    return make_record(new_root(), RecordKey(gid, sequence_number), stamp_ns)


def _inbox_reached(service, count):
    """Return a predicate: ``service``'s record subscription has ``count`` writers matched."""
    return lambda: service.mtrace_records.get_publisher_count() >= count


def test_records_with_spoofed_stamps_or_unsent_numbers_never_match(
        make_node, executor, recorded):
    service, contexts = _local_server(make_node, executor, 'spoofed')
    publisher = _record_publisher(make_node, '/spoofed')
    assert spin_until(executor, _inbox_reached(service, 1))
    now = time.time_ns()
    # Sequence number 1 (the plain client's first) stamped an hour ago and a minute ahead;
    # sequence numbers the client never sends.
    for gid, record in enumerate((
            _spoofed(1, now - 3600 * 10**9), _spoofed(1, now + 60 * 10**9),
            _spoofed(999, now), _spoofed(2**64 - 1, now)), 1):
        record.publisher_gid[:] = gid
        publisher.publish(record)
    client = _oob_client(make_node, executor, srv_name='spoofed', plain=True)
    future = client.call_async(Trigger.Request())
    assert spin_until(executor, future.done)
    assert future.result() is not None  # the request is never lost
    ((context,),) = [contexts]
    assert context.parent_span_id is None
    assert len(service.mtrace_matcher) == 4  # kept until they expire, then gone


def test_garbled_records_are_reported_and_never_stop_the_server(make_node, executor, recorded):
    service, contexts = _local_server(make_node, executor, 'garbled')
    publisher = _record_publisher(make_node, '/garbled')
    assert spin_until(executor, _inbox_reached(service, 1))
    before = _counts('/garbled')
    zero_gid = _spoofed(1, time.time_ns(), gid=bytes(16))
    no_trace = _spoofed(1, time.time_ns())
    no_trace.trace_id[:] = 0
    bad_flags = _spoofed(50, time.time_ns(), gid=b'\x01' * 16)
    bad_flags.flags = 0xff
    for record in (zero_gid, no_trace, bad_flags, _spoofed(0, time.time_ns())):
        publisher.publish(record)
    client = _oob_client(make_node, executor, srv_name='garbled', plain=True)
    future = client.call_async(Trigger.Request())
    assert spin_until(executor, future.done)
    assert len(contexts) == 1
    problems = _new(before, _counts('/garbled'))
    assert problems.pop('unmatchable trace record') == 2, problems
    assert problems, 'the record without a trace is reported too'
    assert len(service.mtrace_matcher) == 1  # the record with odd flags has a trace


def test_bytes_that_are_no_record_are_reported_and_never_stop_the_server(
        make_node, executor, recorded):
    service, contexts = _local_server(make_node, executor, 'not_records')
    publisher = _record_publisher(make_node, '/not_records')
    assert spin_until(executor, _inbox_reached(service, 1))
    before = _counts('/not_records')
    for data in (b'\x00\x01\x00\x00' + b'\xff' * 7, b'\x07' * 72):
        publisher.publish(data)  # serialized bytes of no TraceRecord
    client = _oob_client(make_node, executor, srv_name='not_records', plain=True)
    future = client.call_async(Trigger.Request())
    assert spin_until(executor, future.done)
    assert future.result() is not None and len(contexts) == 1
    assert contexts[0].parent_span_id is None
    assert _new(before, _counts('/not_records')).get('unreadable trace record', 0) >= 1
    assert len(service.mtrace_matcher) == 0


def test_a_record_flood_stays_bounded(make_node, executor, recorded, monkeypatch):
    monkeypatch.setattr(record_inbox, 'MAX_RECORDS', 50)
    service, contexts = _local_server(make_node, executor, 'flood')
    publisher = _record_publisher(make_node, '/flood')
    assert spin_until(executor, _inbox_reached(service, 1))
    before = _counts('/flood')
    now = time.time_ns()
    for sequence_number in range(1, 201):
        publisher.publish(_spoofed(sequence_number + 10, now))
    client = _oob_client(make_node, executor, srv_name='flood', plain=True)
    future = client.call_async(Trigger.Request())
    assert spin_until(executor, future.done)
    assert len(service.mtrace_matcher) <= 50
    assert _new(before, _counts('/flood')).get(request_matcher.OVERFLOW, 0) >= 150 - 50


def test_unmatched_records_expire(make_node, executor):
    service, _ = _local_server(make_node, executor, 'expiring')
    publisher = _record_publisher(make_node, '/expiring')
    assert spin_until(executor, _inbox_reached(service, 1))
    matcher = service.mtrace_matcher
    publisher.publish(_spoofed(5, time.time_ns()))
    assert spin_until(executor, lambda: len(matcher) == 1)
    matcher.inbox._max_age_ns = 0
    assert len(matcher) == 0


def test_the_matcher_alone_consumes_a_match():
    taken = []
    matcher = RequestMatcher(
        rclpy.logging.get_logger('mtrace_test'), '/m',
        lambda: taken.pop() if taken else None, lambda ns: None, lambda: 0)
    stamp = time.time_ns()
    taken.append(serialize_message(_spoofed(3, stamp, gid=b'\x01' * 16)))
    match = matcher.match(3, stamp + 1000)
    assert match.parent is not None and match.links == ()
    assert len(matcher) == 0


def test_record_topics_have_no_records_of_their_own(make_node, executor):
    """The request-record publisher is mtrace's own: it gets no companion topic."""
    _local_server(make_node, executor, 'bare_records')
    _oob_client(make_node, executor, 'recorder', 'bare_records')
    reader = make_node(Node, 'graph_reader')
    record_topic = request_record_topic('/bare_records')

    def topics():
        return {name for name, _ in reader.get_topic_names_and_types()}
    assert wait_until(lambda: record_topic in topics())
    assert not [name for name in topics() if name.startswith(record_topic + '/')]
