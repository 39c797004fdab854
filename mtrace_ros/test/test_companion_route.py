"""
The companion route in one process: any type keeps its topic; its trace comes beside it.

A ``std_msgs/String`` topic of a ``TracedNode`` (or of ``create_traced_*``)
gets a hidden ``<topic>/_mtrace`` topic of trace records; every message's
callback runs in its own trace, matched by publisher gid and sequence
number. On Jazzy (no ``publisher_gid`` in ``MessageInfo``) a topic with one
publisher matches by sequence number; several publishers give linked new roots.
"""

import functools
import threading

from conftest import each_in_its_own_trace
from conftest import publish_in_new_traces
from conftest import spin_until
from conftest import wait_until
import mtrace_ros
from mtrace_ros.instrumentation import companion_subscription
from mtrace_ros.instrumentation import notices
from mtrace_ros.instrumentation.companion_publisher import CompanionPublisher
from mtrace_ros.instrumentation.layout_check import ENVELOPE_PROBLEM
import pytest
from rcl_interfaces.msg import Log
import rclpy
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.context import Context
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.publisher import Publisher
from rclpy.qos import QoSPolicyKind
from rclpy.qos import QoSProfile
from rclpy.qos import ReliabilityPolicy
from rclpy.qos_overriding_options import InvalidQosOverridesError
from rclpy.qos_overriding_options import QosCallbackResult
from rclpy.qos_overriding_options import QoSOverridingOptions
from rclpy.serialization import deserialize_message
from rclpy.serialization import serialize_message
from std_msgs.msg import String

RECORD_TYPE = ['mtrace_msgs/msg/TraceRecord']


def _traced(received):
    """Return a callback that appends (data, trace) to ``received``."""
    return lambda msg: received.append((msg.data, mtrace_ros.current_trace()))


def _talker_listener(
        make_node, executor, topic='chat', depth=10, callback=None, **sub_kwargs):
    """Return a node publishing and subscribing to ``topic``, its publisher, what it received."""
    received = []
    node = make_node(mtrace_ros.TracedNode, 'talker_listener')
    publisher = node.create_publisher(String, topic, depth)
    node.create_subscription(
        String, topic, callback or _traced(received), depth, **sub_kwargs)
    executor.add_node(node)
    assert spin_until(executor, lambda: publisher.get_subscription_count() > 0)
    return node, publisher, received


def _noticed(problem, topic):
    return sum(count for (_, name, kind), count in notices.counts().items()
               if name == topic and kind.startswith(problem))


def test_500_back_to_back_messageseach_in_its_own_trace(make_node, executor, recorded):
    _, publisher, received = _talker_listener(make_node, executor, depth=500)
    assert isinstance(publisher, CompanionPublisher)
    roots = publish_in_new_traces(publisher, 500)
    assert spin_until(executor, lambda: len(received) == 500)
    assert each_in_its_own_trace(received, roots)
    assert len({context.trace_id for _, context in received}) == 500
    receives = [span for span in recorded if span['topic'] == '/chat' and span['kind'] != 'root']
    assert receives and all(span['latency_ns'] is not None for span in receives)


def test_records_of_a_queue_that_overflowed_still_match(make_node, executor):
    """Depth 10: the data queue keeps the last 10; the record queue (100) keeps theirs."""
    _, publisher, received = _talker_listener(make_node, executor, depth=10)
    roots = publish_in_new_traces(publisher, 60)
    assert spin_until(executor, lambda: received and received[-1][0] == '59')
    assert each_in_its_own_trace(received, roots)
    assert _noticed(companion_subscription.NO_RECORD, '/chat') == 0


def test_two_publishers_on_one_topic_in_one_node(make_node, executor, recorded):
    infos = []
    received = []
    node = make_node(mtrace_ros.TracedNode, 'two_talkers')
    first = node.create_publisher(String, 'shared', 50)
    second = node.create_publisher(String, 'shared', 50)
    assert first.mtrace_gid != second.mtrace_gid

    def callback(msg, info):
        infos.append(info)
        received.append((msg.data, mtrace_ros.current_trace()))

    node.create_subscription(String, 'shared', callback, 50)
    executor.add_node(node)
    assert spin_until(executor, lambda: second.get_subscription_count() > 0
                      and first.get_subscription_count() > 0)
    roots = {}
    for index in range(10):
        roots.update(publish_in_new_traces(first, 1, f'a{index}-'))
        roots.update(publish_in_new_traces(second, 1, f'b{index}-'))
    assert spin_until(executor, lambda: len(received) == 20)
    if 'publisher_gid' in infos[0]:  # Kilted: exact
        assert each_in_its_own_trace(received, roots)
    else:  # Jazzy: each message's sequence number is also the other publisher's
        assert all(context.parent_span_id is None for _, context in received)
        assert _noticed(companion_subscription.AMBIGUOUS, '/shared') == 20
        receives = [span for span in recorded if span['topic'] == '/shared'
                    and span['kind'] == 'receive']
        assert len(receives) == 20
        for span in receives:  # linked to both publishers' records of its number
            linked = {link['span_id'] for link in span['links']}
            assert len(linked) == 2 and linked <= {root.span_id for root in roots.values()}


def test_a_joining_publisher_never_gets_another_publishers_trace(make_node, executor):
    """Jazzy matches by number while one publisher is known: a newcomer must not be mistaken."""
    received = []
    listener = make_node(mtrace_ros.TracedNode, 'join_listener')
    listener.create_subscription(String, 'join', _traced(received), 50)
    first = make_node(mtrace_ros.TracedNode, 'first_talker').create_publisher(String, 'join', 50)
    executor.add_node(listener)
    assert spin_until(executor, lambda: first.get_subscription_count() > 0)
    roots = publish_in_new_traces(first, 3, 'first-')
    assert spin_until(executor, lambda: len(received) == 3)
    assert each_in_its_own_trace(received, roots)
    second = make_node(mtrace_ros.TracedNode, 'second_talker').create_publisher(
        String, 'join', 50)
    assert spin_until(executor, lambda: second.get_subscription_count() > 0)
    roots.update(publish_in_new_traces(second, 3, 'second-'))
    roots.update(publish_in_new_traces(first, 3, 'again-'))
    assert spin_until(executor, lambda: len(received) == 9)
    for data, context in received:
        assert context.parent_span_id in (roots[data].span_id, None), data


def test_plain_publisher_gives_new_roots_and_one_notice(make_node, executor, rosout):
    received = []
    listener = make_node(mtrace_ros.TracedNode, 'traced_listener')
    listener.create_subscription(String, 'untraced', _traced(received), 10)
    talker = make_node(Node, 'plain_talker')
    publisher = talker.create_publisher(String, 'untraced', 10)
    executor.add_node(listener)
    executor.add_node(talker)
    assert spin_until(executor, lambda: publisher.get_subscription_count() > 0)
    for index in range(5):
        publisher.publish(String(data=str(index)))
    assert spin_until(executor, lambda: len(received) == 5)
    assert [data for data, _ in received] == ['0', '1', '2', '3', '4']
    assert all(context.parent_span_id is None for _, context in received)
    assert len({context.trace_id for _, context in received}) == 5

    def lines():
        return [line for line in rosout
                if '/untraced' in line.msg and 'no trace record' in line.msg]

    assert spin_until(executor, lines)
    assert len(lines()) == 1 and lines()[0].level == Log.WARN
    gid = bytes(talker.get_publishers_info_by_topic('/untraced')[0].endpoint_gid)[:16]
    detail = f'publisher gid {gid.hex()}'
    assert detail in lines()[0].msg or 'sequence number' in lines()[0].msg  # Jazzy: no gid
    assert _noticed(companion_subscription.NO_RECORD, '/untraced') == 5


def test_raw_subscription_gets_the_bytes_in_their_trace(make_node, executor):
    received = []
    node = make_node(mtrace_ros.TracedNode, 'raw')
    publisher = node.create_publisher(String, 'raw', 10)
    node.create_subscription(
        String, 'raw', lambda data: received.append((data, mtrace_ros.current_trace())), 10,
        raw=True)
    executor.add_node(node)
    assert spin_until(executor, lambda: publisher.get_subscription_count() > 0)
    roots = publish_in_new_traces(publisher, 3)
    assert spin_until(executor, lambda: len(received) == 3)
    received = [(deserialize_message(data, String).data, context) for data, context in received]
    assert each_in_its_own_trace(received, roots)


def test_message_info_callback_gets_its_info(make_node, executor):
    received = []
    infos = []

    def callback(msg, info):
        infos.append(info)
        received.append((msg.data, mtrace_ros.current_trace()))

    _, publisher, _ = _talker_listener(make_node, executor, 'info', callback=callback)
    roots = publish_in_new_traces(publisher, 2)
    assert spin_until(executor, lambda: len(received) == 2)
    assert each_in_its_own_trace(received, roots)
    assert [info['publication_sequence_number'] for info in infos] == [1, 2]


def test_serialized_and_refused_publishes_keep_the_sequence(make_node, executor):
    _, publisher, received = _talker_listener(make_node, executor)
    roots = {}
    with mtrace_ros.start_trace() as root:
        roots['bytes'] = root
        publisher.publish(serialize_message(String(data='bytes')))
    with pytest.raises(TypeError):
        publisher.publish(42)
    roots.update(publish_in_new_traces(publisher, 2))
    assert spin_until(executor, lambda: len(received) == 3)
    assert [data for data, _ in received] == ['bytes', '0', '1']
    assert each_in_its_own_trace(received, roots)


def test_async_def_callback_runs_in_its_trace(make_node, executor):
    received = []

    async def callback(msg):
        received.append((msg.data, mtrace_ros.current_trace()))

    _, publisher, _ = _talker_listener(make_node, executor, 'coroutine', callback=callback)
    roots = publish_in_new_traces(publisher, 3)
    assert spin_until(executor, lambda: len(received) == 3)
    assert each_in_its_own_trace(received, roots)


@pytest.mark.parametrize('group', [ReentrantCallbackGroup, MutuallyExclusiveCallbackGroup])
def test_multi_threaded_executor_and_callback_groups(make_node, ros_context, group):
    received = []
    lock = threading.Lock()

    def callback(msg):
        with lock:
            received.append((msg.data, mtrace_ros.current_trace()))

    node = make_node(mtrace_ros.TracedNode, 'threads')
    publisher = node.create_publisher(String, 'threads', 200)
    node.create_subscription(String, 'threads', callback, 200, callback_group=group())
    executor = MultiThreadedExecutor(num_threads=4, context=ros_context)
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    try:
        assert wait_until(lambda: publisher.get_subscription_count() > 0)
        roots = publish_in_new_traces(publisher, 200)
        assert wait_until(lambda: len(received) == 200)
    finally:
        executor.shutdown()
        thread.join(10)
    assert each_in_its_own_trace(received, roots)


def test_events_executor(make_node, ros_context):
    experimental = pytest.importorskip('rclpy.experimental')
    received = []
    node = make_node(mtrace_ros.TracedNode, 'events')
    publisher = node.create_publisher(String, 'events', 50)
    node.create_subscription(String, 'events', _traced(received), 50)
    executor = experimental.EventsExecutor(context=ros_context)
    executor.add_node(node)
    try:
        # Spun in this thread: the Kilted EventsExecutor hangs with publishers in another one.
        assert spin_until(executor, lambda: publisher.get_subscription_count() > 0)
        roots = publish_in_new_traces(publisher, 20)
        assert spin_until(executor, lambda: len(received) == 20)
    finally:
        executor.shutdown()
    assert each_in_its_own_trace(received, roots)


def test_remapped_and_namespaced_topics(make_node, executor):
    received = []
    talker = make_node(mtrace_ros.TracedNode, 'ns_talker', namespace='robot',
                       cli_args=['--ros-args', '-r', 'chat:=talk'])
    publisher = talker.create_publisher(String, 'chat', 10)
    assert publisher.topic_name == '/robot/talk'
    listener = make_node(mtrace_ros.TracedNode, 'ns_listener')
    listener.create_subscription(String, '/robot/talk', _traced(received), 10)
    executor.add_node(talker)
    executor.add_node(listener)
    assert spin_until(executor, lambda: publisher.get_subscription_count() > 0)
    assert ('/robot/talk/_mtrace', RECORD_TYPE) in talker.get_topic_names_and_types()
    roots = publish_in_new_traces(publisher, 3)
    assert spin_until(executor, lambda: len(received) == 3)
    assert each_in_its_own_trace(received, roots)


def test_best_effort_topic(make_node, executor):
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
    received = []
    node = make_node(mtrace_ros.TracedNode, 'best_effort')
    publisher = node.create_publisher(String, 'lossy', qos)
    node.create_subscription(String, 'lossy', _traced(received), qos)
    executor.add_node(node)
    assert spin_until(executor, lambda: publisher.get_subscription_count() > 0)
    roots = publish_in_new_traces(publisher, 5)
    assert spin_until(executor, lambda: len(received) == 5)
    assert each_in_its_own_trace(received, roots)


def test_many_subscribers_each_get_the_trace(make_node, executor):
    talker = make_node(mtrace_ros.TracedNode, 'fan_out')
    publisher = talker.create_publisher(String, 'fan', 10)
    executor.add_node(talker)
    lists = []
    for index in range(4):
        received = []
        lists.append(received)
        listener = make_node(mtrace_ros.TracedNode, f'fan_{index}')
        listener.create_subscription(String, 'fan', _traced(received), 10)
        executor.add_node(listener)
    assert spin_until(executor, lambda: publisher.get_subscription_count() == 4)
    roots = publish_in_new_traces(publisher, 3)
    assert spin_until(executor, lambda: all(len(received) == 3 for received in lists))
    assert all(each_in_its_own_trace(received, roots) for received in lists)


def test_explicit_factories_on_a_plain_node_use_the_companion_route(make_node, executor):
    received = []
    node = make_node(Node, 'explicit')
    publisher = mtrace_ros.create_traced_publisher(node, String, 'explicit', 10)
    mtrace_ros.create_traced_subscription(node, String, 'explicit', _traced(received), 10)
    executor.add_node(node)
    assert isinstance(publisher, CompanionPublisher)
    assert spin_until(executor, lambda: publisher.get_subscription_count() > 0)
    roots = publish_in_new_traces(publisher, 2)
    assert spin_until(executor, lambda: len(received) == 2)
    assert each_in_its_own_trace(received, roots)
    assert dict(node.get_topic_names_and_types())['/explicit'] == ['std_msgs/msg/String']


def _companion_topics(node):
    return [name for name, _ in node.get_topic_names_and_types() if name.endswith('/_mtrace')]


def test_destroying_endpoints_destroys_their_companions(make_node):
    node = make_node(mtrace_ros.TracedNode, 'destroyer')
    publisher = node.create_publisher(String, 'gone', 10)
    subscription = node.create_subscription(String, 'gone', lambda msg: None, 10)
    assert len(list(node.publishers)) == 3  # with /parameter_events
    assert len(list(node.subscriptions)) == 2
    assert node.destroy_publisher(publisher) and node.destroy_subscription(subscription)
    assert [p.topic_name for p in node.publishers] == ['/parameter_events']
    assert list(node.subscriptions) == []


def _record_readers(node, topic):
    return [(info.node_name, info.topic_type)
            for info in node.get_subscriptions_info_by_topic(f'{topic}/_mtrace')]


@pytest.mark.parametrize('node_class', [Node, mtrace_ros.TracedNode])
def test_destroying_a_traced_subscription_destroys_its_companion_on_any_node(
        make_node, node_class):
    node = make_node(node_class, 'plain_destroyer')
    reader = make_node(Node, 'graph_reader')
    subscription = mtrace_ros.create_traced_subscription(
        node, String, 'plain_gone', lambda msg: None, 10)
    kept = mtrace_ros.create_traced_subscription(node, String, 'kept', lambda msg: None, 10)
    assert wait_until(lambda: _record_readers(reader, '/plain_gone') == [
        ('plain_destroyer', 'mtrace_msgs/msg/TraceRecord')])
    assert node.destroy_subscription(subscription)
    assert wait_until(lambda: _record_readers(reader, '/plain_gone') == [])
    assert [s.topic_name for s in node.subscriptions] == ['/kept/_mtrace', '/kept']
    assert node.destroy_subscription(kept) and list(node.subscriptions) == []
    node.destroy_node()  # nothing left to destroy twice


def _refusing_overrides():
    """Return QoS overriding options whose check refuses: rclpy then raises on creation."""
    def refuse(qos):
        result = QosCallbackResult()
        result.successful, result.reason = False, 'refused by the test'
        return result
    return QoSOverridingOptions([QoSPolicyKind.RELIABILITY], callback=refuse)


@pytest.mark.parametrize('node_class, factory', [
    (mtrace_ros.TracedNode, None), (Node, mtrace_ros.create_traced_subscription),
    (mtrace_ros.TracedNode, mtrace_ros.create_traced_subscription)])
def test_a_refused_subscription_leaves_no_companion_behind(make_node, node_class, factory):
    node = make_node(node_class, 'refused_reader')
    create = node.create_subscription if factory is None else functools.partial(factory, node)
    with pytest.raises(InvalidQosOverridesError, match='refused by the test'):
        create(String, 'refused', lambda msg: None, 10,
               qos_overriding_options=_refusing_overrides())
    assert list(node.subscriptions) == []
    assert _record_readers(node, '/refused') == []  # its own endpoints: no discovery wait
    kept = create(String, 'refused', lambda msg: None, 10)  # the same topic still works
    assert [s.topic_name for s in node.subscriptions] == ['/refused/_mtrace', '/refused']
    assert node.destroy_subscription(kept) and list(node.subscriptions) == []


def test_a_refused_publisher_leaves_no_companion_behind(make_node):
    node = make_node(mtrace_ros.TracedNode, 'refused_writer')
    before = [p.topic_name for p in node.publishers]
    with pytest.raises(InvalidQosOverridesError, match='refused by the test'):
        node.create_publisher(String, 'refused', 10, qos_overriding_options=_refusing_overrides())
    assert [p.topic_name for p in node.publishers] == before
    assert node.get_publishers_info_by_topic('/refused/_mtrace') == []
    node.create_publisher(String, 'refused', 10)
    assert len(node.get_publishers_info_by_topic('/refused/_mtrace')) == 1


def test_excluded_topics_from_the_environment_stay_plain(make_node, monkeypatch):
    monkeypatch.setenv('MTRACE_EXCLUDE_TOPICS', ' /robot/cloud , other')
    node = make_node(mtrace_ros.TracedNode, 'exclude', namespace='robot')

    def callback(msg):
        pass

    publisher = node.create_publisher(String, 'cloud', 10)
    subscription = node.create_subscription(String, '/robot/cloud', callback, 10)
    kept = node.create_publisher(String, 'kept', 10)
    assert type(publisher) is Publisher and subscription.callback is callback
    assert isinstance(kept, CompanionPublisher)
    assert wait_until(lambda: _companion_topics(node) == ['/robot/kept/_mtrace'])


def test_excluded_topics_from_the_parameter_override_stay_plain(make_node):
    node = make_node(
        mtrace_ros.TracedNode, 'exclude_param',
        parameter_overrides=[Parameter('mtrace.exclude_topics', value=['cloud'])])
    assert type(node.create_publisher(String, 'cloud', 10)) is Publisher
    assert type(mtrace_ros.create_traced_publisher(node, String, '/cloud', 10)) is Publisher
    assert not node.has_parameter('mtrace.exclude_topics')
    assert _companion_topics(node) == []


def test_tracing_off_creates_no_companion_endpoint(make_node, monkeypatch):
    monkeypatch.setenv('MTRACE_ENABLED', '0')
    node = make_node(mtrace_ros.TracedNode, 'off')

    def callback(msg):
        pass

    assert type(node.create_publisher(String, 'off', 10)) is Publisher
    assert node.create_subscription(String, 'off', callback, 10).callback is callback
    assert type(mtrace_ros.create_traced_publisher(node, String, 'off2', 10)) is Publisher
    assert _companion_topics(node) == [] and len(list(node.subscriptions)) == 1


@pytest.fixture
def other_process_node(domain_id):
    """Return a factory of nodes in a second context (a participant of its own, like a process)."""
    context = Context()
    rclpy.init(context=context, domain_id=domain_id)
    nodes = []

    def make(name):
        nodes.append(Node(name, context=context))
        return nodes[-1]

    yield make
    for node in nodes:
        node.destroy_node()
    context.try_shutdown()


@pytest.mark.parametrize('envelope_end', ['publisher', 'subscription'])
def test_an_envelope_at_one_end_only_is_reported(
        make_node, executor, rosout, other_process_node, envelope_end):
    """The ends never connect (one participant even refuses both types): said, not deaf."""
    topic = f'half_{envelope_end}'  # notices are rate-limited per node and topic
    talker = other_process_node('env_talker')
    if envelope_end == 'publisher':
        mtrace_ros.create_traced_publisher(talker, String, topic, 10, envelope=True)
    else:
        talker.create_publisher(String, topic, 10)
    listener = make_node(mtrace_ros.TracedNode, 'env_listener')
    executor.add_node(listener)
    assert wait_until(lambda: listener.get_publishers_info_by_topic(f'/{topic}'))
    if envelope_end == 'publisher':
        listener.create_subscription(String, topic, lambda msg: None, 10)
    else:
        mtrace_ros.create_traced_subscription(
            listener, String, topic, lambda msg: None, 10, envelope=True)
    assert spin_until(executor, lambda: any(
        ENVELOPE_PROBLEM in line.msg and f'/{topic}' in line.msg for line in rosout))
    (line,) = [line for line in rosout if ENVELOPE_PROBLEM in line.msg]
    assert 'mtrace_msgs/msg/TracedEnvelope' in line.msg and 'std_msgs/msg/String' in line.msg
