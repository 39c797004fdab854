"""
Subscriptions that no executor runs: their messages are taken when something needs one.

Trace records travel beside the data they describe, on hidden topics. A
callback per record would cost an executor round per record and let records
and data race through the executor; instead the record subscription belongs
to a callback group that never lets an executor wait on it or run it, and
:func:`taker` takes its messages one by one from the middleware's queue
(e.g. for a :class:`mtrace_ros.instrumentation.record_inbox.RecordInbox`);
:func:`waiter` waits for the next one without an executor.
"""

import time
from typing import Any
from typing import Callable
from typing import Optional
from typing import Type

from mtrace_ros.instrumentation import notices
from rclpy.callback_groups import CallbackGroup
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.impl.rcutils_logger import RcutilsLogger
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos import QoSProfile
from rclpy.subscription import Subscription


class NeverExecuted(CallbackGroup):
    """A callback group whose entities executors leave alone (out of every wait set)."""

    def can_execute(self, entity: Any) -> bool:
        """Refuse: the entity's data is taken on demand, not by an executor."""
        return False

    def beginning_execution(self, entity: Any) -> bool:
        """Refuse, as :meth:`can_execute` does."""
        return False

    def ending_execution(self, entity: Any) -> None:
        """Nothing began, nothing ends."""


def _never_called(msg: Any) -> None:
    """Stand in for the callback of a subscription no executor runs."""


def create_side_subscription(
    node: Node, msg_type: Type, topic: str, qos: QoSProfile, *, raw: bool = False,
) -> Subscription:
    """Return a subscription of ``node`` whose messages only :func:`taker` takes (raw: bytes)."""
    # rclpy's own method: a TracedNode's would trace the subscription.
    return Node.create_subscription(
        node, msg_type, topic, _never_called, qos, callback_group=NeverExecuted(), raw=raw)


#: What a record reader says when a take fails (see :func:`reporting_take_errors`).
CANNOT_TAKE = 'cannot take trace records'


def reporting_take_errors(logger: RcutilsLogger, name: str) -> Callable[[Exception], None]:
    """Return an ``on_error`` for :func:`taker` that reports a failed take on ``name``."""
    def report(error: Exception) -> None:
        notices.report(logger, name, CANNOT_TAKE, f'{type(error).__name__}: {error}')
    return report


def taker(subscription: Subscription, on_error: Callable[[Exception], None]) -> Callable[[], Any]:
    """
    Return a function taking ``subscription``'s next message, or ``None`` when none waits.

    A message that cannot be taken (destroyed subscription, undecodable data)
    is reported to ``on_error`` and ends the take: ``None``. A raw
    subscription's messages are taken as their serialized bytes.
    """
    def take_next() -> Optional[Any]:
        try:
            with subscription.handle:
                taken = subscription.handle.take_message(subscription.msg_type, subscription.raw)
        except Exception as ex:  # InvalidHandle, RCLError: the take failed, the caller goes on
            on_error(ex)
            return None
        return None if taken is None else taken[0]
    return take_next


def waiter(node: Node, subscription: Subscription) -> Callable[[int], None]:
    """Return a function that waits until ``subscription`` has a message, at most the given ns."""
    def wait(timeout_ns: int) -> None:
        wait_set = _rclpy.WaitSet(1, 0, 0, 0, 0, 0, node.context.handle)
        with subscription.handle:
            wait_set.add_subscription(subscription.handle)
            wait_set.wait(timeout_ns)
    return wait


#: The longest a record writer waits, once its peer's service is there, for the record
#: topic to match the peer's reader (the first record may need it).
RECORD_MATCH_WAIT_SEC = 1.0


def wait_for_readers(
    node: Node, publisher: Publisher, timeout_sec: Optional[float], start: float,
) -> None:
    """
    Wait until ``publisher`` matches every reader the graph knows, or the time is up.

    The time is what is left of ``timeout_sec`` (``None``: no limit) since
    ``start`` (``time.monotonic()``), at most :data:`RECORD_MATCH_WAIT_SEC`. A
    peer's endpoints are discovered one by one: a record writer that sends
    right after its peer's service appeared may not match the peer's record
    reader yet, and a volatile record sent then is lost.
    """
    left = RECORD_MATCH_WAIT_SEC
    if timeout_sec is not None:
        left = min(left, max(0.0, timeout_sec - (time.monotonic() - start)))
    deadline = time.monotonic() + left
    while (publisher.get_subscription_count() < node.count_subscribers(publisher.topic_name)
           and time.monotonic() < deadline):
        time.sleep(0.01)
