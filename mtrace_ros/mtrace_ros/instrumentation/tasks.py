"""
Every rclpy task runs in a context of its own, as an asyncio task does.

rclpy's ``Task`` (Kilted 9.1, Jazzy 7.1) resumes a coroutine with
``coroutine.send(None)`` in whatever thread runs it and does nothing with
:mod:`contextvars`, so a trace started inside a coroutine (``with
start_trace(): await ...``) would stay set in the executor's thread while the
coroutine waits, where other callbacks see it. With :func:`instrument_tasks`
(which ``import mtrace_ros`` calls unless ``MTRACE_TASKS`` is off):

* every ``Task`` takes a copy of the context it is created in and runs each of
  its steps inside that copy. A task created inside a trace continues it, and
  what a task's steps set stays in the task. Executors create the task that
  runs each callback in their own thread, outside any task: no callback can
  set anything there (its steps run in its task's copy), so each callback
  starts from the executor thread's context, with no trace;
* a future's done-callback runs in a copy of the context of the code that
  called ``add_done_callback``, not of the code that completed the future
  (rclpy schedules it as a task at that moment).

It replaces ``Task.__init__``, ``Task.__call__`` and ``Task.cancel`` (rclpy's
own, run inside the task's context) and ``Future.add_done_callback`` on rclpy's own
classes, so every executor that makes ``rclpy.task.Task`` objects is covered
(single- and multi-threaded, ``rclpy.experimental.EventsExecutor``). A
self-test checks first that rclpy's tasks still work the way this relies on;
if they do not, a warning says why and rclpy is left as it is (``TracedNode``
then gives its coroutine timers and services a context of their own, as
:func:`per_call_context` does).
"""

import contextvars
import functools
import inspect
import threading
from typing import Any
from typing import Callable
from typing import Optional
from typing import TypeVar

from mtrace_ros.instrumentation.callbacks import bind_coroutine
import rclpy.logging
from rclpy.task import Future
from rclpy.task import Task

F = TypeVar('F', bound=Callable[..., Any])

#: The parameters of ``Task.__init__`` that the replacement passes on.
_TASK_PARAMETERS = ('self', 'handler', 'args', 'kwargs', 'executor')

_lock = threading.Lock()
# rclpy's own methods. Kept for good: a task created while uninstrument_tasks()
# runs in another thread may still be in the replacement.
_rclpy_task_init = Task.__init__
_rclpy_task_call = Task.__call__
_rclpy_task_cancel = Task.cancel
_rclpy_add_done_callback = Future.add_done_callback


class _DoneCallback:
    """A done-callback and a copy of the context it was added in."""

    __slots__ = ('callback', 'context')

    def __init__(self, callback: Callable[[Future], Any], context: contextvars.Context):
        self.callback = callback
        self.context = context

    def __call__(self, future: Future) -> Any:
        # rclpy calls done-callbacks directly when the future has no executor.
        return self.context.run(self.callback, future)

    # remove_done_callback(callback) finds the entry by equality with the user's callback.
    def __eq__(self, other: object) -> bool:
        if isinstance(other, _DoneCallback):
            other = other.callback
        return self.callback == other

    def __hash__(self) -> int:
        return hash(self.callback)


def _task_init(
    task: Task, handler: Callable[..., Any], args: Any = None, kwargs: Any = None,
    executor: Any = None,
) -> None:
    if handler.__class__ is _DoneCallback:
        context = handler.context
        handler = handler.callback
    else:
        context = contextvars.copy_context()
    _rclpy_task_init(task, handler, args, kwargs, executor)
    # A context is entered by one thread at a time, and rclpy may call a task
    # from two threads at once (a multi-threaded executor re-submits tasks in
    # progress) or again from inside its own step, where rclpy's __call__
    # returns at once. The context is kept in a list: whoever pops it (atomic
    # under the GIL, cheaper than a lock per task) runs the step.
    task._mtrace_step = [context]


def _task_call(task: Task) -> None:
    try:
        step = task._mtrace_step
    except AttributeError:  # created before instrument_tasks()
        _rclpy_task_call(task)
        return
    try:
        context = step.pop()
    except IndexError:  # running in another thread, or its own step calls it
        if not task._executing:
            # Between rclpy's end of a step and the context's return, rclpy would
            # have run this call: the thread that ends the step runs it instead.
            task._mtrace_missed = True
        return
    try:
        context.run(_rclpy_task_call, task)
    finally:
        step.append(context)
    if task.__dict__.pop('_mtrace_missed', False) and not task._executing:
        _task_call(task)


def _task_cancel(task: Task) -> None:
    """Cancel as rclpy does, in the task's context: a coroutine's cleanup runs in it."""
    try:
        step = task._mtrace_step
        context = step.pop()
    except (AttributeError, IndexError):  # not instrumented, or running now
        _rclpy_task_cancel(task)
        return
    try:
        context.run(_rclpy_task_cancel, task)
    finally:
        step.append(context)


def _add_done_callback(future: Future, callback: Callable[[Future], Any]) -> None:
    _rclpy_add_done_callback(future, _DoneCallback(callback, contextvars.copy_context()))


class _ProbeExecutor:
    """What a done-callback needs of an executor: ``create_task``, run at once."""

    def create_task(self, callback: Callable[..., Any], *args: Any) -> Task:
        task = Task(callback, args, executor=self)
        task()
        return task


def _self_test() -> Optional[str]:
    """Return what is wrong with instrumented tasks, or ``None`` if they work as intended."""
    probe: contextvars.ContextVar[str] = contextvars.ContextVar('mtrace_probe', default='')
    gate = Future()

    async def coroutine() -> tuple:
        probe.set('coroutine')
        await gate
        return probe.get(), probe.get() == 'coroutine'

    token = probe.set('creator')
    try:
        task = Task(coroutine)
        function_task = Task(lambda value: (probe.get(), probe.set(value)), ('function',))
    finally:
        probe.reset(token)
    task()
    if probe.get():
        return "a coroutine task step changed the caller's context"
    gate.set_result(None)
    task()
    if not task.done() or task.result() != ('coroutine', True):
        return f'a coroutine task lost its context between steps (got {task.result()!r})'
    function_task()
    if function_task.result()[0] != 'creator' or probe.get():
        return 'a function task did not run in the context it was created in'
    executor = _ProbeExecutor()
    future = Future(executor=executor)
    seen = []
    token = probe.set('adder')
    try:
        future.add_done_callback(lambda done: seen.append(probe.get()))
    finally:
        probe.reset(token)
    future.set_result(None)
    if seen != ['adder']:
        return f'a done-callback did not run in the context it was added in (saw {seen!r})'
    return None


def _unsupported() -> Optional[str]:
    """Return why rclpy's Task cannot be instrumented, from its shape alone, or ``None``."""
    for owner, name in ((Task, '__call__'), (Task, 'cancel'), (Future, 'add_done_callback'),
                        (Future, 'remove_done_callback')):
        if not callable(getattr(owner, name, None)):
            return f'{owner.__name__}.{name} is missing'
    for name, method, expected in (('__init__', _rclpy_task_init, _TASK_PARAMETERS),
                                   ('__call__', _rclpy_task_call, ('self',))):
        try:
            parameters = tuple(inspect.signature(method).parameters)
        except (TypeError, ValueError) as ex:
            return f'Task.{name} has no readable signature ({ex})'
        if parameters != expected:
            return f'Task.{name} takes {parameters}, expected {expected}'
    return None


def _restore() -> None:
    Task.__init__ = _rclpy_task_init
    Task.__call__ = _rclpy_task_call
    Task.cancel = _rclpy_task_cancel
    Future.add_done_callback = _rclpy_add_done_callback


def instrument_tasks() -> bool:
    """
    Give every rclpy task a copy of the context it is created in, as asyncio does.

    Importing :mod:`mtrace_ros` calls this unless ``MTRACE_TASKS`` (or
    ``MTRACE_ENABLED``) is off. Calling it again is harmless. Tasks (and
    done-callbacks) created from then on run each step in their own context.

    :return: whether tasks are instrumented. ``False`` if rclpy's ``Task`` does
        not work the way this relies on: a warning says why, and rclpy is left
        as it is.
    """
    with _lock:
        if instrumented():
            return True
        problem = _unsupported()
        if problem is None:
            Task.__init__ = _task_init
            Task.__call__ = _task_call
            Task.cancel = _task_cancel
            Future.add_done_callback = _add_done_callback
            try:
                problem = _self_test()
            except Exception as ex:  # any failure means: leave rclpy alone
                problem = f'the self-test raised {type(ex).__name__}: {ex}'
            if problem is not None:
                _restore()
    if problem is not None:
        rclpy.logging.get_logger('mtrace').warning(
            f'rclpy tasks left as they are: {problem}. Coroutines started with '
            'executor.create_task() and done-callbacks run in the context of the thread '
            'that runs them; pass them through mtrace_ros.wrap() to keep a trace.')
    return problem is None


def uninstrument_tasks() -> None:
    """
    Give rclpy's ``Task`` and ``Future`` back their own methods.

    Tasks run in the context of the thread that runs them from then on, as in
    plain rclpy, also the next steps of tasks already created.
    """
    with _lock:
        if instrumented():
            _restore()


def instrumented() -> bool:
    """Return whether rclpy's tasks run in contexts of their own now."""
    return Task.__init__ is _task_init


def per_call_context(callback: F) -> F:
    """
    Return ``callback``, or, if tasks are not instrumented, one that runs in its own context.

    The fallback for entities that must not leak a trace when rclpy's tasks
    run in the executor thread's context: a coroutine callback gets a context
    of its own per call, starting with no trace. Plain functions, and every
    callback while tasks are instrumented, are returned unchanged.
    """
    if instrumented() or not inspect.iscoroutinefunction(callback):
        return callback

    @functools.wraps(callback)
    async def run_in_own_context(*args: Any, **kwargs: Any) -> Any:
        return await bind_coroutine(callback(*args, **kwargs), None)
    return run_in_own_context  # type: ignore[return-value]
