"""
The trace context under every way rclpy runs callbacks.

MultiThreadedExecutor (truly concurrent callbacks, reentrant and mutually
exclusive groups) and coroutine callbacks interleaved across awaits: rclpy
resumes coroutines with no per-task context, so a naive ContextVar would leak
between them.
"""

import contextvars
import threading

from conftest import spin_until
from conftest import wait_until
from mtrace_msgs.msg import TracedString
import mtrace_ros
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from rclpy.task import Future

TOPICS = ('one', 'two', 'three')


def _header_trace(msg):
    return msg.header.trace_id.tobytes().hex()


def _spin_in_thread(executor):
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    return thread


def _publish_in_new_traces(publishers, per_topic):
    for _ in range(per_topic):
        for publisher in publishers:
            with mtrace_ros.start_trace():
                publisher.publish(TracedString())


def test_concurrent_callbacks_each_see_their_own_trace(make_node, ros_context):
    barrier = threading.Barrier(len(TOPICS), timeout=10)
    results = []
    node = make_node(name='concurrent')
    group = ReentrantCallbackGroup()

    def callback(msg):
        before = mtrace_ros.current_trace()
        barrier.wait()  # all three callbacks are running at once here
        results.append((_header_trace(msg), before, mtrace_ros.current_trace(),
                        threading.get_ident()))

    publishers = [mtrace_ros.create_traced_publisher(node, TracedString, t, 10) for t in TOPICS]
    for topic in TOPICS:
        mtrace_ros.create_traced_subscription(
            node, TracedString, topic, callback, 10, callback_group=group)
    executor = MultiThreadedExecutor(num_threads=4, context=ros_context)
    executor.add_node(node)
    thread = _spin_in_thread(executor)
    try:
        assert wait_until(lambda: all(p.get_subscription_count() for p in publishers))
        _publish_in_new_traces(publishers, 1)
        assert wait_until(lambda: len(results) == len(TOPICS))
    finally:
        executor.shutdown()
        thread.join(10)
    assert len({thread_id for *_, thread_id in results}) == len(TOPICS)
    for header_trace, before, after, _ in results:
        assert before.trace_id == after.trace_id == header_trace
    assert len({header_trace for header_trace, *_ in results}) == len(TOPICS)


def test_many_messages_in_mutually_exclusive_groups_never_mix(make_node, ros_context):
    per_topic = 100
    results = []
    node = make_node(name='exclusive')
    publishers = [mtrace_ros.create_traced_publisher(node, TracedString, t, 200) for t in TOPICS]

    def callback(msg):
        context = mtrace_ros.current_trace()
        results.append(context is not None and context.trace_id == _header_trace(msg))

    for topic in TOPICS:
        mtrace_ros.create_traced_subscription(
            node, TracedString, topic, callback, 200,
            callback_group=MutuallyExclusiveCallbackGroup())
    executor = MultiThreadedExecutor(num_threads=4, context=ros_context)
    executor.add_node(node)
    thread = _spin_in_thread(executor)
    try:
        assert wait_until(lambda: all(p.get_subscription_count() for p in publishers))
        _publish_in_new_traces(publishers, per_topic)
        assert wait_until(lambda: len(results) == per_topic * len(TOPICS), timeout_sec=30)
    finally:
        executor.shutdown()
        thread.join(10)
    assert all(results)


def test_interleaved_coroutine_callbacks_keep_their_trace_across_awaits(make_node, executor):
    """A's and B's steps interleave: A starts, B starts, B resumes, A resumes, ..."""
    user_var = contextvars.ContextVar('user_var', default=None)
    futures = {}
    observed = {'a': [], 'b': []}
    node = make_node(name='coroutines')
    group = ReentrantCallbackGroup()

    def make_callback(name):
        async def callback(msg):
            user_var.set(name)

            def observe():
                observed[name].append(
                    (_header_trace(msg), mtrace_ros.current_trace(), user_var.get()))

            observe()
            for step in range(2):
                futures[(name, step)] = Future()
                await futures[(name, step)]
                observe()
        return callback

    publishers = {}
    for name in observed:
        publishers[name] = mtrace_ros.create_traced_publisher(node, TracedString, name, 10)
        mtrace_ros.create_traced_subscription(
            node, TracedString, name, make_callback(name), 10, callback_group=group)
    executor.add_node(node)
    assert spin_until(
        executor, lambda: all(p.get_subscription_count() for p in publishers.values()))
    for name in observed:
        with mtrace_ros.start_trace():
            publishers[name].publish(TracedString())
    assert spin_until(executor, lambda: ('a', 0) in futures and ('b', 0) in futures)
    for key in [('b', 0), ('a', 0), ('a', 1), ('b', 1)]:
        assert spin_until(executor, lambda: key in futures)
        futures[key].set_result(True)
        executor.spin_once(timeout_sec=0.05)
        assert mtrace_ros.current_trace() is None  # nothing left in the spinning thread
    assert spin_until(executor, lambda: all(len(obs) == 3 for obs in observed.values()))
    for name, observations in observed.items():
        for header_trace, context, value in observations:
            assert context.trace_id == header_trace
            assert value == name
        assert len({context.span_id for _, context, _ in observations}) == 1
    assert observed['a'][0][0] != observed['b'][0][0]
    assert mtrace_ros.current_trace() is None
    assert user_var.get() is None


def test_coroutine_callbacks_under_multithreaded_executor(make_node, ros_context):
    results = []
    node = make_node(name='async_mt')
    group = ReentrantCallbackGroup()
    publisher = mtrace_ros.create_traced_publisher(node, TracedString, 'amt', 100)
    pending = []

    async def callback(msg):
        future = Future()
        pending.append(future)
        await future
        context = mtrace_ros.current_trace()
        results.append(context is not None and context.trace_id == _header_trace(msg))

    mtrace_ros.create_traced_subscription(
        node, TracedString, 'amt', callback, 100, callback_group=group)
    executor = MultiThreadedExecutor(num_threads=4, context=ros_context)
    executor.add_node(node)
    thread = _spin_in_thread(executor)
    count = 20
    try:
        assert wait_until(lambda: publisher.get_subscription_count() > 0)
        _publish_in_new_traces([publisher], count)
        assert wait_until(lambda: len(pending) == count)
        for future in reversed(pending):
            future.set_result(None)
            executor.wake()
        assert wait_until(lambda: len(results) == count)
    finally:
        executor.shutdown()
        thread.join(10)
    assert all(results)


def test_trace_started_in_a_coroutine_timer_stays_in_it_across_awaits(make_node, executor):
    """Coroutine timers of a TracedNode get a context of their own, as subscriptions do."""
    released = Future()
    seen = {'inside': [], 'other': []}
    node = make_node(mtrace_ros.TracedNode, 'async_timer')
    group = ReentrantCallbackGroup()

    async def slow_tick():
        if seen['inside']:
            return
        with mtrace_ros.start_trace() as root:
            seen['inside'].append(root)
            await released
            seen['inside'].append(mtrace_ros.current_trace())

    node.create_timer(0.01, slow_tick, callback_group=group)
    node.create_timer(
        0.01, lambda: seen['other'].append(mtrace_ros.current_trace()), callback_group=group)
    executor.add_node(node)
    assert spin_until(executor, lambda: seen['inside'] and len(seen['other']) >= 3)
    assert mtrace_ros.current_trace() is None
    released.set_result(True)
    assert spin_until(executor, lambda: len(seen['inside']) == 2)
    assert seen['inside'][0] is seen['inside'][1]
    assert all(context is None for context in seen['other'])
    assert mtrace_ros.current_trace() is None
