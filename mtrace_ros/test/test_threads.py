"""Threads and pools started inside a traced callback: mtrace_ros.wrap carries the trace."""

import concurrent.futures
import inspect
import threading

from conftest import spin_until
from mtrace_msgs.msg import TracedString
import mtrace_ros
from rclpy.task import Future


def _run_in_callback(make_node, executor, body):
    """Publish one traced message; run ``body()`` inside its callback; return (trace, result)."""
    node = make_node(name='threads')
    publisher = mtrace_ros.create_traced_publisher(node, TracedString, 'work', 10)
    results = []
    mtrace_ros.create_traced_subscription(
        node, TracedString, 'work',
        lambda msg: results.append((mtrace_ros.current_trace(), body())), 10)
    executor.add_node(node)
    assert spin_until(executor, lambda: publisher.get_subscription_count() > 0)
    with mtrace_ros.start_trace():
        publisher.publish(TracedString())
    assert spin_until(executor, lambda: results)
    return results[0]


def _in_thread(target):
    seen = []
    thread = threading.Thread(target=lambda: seen.append(target()))
    thread.start()
    thread.join(10)
    return seen[0]


def test_plain_thread_started_in_a_callback_sees_no_trace(make_node, executor):
    context, in_thread = _run_in_callback(
        make_node, executor, lambda: _in_thread(mtrace_ros.current_trace))
    assert context is not None
    assert in_thread is None


def test_wrapped_thread_target_runs_in_the_callback_trace(make_node, executor):
    context, in_thread = _run_in_callback(
        make_node, executor, lambda: _in_thread(mtrace_ros.wrap(mtrace_ros.current_trace)))
    assert in_thread == context


def test_wrapped_pool_submission_runs_in_the_callback_trace(make_node, executor):
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        context, in_pool = _run_in_callback(
            make_node, executor,
            lambda: pool.submit(mtrace_ros.wrap(mtrace_ros.current_trace)).result(10))
        # The pool's worker keeps no trace between jobs.
        assert pool.submit(mtrace_ros.current_trace).result(10) is None
    finally:
        pool.shutdown()
    assert in_pool == context


def test_wrap_outside_a_trace_runs_with_no_trace_even_in_a_traced_thread():
    unwrapped = mtrace_ros.wrap(mtrace_ros.current_trace)
    with mtrace_ros.start_trace():
        assert unwrapped() is None


def test_wrapped_done_callback_runs_in_the_trace(make_node, executor):
    seen = []

    def body():
        future = Future()
        future.add_done_callback(
            mtrace_ros.wrap(lambda done: seen.append(mtrace_ros.current_trace())))
        future.set_result(1)
        return None

    context, _ = _run_in_callback(make_node, executor, body)
    assert spin_until(executor, lambda: seen)
    assert seen[0] == context


def test_wrap_keeps_coroutine_functions_coroutine_functions(make_node, executor):
    async def work():
        return mtrace_ros.current_trace()

    with mtrace_ros.start_trace() as root:
        wrapped = mtrace_ros.wrap(work)
    assert inspect.iscoroutinefunction(wrapped)
    coroutine = wrapped()
    try:
        coroutine.send(None)
    except StopIteration as done:
        assert done.value == root
    assert mtrace_ros.current_trace() is None
