"""
Report how rclpy tasks treat trace context in this process, as one JSON line.

``MTRACE_TASKS`` is read when mtrace_ros is imported, so a test sets it for a
fresh process running this script. Keys:

* ``instrumented``: whether mtrace instrumented rclpy's tasks;
* ``task_init``: the module of ``Task.__init__`` (``rclpy.task`` when left alone);
* ``leaked``: whether a trace started in a task stayed set in the executor's
  thread while the task waited;
* ``traced_node_timer_leaked``: the same for a ``TracedNode``'s coroutine timer;
* ``done_callback_kept_trace``: whether a done-callback added inside a trace
  ran in it (the future is completed outside any trace).
"""

import json

import mtrace_ros
from mtrace_ros.instrumentation import tasks
import rclpy
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import SingleThreadedExecutor
from rclpy.task import Future
from rclpy.task import Task

DEADLINE_ROUNDS = 200


def spin_until(executor: SingleThreadedExecutor, predicate) -> None:
    for _ in range(DEADLINE_ROUNDS):
        if predicate():
            return
        executor.spin_once(timeout_sec=0.05)
    raise TimeoutError('the probe did not get there in time')


def leaks_while_waiting(executor: SingleThreadedExecutor, start) -> bool:
    """Start a waiting trace with ``start(released, started)``; return whether it leaked."""
    released = Future()
    started = []
    start(released, started)
    spin_until(executor, lambda: started)
    executor.spin_once(timeout_sec=0.05)
    leaked = mtrace_ros.current_trace() is not None
    released.set_result(None)
    spin_until(executor, lambda: len(started) == 2)
    return leaked


def main() -> None:
    rclpy.init()
    node = mtrace_ros.TracedNode('task_context_probe')
    executor = SingleThreadedExecutor()
    executor.add_node(node)

    async def wait_in_trace(released, started):
        with mtrace_ros.start_trace():
            started.append(True)
            await released
        started.append(True)

    def from_task(released, started):
        executor.create_task(wait_in_trace, released, started)

    def from_timer(released, started):
        async def tick_once():
            timer.cancel()
            await wait_in_trace(released, started)
        timer = node.create_timer(0.01, tick_once, callback_group=ReentrantCallbackGroup())

    seen = []
    future = Future(executor=executor)
    with mtrace_ros.start_trace():
        future.add_done_callback(lambda done: seen.append(mtrace_ros.current_trace()))
    future.set_result(None)
    spin_until(executor, lambda: seen)
    print(json.dumps({
        'instrumented': tasks.instrumented(),
        'task_init': Task.__init__.__module__,
        'leaked': leaks_while_waiting(executor, from_task),
        'traced_node_timer_leaked': leaks_while_waiting(executor, from_timer),
        'done_callback_kept_trace': seen[0] is not None,
    }), flush=True)
    executor.shutdown()
    node.destroy_node()
    rclpy.try_shutdown()


if __name__ == '__main__':
    main()
