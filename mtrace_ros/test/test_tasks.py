"""
Every rclpy task keeps its own trace context, as an asyncio task does.

Importing mtrace_ros instruments rclpy's ``Task`` for the process (unless
``MTRACE_TASKS`` is off, checked in a child process). The last tests
reproduce the properties rclpy's own task and executor tests check, with the
instrumentation on.
"""

import contextvars
import gc
import inspect
import json
import os
import subprocess
import threading
import warnings

from conftest import DEADLINE_SEC
from conftest import node_script
from conftest import spin_until
from mtrace_msgs.msg import TracedString
import mtrace_ros
from mtrace_ros.core.context import attach
from mtrace_ros.core.context import new_root
from mtrace_ros.instrumentation import tasks
import pytest
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from rclpy.executors import SingleThreadedExecutor
from rclpy.task import Future
from rclpy.task import Task
from std_srvs.srv import Empty


def _executors():
    executors = [SingleThreadedExecutor, MultiThreadedExecutor]
    try:
        from rclpy.experimental import EventsExecutor
    except ImportError:  # not in every rclpy
        return executors
    return executors + [EventsExecutor]


@pytest.fixture(params=_executors())
def any_executor(request, ros_context):
    """Yield each of rclpy's executors in turn (MultiThreadedExecutor with 2 threads)."""
    kwargs = {'num_threads': 2} if request.param is MultiThreadedExecutor else {}
    executor = request.param(context=ros_context, **kwargs)
    yield executor
    executor.shutdown()


@pytest.fixture
def tasks_off():
    """Run the test with rclpy's tasks as plain rclpy has them; instrument them again after."""
    tasks.uninstrument_tasks()
    yield
    assert tasks.instrument_tasks()


def _wait_in_trace(released, inside):
    """Return a coroutine function that starts a trace and waits for ``released`` in it."""
    async def wait():
        with mtrace_ros.start_trace() as root:
            inside.append(root)
            await released
            inside.append(mtrace_ros.current_trace())
        inside.append(mtrace_ros.current_trace())
    return wait


def test_import_instruments_tasks():
    assert tasks.instrumented()
    assert Task.__init__.__module__ == tasks.__name__


def test_trace_started_in_a_task_is_invisible_to_a_timer_while_it_waits(
        make_node, any_executor):
    node = make_node(name='plain_timer')  # a plain rclpy Node: nothing wrapped
    ticks = []
    node.create_timer(0.01, lambda: ticks.append(mtrace_ros.current_trace()))
    any_executor.add_node(node)
    released, inside = Future(), []
    task = any_executor.create_task(_wait_in_trace(released, inside))
    assert spin_until(any_executor, lambda: inside)
    waiting_since = len(ticks)
    assert spin_until(any_executor, lambda: len(ticks) >= waiting_since + 5)
    assert mtrace_ros.current_trace() is None
    released.set_result(True)
    assert spin_until(any_executor, task.done)
    assert ticks and all(context is None for context in ticks)
    assert inside == [inside[0], inside[0], None]


def test_a_task_created_in_a_trace_continues_it(executor):
    seen = []

    async def work():
        seen.append(mtrace_ros.current_trace())
        await gate
        seen.append(mtrace_ros.current_trace())

    gate = Future()
    with mtrace_ros.start_trace() as root:
        task = executor.create_task(work)
    assert spin_until(executor, lambda: seen)
    gate.set_result(None)
    assert spin_until(executor, task.done)
    assert seen == [root, root]
    assert mtrace_ros.current_trace() is None


def test_a_task_created_in_a_traced_callback_runs_in_that_trace(make_node, executor):
    node = make_node(name='spawner')
    publisher = mtrace_ros.create_traced_publisher(node, TracedString, 'spawn', 10)
    gate, seen = Future(), {}

    async def child(parent_context):
        seen['parent'] = parent_context
        seen['child'] = [mtrace_ros.current_trace()]
        await gate
        seen['child'].append(mtrace_ros.current_trace())

    def callback(msg):
        executor.create_task(child, mtrace_ros.current_trace())

    mtrace_ros.create_traced_subscription(node, TracedString, 'spawn', callback, 10)
    executor.add_node(node)
    assert spin_until(executor, lambda: publisher.get_subscription_count() > 0)
    with mtrace_ros.start_trace():
        publisher.publish(TracedString())
    assert spin_until(executor, lambda: 'child' in seen)
    gate.set_result(None)
    assert spin_until(executor, lambda: len(seen['child']) == 2)
    assert seen['parent'] is not None
    assert seen['child'] == [seen['parent'], seen['parent']]


def test_a_callback_that_leaves_a_trace_set_does_not_leak_into_the_next(make_node, executor):
    node = make_node(name='careless')
    seen = []

    def careless():  # sets a trace and never resets it
        attach(new_root())

    node.create_timer(0.01, careless)
    node.create_timer(0.01, lambda: seen.append(mtrace_ros.current_trace()))
    executor.add_node(node)
    assert spin_until(executor, lambda: len(seen) >= 5)
    assert all(context is None for context in seen)
    assert mtrace_ros.current_trace() is None


def test_done_callback_of_a_service_call_runs_in_the_trace_of_the_caller(make_node, executor):
    node = make_node(name='caller')
    node.create_service(Empty, 'empty', lambda request, response: response)
    client = node.create_client(Empty, 'empty')
    executor.add_node(node)
    assert spin_until(executor, client.service_is_ready)
    seen = []
    with mtrace_ros.start_trace() as root:
        future = client.call_async(Empty.Request())
        future.add_done_callback(lambda done: seen.append(mtrace_ros.current_trace()))
    assert spin_until(executor, lambda: seen)  # the response completes it, in no trace
    assert seen == [root]


@pytest.mark.parametrize('with_executor', [True, False], ids=['scheduled', 'called'])
def test_done_callback_runs_in_the_context_it_was_added_in(any_executor, with_executor):
    future = Future(executor=any_executor if with_executor else None)
    seen = []
    with mtrace_ros.start_trace() as adder:
        future.add_done_callback(lambda done: seen.append(mtrace_ros.current_trace()))
    with mtrace_ros.start_trace() as completer:
        future.set_result(None)
    assert spin_until(any_executor, lambda: seen)
    assert seen == [adder] and adder != completer


def test_done_callback_added_to_a_done_future_runs_in_the_adder_context(executor):
    future = Future(executor=executor)
    future.set_result(None)
    seen = []
    with mtrace_ros.start_trace() as adder:
        future.add_done_callback(lambda done: seen.append(mtrace_ros.current_trace()))
    assert spin_until(executor, lambda: seen)
    assert seen == [adder]


def test_a_traced_node_coroutine_timer_is_left_to_its_task(make_node):
    node = make_node(mtrace_ros.TracedNode, 'as_is')

    async def tick():
        pass
    callback = node.create_timer(1.0, tick).callback
    # Only wrapped to name the node its spans belong to (issue 15): no context of its own.
    assert inspect.iscoroutinefunction(callback) and callback.__wrapped__ is tick


def test_uninstrument_restores_rclpy_and_instrument_brings_it_back(executor, tasks_off):
    assert Task.__init__.__module__ == 'rclpy.task'
    released, inside = Future(), []
    executor.create_task(_wait_in_trace(released, inside))
    assert spin_until(executor, lambda: inside)
    try:  # plain rclpy: the waiting trace stays set in the spinning thread
        assert mtrace_ros.current_trace() == inside[0]
    finally:
        released.set_result(True)
        assert spin_until(executor, lambda: len(inside) == 3)
    assert tasks.instrument_tasks() and tasks.instrument_tasks()  # idempotent
    released, inside = Future(), []
    executor.create_task(_wait_in_trace(released, inside))
    assert spin_until(executor, lambda: inside)
    assert mtrace_ros.current_trace() is None
    released.set_result(True)
    assert spin_until(executor, lambda: len(inside) == 3)


def test_a_traced_node_gets_per_call_contexts_when_tasks_are_off(make_node, executor, tasks_off):
    node = make_node(mtrace_ros.TracedNode, 'fallback')
    group = ReentrantCallbackGroup()
    released, inside, ticks = Future(), [], []
    wait = _wait_in_trace(released, inside)

    async def tick():
        if not inside:
            await wait()

    node.create_timer(0.01, tick, callback_group=group)
    node.create_timer(0.01, lambda: ticks.append(mtrace_ros.current_trace()),
                      callback_group=group)
    executor.add_node(node)
    assert spin_until(executor, lambda: inside and len(ticks) >= 3)
    assert mtrace_ros.current_trace() is None
    assert all(context is None for context in ticks)
    released.set_result(True)
    assert spin_until(executor, lambda: len(inside) == 3)


def test_unexpected_rclpy_task_is_left_alone_with_a_warning(
        tasks_off, monkeypatch, capfd, make_node):
    monkeypatch.setattr(tasks, '_TASK_PARAMETERS', ('self', 'handler', 'context'))
    assert not tasks.instrument_tasks()
    assert Task.__init__.__module__ == 'rclpy.task'
    warning = capfd.readouterr().err
    assert 'rclpy tasks left as they are: Task.__init__ takes' in warning
    assert 'mtrace_ros.wrap()' in warning

    async def tick():
        pass
    node = make_node(mtrace_ros.TracedNode, 'fallback_check')
    assert node.create_timer(1.0, tick).callback is not tick  # the per-call fallback


def _probe(domain_id, **environment):
    """Run test/nodes/task_context_probe.py with ``environment``; return its report."""
    env = {key: value for key, value in os.environ.items()
           if key not in ('MTRACE_TASKS', 'MTRACE_ENABLED')}
    env.update(environment)
    done = subprocess.run(node_script('task_context_probe.py'), env=env, capture_output=True,
                          text=True, timeout=6 * DEADLINE_SEC)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize('environment, instrumented', [({}, True), ({'MTRACE_TASKS': '0'}, False)])
def test_mtrace_tasks_off_keeps_todays_behaviour(domain_id, environment, instrumented):
    assert _probe(domain_id, **environment) == {
        'instrumented': instrumented,
        'task_init': tasks.__name__ if instrumented else 'rclpy.task',
        'leaked': not instrumented,  # today: a waiting task's trace stays in the thread
        'traced_node_timer_leaked': False,  # TracedNode's fallback keeps it in, as today
        'done_callback_kept_trace': instrumented,
    }


def test_a_process_with_tracing_off_leaves_rclpy_tasks_alone(domain_id):
    report = _probe(domain_id, MTRACE_ENABLED='off')
    assert (report['instrumented'], report['task_init']) == (False, 'rclpy.task')


# What rclpy's own test_task.py and test_executor.py check, with the instrumentation on.

def test_task_results_exceptions_and_arguments(executor):
    async def add(a, b=0):
        await gate
        return a + b

    def fail():
        raise ValueError('boom')

    gate = Future()
    coroutine_task = executor.create_task(add, 1, b=2)
    function_task = executor.create_task(lambda a, b: a * b, 3, 4)
    assert spin_until(executor, function_task.done)
    gate.set_result(None)
    assert spin_until(executor, coroutine_task.done)
    assert (coroutine_task.result(), function_task.result()) == (3, 12)
    failing_task = Task(fail)  # an executor would raise it from spin_once
    failing_task()
    assert isinstance(failing_task.exception(), ValueError)


def test_cancel_before_the_first_step_leaves_no_unawaited_coroutine():
    started = []

    async def never():
        started.append(True)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        task = Task(never)
        task.cancel()
        task()
        del task
        gc.collect()
    assert not started
    assert not [w for w in caught if 'never awaited' in str(w.message)]


def test_cancel_while_waiting_runs_the_coroutine_cleanup_in_its_context():
    var = contextvars.ContextVar('var', default='outside')
    cleanup = []

    async def waits():
        var.set('task')
        try:
            await Future()
        finally:
            cleanup.append(var.get())

    task = Task(waits)
    task()
    task.cancel()
    assert task.cancelled()
    assert cleanup == ['task'] and var.get() == 'outside'


def test_a_task_called_while_its_step_runs_returns_at_once_as_rclpy_does():
    """A second thread (as a multi-threaded executor re-submits), or the step itself."""
    entered, release, seen = threading.Event(), threading.Event(), []
    var = contextvars.ContextVar('var', default='outside')

    def step():
        var.set('task')
        entered.set()
        assert release.wait(DEADLINE_SEC)
        task()  # the step calling its own task: ignored
        return var.get()

    task = Task(step)
    first = threading.Thread(target=task)
    first.start()
    try:
        assert entered.wait(DEADLINE_SEC)
        task()  # while the first thread runs the step: returns at once, no error
        seen.append(task.done())
    finally:
        release.set()
        first.join(DEADLINE_SEC)
    assert seen == [False]
    assert task.result() == 'task' and var.get() == 'outside'


def test_a_call_refused_while_a_step_ends_is_run_by_the_thread_that_ends_it():
    """
    The context goes back to the task just after rclpy's step has ended.

    A call in that instant (the task looks idle: a multi-threaded executor
    may hand it to another thread) is refused, as a call in rclpy's own
    instant between a step's end and its lock's release is; then the thread
    that ends the step runs it, so no wake-up is lost. The instant is made
    here by holding the task's context as a step that is ending does.
    """
    advanced = []

    class Suspend:
        def __await__(self):
            yield

    async def steps():
        for index in range(3):
            advanced.append(index)
            await Suspend()

    task = Task(steps)
    task()
    assert advanced == [0]
    step = task._mtrace_step
    context = step.pop()  # as the thread ending a step holds it
    task()  # refused: nothing runs now
    assert advanced == [0]
    step.append(context)
    task()  # this step, then the refused one
    assert advanced == [0, 1, 2]


def test_removed_done_callback_is_not_called(executor):
    future = Future(executor=executor)
    called = []

    def callback(done):
        called.append(done)

    future.add_done_callback(callback)
    assert future.remove_done_callback(callback)
    assert not future.remove_done_callback(callback)
    future.set_result(None)
    executor.spin_once(timeout_sec=0.1)
    assert not called


def test_dependent_tasks_run_in_order_and_see_their_own_values(executor):
    var = contextvars.ContextVar('var', default=None)
    order = []

    async def inner():
        var.set('inner')
        order.append(('inner', var.get()))
        return 'inner result'

    async def outer():
        var.set('outer')
        result = await executor.create_task(inner)
        order.append(('outer', var.get(), result))

    task = executor.create_task(outer)
    assert spin_until(executor, task.done)
    assert order == [('inner', 'inner'), ('outer', 'outer', 'inner result')]
    assert var.get() is None
