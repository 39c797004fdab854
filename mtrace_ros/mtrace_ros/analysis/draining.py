"""
What a recorder that was told to stop still owes: the messages it had already received.

When ``mtrace record`` or ``mtrace collect`` gets SIGINT or SIGTERM, its
executor stops taking messages. The middleware may hold more in the
subscriptions' queues by then: they arrived before the stop, from
publishers that count them as delivered (a reliable publisher's
``wait_for_all_acked`` returns once they are there). :func:`drain` hands
those to the subscriptions' callbacks without spinning, so nothing runs
but them (no timer finds a new topic): input stops, and what came in
before is written.
"""

import time
from typing import Iterable

from rclpy.subscription import Subscription


def drain(subscriptions: Iterable[Subscription]) -> int:
    """
    Call each subscription's callback with every message it received before now; return how many.

    A subscription's queue is taken until it is empty, or up to and with the
    first message that arrived after the call began (by the middleware's
    receive time): a publisher that goes on publishing cannot keep it going.
    The callbacks take the message only (not a ``MessageInfo``); a
    subscription that cannot be taken from any more (destroyed, its context
    shut down) is passed over.
    """
    until_ns = time.time_ns()
    handed = 0
    for subscription in subscriptions:
        while True:
            try:
                with subscription.handle:
                    taken = subscription.handle.take_message(
                        subscription.msg_type, subscription.raw)
            except Exception:  # destroyed, or its context ended: nothing more to take
                break
            if taken is None:
                break
            message, info = taken
            subscription.callback(message)
            handed += 1
            received_ns = info.get('received_timestamp') if isinstance(info, dict) else None
            if not isinstance(received_ns, int) or received_ns > until_ns:
                break
    return handed
