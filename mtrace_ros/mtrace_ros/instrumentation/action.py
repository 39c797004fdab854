"""
Traced actions, in band: the goal's ``TracedHeader`` carries the caller's goal span.

Drop-in :class:`ActionClient` and :class:`ActionServer`, taking exactly
rclpy's arguments. Action types whose ``Goal`` has a ``TracedHeader`` field
are traced; others behave exactly as rclpy's. One span per phase:

* client: ``goal`` (send to accepted/rejected), ``result`` (result request
  to result), ``cancel``; the caller's trace is kept per goal UUID, which the
  client knows before sending, so the result and cancel spans of a goal
  continue the trace its goal was sent in, wherever they are asked for;
* server: ``goal`` (the goal callback), ``execute`` (the execute callback,
  sync or ``async def``), ``cancel`` (the cancel callback), each a child of
  the client's goal span read from that goal's own request: matched exactly.

The feedback callback and the done callbacks of the returned futures run in
the caller's trace; the result's header (if the type has one) gets the
execute span.
"""

from typing import Any
from typing import Callable
from typing import Dict
from typing import Optional

from mtrace_ros.core.context import current_trace
from mtrace_ros.core.context import TraceContext
from mtrace_ros.core.settings import tracing_enabled
from mtrace_ros.export import spans
from mtrace_ros.instrumentation.callbacks import wrap
from mtrace_ros.instrumentation.spanned import spanned
from mtrace_ros.wire import traced_header
from mtrace_ros.wire.message_types import header_field
from rclpy.action import ActionClient as RclpyActionClient
from rclpy.action import ActionServer as RclpyActionServer
from rclpy.task import Future


def _name(node: Any, action_name: str) -> str:
    try:
        return node.resolve_topic_name(action_name)
    except Exception:  # an invalid name: rclpy says so
        return action_name


def _end_when_done(future: Future, context: TraceContext) -> None:
    def end(done: Future) -> None:
        error = None if done.cancelled() else done.exception()
        spans.end_span(context, error)
    future.add_done_callback(end)


class ActionClient(RclpyActionClient):
    """``rclpy.action.ActionClient`` whose goals, results and cancels carry the trace."""

    def __init__(self, node: Any, action_type: Any, action_name: str, **kwargs: Any) -> None:
        """Create the client as rclpy does."""
        super().__init__(node, action_type, action_name, **kwargs)
        self._mtrace_field = header_field(action_type.Goal) if tracing_enabled() else None
        self._mtrace_node = node.get_logger().name
        self._mtrace_name = _name(node, action_name)
        #: The caller's trace per goal UUID, until the goal's result arrives.
        self._mtrace_goals: Dict[bytes, Optional[TraceContext]] = {}

    def send_goal_async(
        self, goal: Any, feedback_callback: Optional[Callable[[Any], None]] = None,
        goal_uuid: Any = None,
    ) -> Future:
        """Send ``goal`` as rclpy does, in a goal span; feedback runs in the caller's trace."""
        if self._mtrace_field is None:
            return super().send_goal_async(goal, feedback_callback, goal_uuid)
        if goal_uuid is None:
            goal_uuid = self._generate_random_uuid()
        caller = current_trace()
        context = spans.open_span(
            spans.KIND_GOAL, caller, node=self._mtrace_node, topic=self._mtrace_name)
        traced_header.inject(getattr(goal, self._mtrace_field), context)
        if feedback_callback is not None:
            feedback_callback = wrap(feedback_callback)
        try:
            future = super().send_goal_async(goal, feedback_callback, goal_uuid)
        except BaseException as ex:
            spans.end_span(context, ex)
            raise
        self._mtrace_goals[bytes(goal_uuid.uuid)] = context
        _end_when_done(future, context)
        return future

    def _phase(self, kind: str, goal_handle: Any, future: Future, forget: bool) -> Future:
        key = bytes(goal_handle.goal_id.uuid)
        goal = self._mtrace_goals.get(key)
        if goal is None and self._mtrace_field is None:
            return future
        context = spans.open_span(
            kind, goal or current_trace(), node=self._mtrace_node, topic=self._mtrace_name)
        _end_when_done(future, context)
        if forget:
            future.add_done_callback(lambda done: self._mtrace_goals.pop(key, None))
        return future

    def _get_result_async(self, goal_handle: Any) -> Future:
        return self._phase(
            spans.KIND_RESULT, goal_handle, super()._get_result_async(goal_handle), True)

    def _cancel_goal_async(self, goal_handle: Any) -> Future:
        return self._phase(
            spans.KIND_CANCEL, goal_handle, super()._cancel_goal_async(goal_handle), False)


class ActionServer(RclpyActionServer):
    """``rclpy.action.ActionServer`` whose callbacks run in the trace of the goal's sender."""

    def __init__(
        self, node: Any, action_type: Any, action_name: str, execute_callback: Any,
        **kwargs: Any,
    ) -> None:
        """Create the server as rclpy does."""
        self._mtrace_field = header_field(action_type.Goal) if tracing_enabled() else None
        self._mtrace_result_field = header_field(action_type.Result)
        self._mtrace_node = node.get_logger().name
        self._mtrace_name = _name(node, action_name)
        super().__init__(node, action_type, action_name, execute_callback, **kwargs)

    def register_goal_callback(self, goal_callback: Any) -> None:
        """Register as rclpy does; the callback runs in a goal span of the sender's trace."""
        super().register_goal_callback(self._traced(spans.KIND_GOAL, goal_callback, _goal))

    def register_cancel_callback(self, cancel_callback: Any) -> None:
        """Register as rclpy does; the callback runs in a cancel span of the goal's trace."""
        super().register_cancel_callback(
            self._traced(spans.KIND_CANCEL, cancel_callback, _handle_goal))

    def register_execute_callback(self, execute_callback: Any) -> None:
        """Register as rclpy does; the callback runs in an execute span of the goal's trace."""
        super().register_execute_callback(
            self._traced(spans.KIND_EXECUTE, execute_callback, _handle_goal))

    def _traced(self, kind: str, callback: Any, goal_of: Callable[[Any], Any]) -> Any:
        if self._mtrace_field is None or callback is None:
            return callback
        field = self._mtrace_field
        result_field = self._mtrace_result_field if kind == spans.KIND_EXECUTE else None

        def enter(argument: Any) -> TraceContext:
            try:
                parent = traced_header.extract(getattr(goal_of(argument), field))
            except Exception:  # an unreadable header: a new trace, the goal goes on
                parent = None
            return spans.open_span(kind, parent, node=self._mtrace_node, topic=self._mtrace_name)

        def leave(context: TraceContext, result: Any) -> None:
            header = None if result_field is None else getattr(result, result_field, None)
            if header is not None:
                traced_header.inject(header, context)

        return spanned(callback, enter, leave)


def _goal(goal_request: Any) -> Any:
    return goal_request


def _handle_goal(goal_handle: Any) -> Any:
    return goal_handle.request


__all__ = ['ActionClient', 'ActionServer']
