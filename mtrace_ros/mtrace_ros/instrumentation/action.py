"""
Traced actions of any type: every phase of a goal is matched to it exactly, by its UUID.

Drop-in :class:`ActionClient` and :class:`ActionServer`, taking exactly
rclpy's arguments. The client picks each goal's UUID before sending it, so
both sides know the goal by it. The client's goal span reaches the server
in band when the action's ``Goal`` has a ``TracedHeader`` field, and
otherwise out of band: in a ``mtrace_msgs/msg/GoalTraceRecord`` keyed by the
goal UUID, published on the hidden topic ``<action>/_action/_mtrace`` just
before the goal request (:mod:`mtrace_ros.wire.goal_record`). The server
takes the record of a goal request when it handles the request (exact match
by UUID, no executor round per record; a record not there yet is awaited
briefly while traced clients exist, the executor running on); a request with
no record (an untraced client, or a record lost or too late) starts a new
trace, counted and reported. Records no request claims wait at most
:data:`~mtrace_ros.instrumentation.record_inbox.MAX_AGE_NS` in a bounded store.

One span per phase (its attribute ``ros.action.role`` says which side):

* client: ``goal`` (send to accepted/rejected), ``result`` (result request
  to result), ``cancel``; the caller's trace is kept per goal UUID, so the
  result and cancel spans of a goal continue the trace it was sent in;
* server: ``goal`` (the goal request: goal callback, acceptance, accepted
  callback), ``execute`` (the execute callback, sync or ``async def``) and
  ``cancel`` (the cancel callback), each a child of the client's goal span.

Feedback published from the execute callback is a ``feedback`` event of the
execute span (and its header, if the type has one, gets that span); the client's feedback
callback, and the done callbacks of the returned futures, run in the
caller's trace. The result's header (if the type has one) gets the execute
span.
"""

import collections
import threading
import time
from typing import Any
from typing import Callable
from typing import Dict
from typing import Optional

from mtrace_msgs.msg import GoalTraceRecord
from mtrace_ros.core.context import current_trace
from mtrace_ros.core.context import TraceContext
from mtrace_ros.core.settings import tracing_enabled
from mtrace_ros.export import spans
from mtrace_ros.export.schema import ACTION_CLIENT
from mtrace_ros.export.schema import ACTION_ROLE_ATTRIBUTE
from mtrace_ros.export.schema import ACTION_SERVER
from mtrace_ros.instrumentation import notices
from mtrace_ros.instrumentation.callbacks import bind_coroutine
from mtrace_ros.instrumentation.callbacks import wrap
from mtrace_ros.instrumentation.record_inbox import RecordInbox
from mtrace_ros.instrumentation.routing import resolved_name
from mtrace_ros.instrumentation.side_channel import create_side_subscription
from mtrace_ros.instrumentation.side_channel import taker
from mtrace_ros.instrumentation.side_channel import wait_for_readers
from mtrace_ros.instrumentation.spanned import spanned
from mtrace_ros.wire import traced_header
from mtrace_ros.wire.goal_record import goal_record_key
from mtrace_ros.wire.goal_record import GOAL_RECORD_QOS
from mtrace_ros.wire.goal_record import goal_record_topic
from mtrace_ros.wire.goal_record import make_goal_record
from mtrace_ros.wire.message_types import header_field
from rclpy.action import ActionClient as RclpyActionClient
from rclpy.action import ActionServer as RclpyActionServer
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.task import Future

#: Goals whose caller's trace a client keeps at most (oldest forgotten first).
MAX_CLIENT_GOALS = 1024
#: How long a goal request waits, at most, for its record to arrive (only while traced
#: clients exist): covers a record slower than its request.
RECORD_WAIT_SEC = 0.1
#: How often the waiting goal request looks again.
RECORD_POLL_SEC = 0.002
#: The event an execute span gets for each feedback it publishes.
FEEDBACK_EVENT = 'feedback'

_NO_RECORD = 'goal without trace record (untraced client, or record lost): new trace'
_BAD_RECORD = 'unusable goal trace record'
_DROPPED = 'goal trace records dropped unmatched'


def _uuid(goal_id: Any) -> bytes:
    """Return a ``unique_identifier_msgs/UUID`` as the 16 bytes rclpy keys goals by."""
    return bytes(goal_id.uuid)


def _end_when_done(future: Future, context: TraceContext) -> None:
    def end(done: Future) -> None:
        error = None if done.cancelled() else done.exception()
        spans.end_span(context, error)
    future.add_done_callback(end)


def _open(
    kind: str, parent: Optional[TraceContext], role: str, node: str, action: str,
) -> TraceContext:
    """Open a phase span of ``action`` on the ``role`` side."""
    context = spans.open_span(kind, parent, node=node, topic=action)
    if context.span is not None:
        context.span.set_attribute(ACTION_ROLE_ATTRIBUTE, role)
    return context


class ActionClient(RclpyActionClient):
    """``rclpy.action.ActionClient`` whose goals, results and cancels carry the trace."""

    def __init__(self, node: Any, action_type: Any, action_name: str, **kwargs: Any) -> None:
        """Create the client as rclpy does (its record publisher first, when it needs one)."""
        self._mtrace_tracing = tracing_enabled()
        self._mtrace_field = header_field(action_type.Goal)
        self._mtrace_node = node.get_logger().name
        self._mtrace_name = resolved_name(node, action_name)
        self._mtrace_records = None
        if self._mtrace_tracing and self._mtrace_field is None:
            # Created before the action's services: a server that sees them sees it.
            self._mtrace_records = Node.create_publisher(
                node, GoalTraceRecord, goal_record_topic(self._mtrace_name), GOAL_RECORD_QOS)
        super().__init__(node, action_type, action_name, **kwargs)
        self._mtrace_lock = threading.Lock()
        #: The client's goal span per goal UUID, until the goal's result arrives.
        self._mtrace_goals: 'collections.OrderedDict[bytes, TraceContext]' = (
            collections.OrderedDict())

    def send_goal_async(
        self, goal: Any, feedback_callback: Optional[Callable[[Any], None]] = None,
        goal_uuid: Any = None,
    ) -> Future:
        """Send ``goal`` as rclpy does, in a goal span; feedback runs in the caller's trace."""
        if not self._mtrace_tracing or not isinstance(goal, self._action_type.Goal):
            return super().send_goal_async(goal, feedback_callback, goal_uuid)
        if goal_uuid is None:
            goal_uuid = self._generate_random_uuid()
        key = _uuid(goal_uuid)
        if feedback_callback is not None:
            feedback_callback = wrap(feedback_callback)
        context = self._mtrace_open(spans.KIND_GOAL, current_trace())
        try:
            if self._mtrace_records is None:
                traced_header.inject(getattr(goal, self._mtrace_field), context)
            else:
                self._mtrace_records.publish(make_goal_record(context, key))
            future = super().send_goal_async(goal, feedback_callback, goal_uuid)
        except BaseException as ex:
            spans.end_span(context, ex)
            raise
        self._mtrace_remember(key, context)
        _end_when_done(future, context)
        future.add_done_callback(lambda done: self._mtrace_if_rejected(done, key, context))
        return future

    def wait_for_server(self, timeout_sec: Optional[float] = None) -> bool:
        """
        Wait for the server as rclpy does.

        Out of band, then also wait (within ``timeout_sec``, at most
        :data:`~mtrace_ros.instrumentation.side_channel.RECORD_MATCH_WAIT_SEC`) until
        the record topic matches the traced servers the graph knows, so that
        the first goal's record reaches them.
        """
        start = time.monotonic()
        ready = super().wait_for_server(timeout_sec)
        if ready and self._mtrace_records is not None:
            wait_for_readers(self._node, self._mtrace_records, timeout_sec, start)
        return ready

    def _mtrace_open(self, kind: str, parent: Optional[TraceContext]) -> TraceContext:
        return _open(kind, parent, ACTION_CLIENT, self._mtrace_node, self._mtrace_name)

    def _mtrace_remember(self, key: bytes, context: TraceContext) -> None:
        with self._mtrace_lock:
            goals = self._mtrace_goals
            goals.setdefault(key, context)  # a reused UUID keeps the first goal's trace
            while len(goals) > MAX_CLIENT_GOALS:
                goals.popitem(last=False)

    def _mtrace_forget(self, key: bytes, context: Optional[TraceContext] = None) -> None:
        with self._mtrace_lock:
            if context is None or self._mtrace_goals.get(key) is context:
                self._mtrace_goals.pop(key, None)

    def _mtrace_if_rejected(self, done: Future, key: bytes, context: TraceContext) -> None:
        handle = None if done.cancelled() or done.exception() else done.result()
        if handle is None or not handle.accepted:
            self._mtrace_forget(key, context)

    def _phase(self, kind: str, goal_handle: Any, future: Future, forget: bool) -> Future:
        if not self._mtrace_tracing:
            return future
        key = _uuid(goal_handle.goal_id)
        with self._mtrace_lock:
            goal = self._mtrace_goals.get(key)
        _end_when_done(future, self._mtrace_open(kind, goal or current_trace()))
        if forget:
            future.add_done_callback(lambda done: self._mtrace_forget(key))
        return future

    def _get_result_async(self, goal_handle: Any) -> Future:
        return self._phase(
            spans.KIND_RESULT, goal_handle, super()._get_result_async(goal_handle), True)

    def _cancel_goal_async(self, goal_handle: Any) -> Future:
        return self._phase(
            spans.KIND_CANCEL, goal_handle, super()._cancel_goal_async(goal_handle), False)

    def destroy(self) -> None:
        """Destroy the client as rclpy does, and its record publisher."""
        records, self._mtrace_records = self._mtrace_records, None
        super().destroy()
        if records is not None:
            self._node.destroy_publisher(records)


class ActionServer(RclpyActionServer):
    """``rclpy.action.ActionServer`` whose callbacks run in the trace of the goal's sender."""

    def __init__(
        self, node: Any, action_type: Any, action_name: str, execute_callback: Any,
        **kwargs: Any,
    ) -> None:
        """Create the server as rclpy does (its record subscription first, when it needs one)."""
        self._mtrace_tracing = tracing_enabled()
        self._mtrace_field = header_field(action_type.Goal)
        self._mtrace_result_field = header_field(action_type.Result)
        self._mtrace_feedback_field = header_field(action_type.Feedback)
        self._mtrace_node = node.get_logger().name
        self._mtrace_logger = node.get_logger()
        self._mtrace_name = resolved_name(node, action_name)
        self._mtrace_lock = threading.Lock()
        #: The client's goal span per goal UUID (or this server's goal span, which began a
        #: new trace), while rclpy keeps the goal.
        self._mtrace_senders: Dict[bytes, TraceContext] = {}
        self._mtrace_records = None
        self._mtrace_inbox: Optional[RecordInbox] = None
        if self._mtrace_tracing and self._mtrace_field is None:
            # Created before the action's services: a client that sees them sees it.
            topic = goal_record_topic(self._mtrace_name)
            self._mtrace_records = create_side_subscription(
                node, GoalTraceRecord, topic, GOAL_RECORD_QOS)
            self._mtrace_group = ReentrantCallbackGroup()  # the pause timers': never blocked
            self._mtrace_inbox = RecordInbox(
                taker(self._mtrace_records, self._mtrace_take_failed), self._mtrace_key,
                self._mtrace_dropped)
        super().__init__(node, action_type, action_name, execute_callback, **kwargs)

    async def execute(self, taken_data: Dict[str, Any]) -> None:
        """Handle what was taken as rclpy does; a goal request in a goal span of its sender."""
        goal = taken_data.get('goal') if self._mtrace_tracing else None
        rest = taken_data
        if goal is not None:
            rest = {key: value for key, value in taken_data.items() if key != 'goal'}
            await self._mtrace_goal_request(goal)
        if rest:
            await super().execute(rest)
        for goal_info in rest.get('expired', ()):
            self._mtrace_forget(_uuid(goal_info.goal_id))

    async def _mtrace_goal_request(self, goal: Any) -> None:
        request = goal[1]
        key = _uuid(request.goal_id)
        sender = await self._mtrace_sender(key, request.goal)
        context = self._mtrace_open(spans.KIND_GOAL, sender)
        with self._mtrace_lock:  # a new trace goes on from the goal span; a duplicate's is lost
            self._mtrace_senders.setdefault(key, context if sender is None else sender)
        error = None
        try:
            await bind_coroutine(super().execute({'goal': goal}), context)
        except BaseException as ex:
            error = ex
            raise
        finally:
            spans.end_span(context, error)
            if key not in self._goal_handles:  # rejected: rclpy forgot it
                self._mtrace_forget(key)

    async def _mtrace_sender(self, key: bytes, goal: Any) -> Optional[TraceContext]:
        """Return the client's goal span of a goal request, or ``None`` (said why)."""
        if self._mtrace_inbox is None:
            header = getattr(goal, self._mtrace_field)
        else:
            record = await self._mtrace_record(key)
            if record is None:
                notices.report(self._mtrace_logger, self._mtrace_name, _NO_RECORD, key.hex())
                return None
            header = record.header
        sender, problem = traced_header.read(header)
        if problem is not None:
            notices.report(self._mtrace_logger, self._mtrace_name, problem.kind, problem.detail)
        return sender

    async def _mtrace_record(self, key: bytes) -> Optional[GoalTraceRecord]:
        """
        Return the record of goal ``key``, or ``None`` if it does not come in time.

        A record published just before its goal request usually arrives first;
        while it has not, and traced clients exist, the goal request waits for
        it up to :data:`RECORD_WAIT_SEC` without blocking the executor (it
        yields to it between looks).
        """
        record = self._mtrace_inbox.take(key)
        deadline = time.monotonic() + RECORD_WAIT_SEC
        while (record is None and self._mtrace_records.get_publisher_count() > 0
               and time.monotonic() < deadline):
            await self._mtrace_pause()
            record = self._mtrace_inbox.take(key)
        return record

    async def _mtrace_pause(self) -> None:
        """Yield to the executor for :data:`RECORD_POLL_SEC` (a one-shot timer)."""
        paused = Future()
        timer = self._node.create_timer(
            RECORD_POLL_SEC, lambda: paused.done() or paused.set_result(None),
            callback_group=self._mtrace_group)
        try:
            await paused
        finally:
            self._node.destroy_timer(timer)

    def _mtrace_open(self, kind: str, parent: Optional[TraceContext]) -> TraceContext:
        return _open(kind, parent, ACTION_SERVER, self._mtrace_node, self._mtrace_name)

    def _mtrace_of(self, goal_handle: Any) -> Optional[TraceContext]:
        with self._mtrace_lock:
            return self._mtrace_senders.get(_uuid(goal_handle.goal_id))

    def _mtrace_forget(self, key: bytes) -> None:
        with self._mtrace_lock:
            self._mtrace_senders.pop(key, None)

    def _mtrace_key(self, record: GoalTraceRecord) -> Optional[bytes]:
        key = goal_record_key(record)
        if key is None:
            notices.report(self._mtrace_logger, self._mtrace_name, _BAD_RECORD, 'all-zero goal id')
        return key

    def _mtrace_take_failed(self, error: Exception) -> None:
        notices.report(self._mtrace_logger, self._mtrace_name, _BAD_RECORD, repr(error))

    def _mtrace_dropped(self, count: int, why: str) -> None:
        notices.report(self._mtrace_logger, self._mtrace_name, _DROPPED, f'{count} {why}')

    def mtrace_goals(self) -> int:
        """Return how many goals the server holds their sender's trace for."""
        with self._mtrace_lock:
            return len(self._mtrace_senders)

    def register_cancel_callback(self, cancel_callback: Any) -> None:
        """Register as rclpy does; the callback runs in a cancel span of the goal's trace."""
        if self._mtrace_tracing and cancel_callback is not None:
            cancel_callback = spanned(
                cancel_callback,
                lambda goal_handle: self._mtrace_open(
                    spans.KIND_CANCEL, self._mtrace_of(goal_handle)),
                lambda context, response: None)
        super().register_cancel_callback(cancel_callback)

    def notify_execute(self, goal_handle: Any, execute_callback: Optional[Callable]) -> None:
        """Schedule the execute callback as rclpy does, in an execute span of the goal's trace."""
        if execute_callback is None:
            execute_callback = self._execute_callback
        if not self._mtrace_tracing or execute_callback is None:
            super().notify_execute(goal_handle, execute_callback)
            return
        result_field = self._mtrace_result_field

        def enter(handle: Any) -> TraceContext:
            context = self._mtrace_open(spans.KIND_EXECUTE, self._mtrace_of(handle))
            self._mtrace_trace_feedback(handle, context)
            return context

        def leave(context: TraceContext, result: Any) -> None:
            header = None if result_field is None else getattr(result, result_field, None)
            if header is not None:
                traced_header.inject(header, context)

        super().notify_execute(goal_handle, spanned(execute_callback, enter, leave))

    def _mtrace_trace_feedback(self, goal_handle: Any, context: TraceContext) -> None:
        """
        Make the goal handle's ``publish_feedback`` carry ``context`` and note each feedback.

        A ``feedback`` event on the execute span, not a publish: no span
        receives feedback (the client's callback runs in the caller's span).
        """
        publish = goal_handle.publish_feedback
        field = self._mtrace_feedback_field

        def publish_feedback(feedback: Any) -> None:
            if field is not None and isinstance(feedback, self._action_type.Feedback):
                traced_header.inject(getattr(feedback, field), context)
            publish(feedback)
            if context.span is not None:
                context.span.add_event(FEEDBACK_EVENT)

        goal_handle.publish_feedback = publish_feedback

    def destroy(self) -> None:
        """Destroy the server as rclpy does, and its record subscription."""
        records, self._mtrace_records = self._mtrace_records, None
        super().destroy()
        with self._mtrace_lock:
            self._mtrace_senders.clear()
        if records is not None:
            self._node.destroy_subscription(records)


__all__ = ['ActionClient', 'ActionServer']
