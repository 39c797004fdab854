"""
What every traced publisher does alike: the context of a publish, and its class.

The three routes (:mod:`.publisher`'s in-band header and envelope,
:mod:`.companion_publisher`'s companion record) differ in where the context
goes; which context a publish runs in (:func:`publish_in_trace`), and how a
traced class combines with the user's ``publisher_class``, are the same.
"""

import functools
from typing import Any
from typing import Callable
from typing import Type

from mtrace_ros.core.context import current_trace
from mtrace_ros.core.context import TraceContext
from mtrace_ros.export import spans
from rclpy.publisher import Publisher


def publish_in_trace(
    publisher: Any, send: Callable[[TraceContext, Any], None], msg: Any,
) -> None:
    """
    Run ``send(context, msg)`` in the publish's context; end the root it opened, if any.

    ``send`` writes the context where its route carries it and publishes
    ``msg``. The context is the active one, or, outside any trace, the root of
    a new trace of its own. The publish is noted on the span being recorded; a
    span started without a node name (``start_trace()``) takes the
    publisher's. The publisher's layout check (``mtrace_layout``) runs first.
    """
    layout = publisher.mtrace_layout
    if layout is not None:
        layout.maybe_check()
    context = current_trace()
    root = None
    if context is None:
        context = spans.open_span(spans.KIND_ROOT, node=publisher.mtrace_node)
        root = context.span
        if root is None:  # a root not recorded: nothing to note, nothing to end
            send(context, msg)
            return
    span = context.span
    if span is not None and span.end_ns is None:  # a worker may publish after it ended
        span.add_publish(publisher.mtrace_topic, publisher.get_subscription_count())
        if not span.node:
            span.node = publisher.mtrace_node
    try:
        send(context, msg)
    finally:
        if root is not None:
            spans.end(root)


@functools.lru_cache(maxsize=None)
def publisher_class_for(traced_class: Type[Publisher], user_class: Type[Publisher]) -> Type:
    """Return ``traced_class``, combined with the user's ``publisher_class`` if one was given."""
    if getattr(user_class, 'mtrace_traced', False):
        return user_class  # already traced: never trace twice
    if user_class is Publisher:
        return traced_class
    return type(f'Traced{user_class.__name__}', (traced_class, user_class), {})
