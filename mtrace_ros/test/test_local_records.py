"""
Companion records between a publisher and readers of one process (issue 13's speed).

While every reader of a companion topic is a traced subscription of the
publisher's own process, records are put into their inboxes instead of being
published; as soon as a reader the process cannot vouch for appears (another
process, a plain subscription), they go on the wire again. Either way each
message runs in its own trace.
"""

import os

from conftest import DEADLINE_SEC
from conftest import each_in_its_own_trace
from conftest import node_script
from conftest import publish_in_new_traces
from conftest import spin_until
from conftest import wait_until
from mtrace_msgs.msg import TraceRecord
import mtrace_ros
from mtrace_ros.core.context import TraceContext
from mtrace_ros.instrumentation import local_records
from mtrace_ros.instrumentation import record_inbox
from mtrace_ros.instrumentation.companion_subscription import inbox_of
from mtrace_ros.instrumentation.companion_subscription import records_of
from mtrace_ros.wire.companion import companion_qos
from mtrace_ros.wire.companion import make_record
from mtrace_ros.wire.companion import RecordKey
import rclpy
from rclpy.context import Context
from rclpy.qos import DurabilityPolicy
from rclpy.qos import QoSProfile
from std_msgs.msg import String


class Pair:
    """A traced publisher and a traced subscription of one process on one topic."""

    def __init__(self, make_node, executor, topic, qos=100):
        self.topic = topic
        self.received = []
        self.node = make_node(mtrace_ros.TracedNode, f'{topic}_node')
        self.subscription = self.node.create_subscription(String, topic, self._on, qos)
        self.publisher = self.node.create_publisher(String, topic, qos)
        self.executor = executor
        executor.add_node(self.node)
        assert spin_until(executor, lambda: self.publisher.get_subscription_count() > 0)

    def _on(self, msg):
        self.received.append((msg.data, mtrace_ros.current_trace()))

    def send(self, count, prefix=''):
        """Publish ``count`` messages, each in a new trace; return data -> publishing span."""
        return publish_in_new_traces(self.publisher, count, prefix)

    def each_in_its_trace(self, roots):
        """Wait until every message of ``roots`` came; return whether each ran in its trace."""
        assert spin_until(self.executor, lambda: {d for d, _ in self.received} >= set(roots))
        return each_in_its_own_trace(
            [(data, context) for data, context in self.received if data in roots], roots)

    def records_on_the_wire(self):
        """Return how many records wait in the middleware for the subscription (taken now)."""
        handle = records_of(self.subscription).handle
        count = 0
        while handle.take_message(TraceRecord, True) is not None:
            count += 1
        return count


def test_records_between_readers_of_one_process_never_reach_the_wire(make_node, executor):
    pair = Pair(make_node, executor, 'in_process')
    assert pair.each_in_its_trace(pair.send(50))
    assert pair.records_on_the_wire() == 0
    assert len(inbox_of(pair.subscription)) == 0


def test_a_reader_the_process_cannot_vouch_for_gets_records_on_the_wire(make_node, executor):
    pair = Pair(make_node, executor, 'overheard')
    eavesdropped = []
    other = make_node(name='eavesdropper')
    reader = other.create_subscription(
        TraceRecord, '/overheard/_mtrace', eavesdropped.append,
        companion_qos(QoSProfile(depth=10)))
    executor.add_node(other)
    assert spin_until(executor, lambda: pair.publisher._records.get_subscription_count() == 2)
    roots = pair.send(20, 'heard-')
    assert pair.each_in_its_trace(roots)
    assert spin_until(executor, lambda: len(eavesdropped) == 20)
    sent = {(root.trace_id, root.span_id) for root in roots.values()}
    assert {(bytes(r.trace_id).hex(), bytes(r.span_id).hex()) for r in eavesdropped} == sent
    # Gone again: records stay in the process.
    other.destroy_subscription(reader)
    assert spin_until(executor, lambda: pair.publisher._records.get_subscription_count() == 1)
    pair.records_on_the_wire()
    assert pair.each_in_its_trace(pair.send(20, 'private-'))
    assert pair.records_on_the_wire() == 0
    assert len(eavesdropped) == 20


def test_a_reader_in_another_process_and_one_here_each_get_every_trace(processes, make_node,
                                                                       executor):
    pair = Pair(make_node, executor, 'mixed')
    child = processes(node_script('chain_node.py') + [
        'remote', '--type', 'string', '--sub', 'mixed', '--depth', '100'], name='remote')
    warm_up = []

    def heard_in_its_trace():
        """Publish one more message unless the child ran one in its trace already."""
        if any(record['parent_span_id'] is not None for record in child.records()):
            return True
        warm_up.append(pair.send(1, f'warm-up {len(warm_up)} '))
        return False

    # Discovery matches data and records separately: wait until both reached the child.
    assert wait_until(heard_in_its_trace, 3 * DEADLINE_SEC), child.output()
    roots = pair.send(50)
    assert pair.each_in_its_trace(roots)
    assert wait_until(lambda: {r['data'] for r in child.records()} >= set(roots)), (
        child.output())
    for record in child.records():
        if record['data'] not in roots:
            continue
        root = roots[record['data']]
        assert (record['trace_id'], record['parent_span_id']) == (root.trace_id, root.span_id)
    assert child.stop() == 0, child.output()


def test_a_forged_record_on_the_wire_cannot_take_an_in_process_message(make_node, executor):
    """Records put in process win: a forged record with the same key waits, then expires."""
    pair = Pair(make_node, executor, 'unforgeable')
    forger = make_node(name='forger').create_publisher(
        TraceRecord, '/unforgeable/_mtrace', companion_qos(QoSProfile(depth=10)))
    assert spin_until(executor, lambda: forger.get_subscription_count() == 1)
    forged = TraceContext(os.urandom(16), os.urandom(8), None, 1)
    forger.publish(make_record(forged, RecordKey(pair.publisher.mtrace_gid, 1)))
    assert pair.each_in_its_trace(pair.send(5))
    assert all(context.trace_id != forged.trace_id for _, context in pair.received)
    assert len(inbox_of(pair.subscription)) == 1  # read, kept until it expires


def test_a_flood_of_forged_records_stays_bounded_beside_in_process_records(make_node, executor):
    pair = Pair(make_node, executor, 'flooded')
    forger = make_node(name='forger').create_publisher(
        TraceRecord, '/flooded/_mtrace', companion_qos(QoSProfile(depth=10)))
    assert spin_until(executor, lambda: forger.get_subscription_count() == 1)
    for round_ in range(5):
        for index in range(300):
            context = TraceContext(os.urandom(16), os.urandom(8), None, 1)
            forger.publish(make_record(context, RecordKey(os.urandom(16), index + 1)))
        assert pair.each_in_its_trace(pair.send(20, f'{round_}-'))
        assert len(inbox_of(pair.subscription)) <= record_inbox.MAX_RECORDS


def test_a_destroyed_reader_is_forgotten(make_node, executor):
    pair = Pair(make_node, executor, 'forgotten')
    records_topic = '/forgotten/_mtrace'
    key = (pair.node.context, records_topic)
    assert len(local_records._readers[key]) == 1
    pair.node.destroy_subscription(pair.subscription)
    assert spin_until(executor, lambda: pair.publisher.get_subscription_count() == 0)
    pair.publisher.publish(String(data='nobody'))  # the route checks again, forgets the dead
    assert key not in local_records._readers
    later = []
    pair.node.create_subscription(
        String, 'forgotten', lambda msg: later.append((msg.data, mtrace_ros.current_trace())),
        10)
    assert spin_until(executor, lambda: pair.publisher.get_subscription_count() == 1)
    pair.received = later
    assert pair.each_in_its_trace(pair.send(10))


def test_transient_local_records_always_go_on_the_wire(make_node, executor):
    """
    A late joiner gets them from the middleware's history.

    Its data history may reach it before the records' (the README's limit):
    such a message runs in a new root, never in another message's trace.
    """
    qos = QoSProfile(depth=10, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    pair = Pair(make_node, executor, 'latched', qos)
    assert pair.publisher._route.readers() is None
    roots = pair.send(5)
    assert pair.each_in_its_trace(roots)
    assert len(inbox_of(pair.subscription)) == 0
    late = []
    pair.node.create_subscription(
        String, 'latched', lambda msg: late.append((msg.data, mtrace_ros.current_trace())), qos)
    assert spin_until(executor, lambda: len(late) == 5)
    for data, context in late:
        assert context.parent_span_id in (roots[data].span_id, None), data
        assert context.trace_id == roots[data].trace_id or context.parent_span_id is None


def test_records_go_nowhere_without_a_reader_and_in_process_with_one(make_node, executor):
    node = make_node(mtrace_ros.TracedNode, 'alone')
    publisher = node.create_publisher(String, 'alone', 10)
    assert publisher._route.readers() == ()
    subscription = node.create_subscription(String, 'alone', lambda msg: None, 10)
    assert spin_until(executor, lambda: publisher.get_subscription_count() == 1)
    assert publisher._route.readers() == (inbox_of(subscription).put,)


def test_readers_of_a_context_that_shuts_down_are_forgotten(domain_id):
    context = Context()
    rclpy.init(context=context, domain_id=domain_id)
    node = mtrace_ros.TracedNode('short_lived', context=context)
    node.create_subscription(String, 'short_lived', lambda msg: None, 10)
    assert any(key[0] is context for key in local_records._readers)
    context.try_shutdown()
    assert not any(key[0] is context for key in local_records._readers)
