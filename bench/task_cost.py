"""
Group 7: what giving every rclpy task a context of its own costs, per task and per step.

Executors run every callback as a ``Task`` of a coroutine (a timer tick, a
message, a service request: one task each), so this is paid once per
callback, on top of the callback wrapper. Measured in one process, with the
instrumentation switched off (plain rclpy's ``Task``) and on
(:func:`mtrace_ros.instrument_tasks`), interleaved:

* a coroutine task created and run to its end in one step: what an
  executor does for a callback that does not await;
* one more step of a coroutine task (each ``await`` that suspends costs one);
* a task through the session's ``SingleThreadedExecutor``:
  ``executor.create_task(function)`` and the ``spin_once`` that runs it;
* a done-callback added to a future and run when the future completes (the
  executor schedules it as a task).
"""

import time
from typing import Any
from typing import Callable
from typing import Generator
from typing import List

from harness import compare
from harness import median_row
from harness import Row
from rclpy.task import Future
from rclpy.task import Task
from ros_setup import rclpy_tasks
from ros_setup import Session

GROUP = '7 tasks'


class _Suspend:
    """Suspends a coroutine once, as an ``await`` on a pending future does."""

    def __await__(self) -> Generator[None, None, None]:
        yield


async def _returns() -> int:
    return 1


def _nothing() -> None:
    return None


class Timed:
    """One repetition: ``count`` runs of ``body``, with tasks instrumented or not; ns each."""

    def __init__(self, body: Callable[[int], Any], count: int, instrumented: bool) -> None:
        self._body = body
        self._count = count
        self._instrumented = instrumented

    def __call__(self) -> float:
        """Return ns per run."""
        with rclpy_tasks(instrumented=self._instrumented):
            start = time.perf_counter_ns()
            self._body(self._count)
            return (time.perf_counter_ns() - start) / self._count


def _one_step_tasks(count: int) -> None:
    for _ in range(count):
        Task(_returns)()


def _steps(count: int) -> None:
    async def suspending() -> None:
        suspend = _Suspend()
        for _ in range(count):
            await suspend

    task = Task(suspending)
    for _ in range(count + 1):
        task()
    assert task.done()


def _executor_tasks(session: Session) -> Callable[[int], None]:
    executor = session.executor

    def run(count: int) -> None:
        for _ in range(count):
            task = executor.create_task(_nothing)
            executor.spin_once(timeout_sec=1.0)
            assert task.done()
    return run


def _done_callbacks(session: Session) -> Callable[[int], None]:
    executor = session.executor
    seen = []

    def run(count: int) -> None:
        seen.clear()
        for _ in range(count):
            future = Future(executor=executor)
            future.add_done_callback(seen.append)
            future.set_result(None)
            executor.spin_once(timeout_sec=1.0)
        assert len(seen) == count
    return run


def _compare(body: Callable[[int], Any], count: int, repeat: int, case: str, unit: str) -> Row:
    values = compare(Timed(body, count, False), Timed(body, count, True), repeat=repeat)
    return median_row(GROUP, case, unit, values, scale=1e-3, note='plain rclpy vs on')


def run(session: Session, *, quick: bool, repeat: int) -> List[Row]:
    """Measure task creation, steps, and tasks and done-callbacks through an executor."""
    count = 500 if quick else 2000
    executor_count = 100 if quick else 300
    return [
        _compare(_one_step_tasks, count, repeat, 'coroutine task, created and run', 'us/task'),
        _compare(_steps, count, repeat, 'coroutine task, one more step', 'us/step'),
        _compare(_executor_tasks(session), executor_count, repeat,
                 'create_task + spin_once (SingleThreadedExecutor)', 'us/task'),
        _compare(_done_callbacks(session), executor_count, repeat,
                 'done-callback run by the executor', 'us/callback'),
    ]
