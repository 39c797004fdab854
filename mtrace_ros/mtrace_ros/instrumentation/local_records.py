"""
Trace records handed to readers in this process, without the middleware.

A companion publisher whose matched record readers are all traced
subscriptions of its own process puts each record straight into their
inboxes instead of publishing it: no serialization, no take, nothing on the
wire, as rclcpp's intra-process communication skips the middleware for
messages. The record is the one the middleware would have delivered (same
key, same content, see :func:`in_process_record`), and it is in the inboxes
before the data message is published.

The route is checked, not assumed. Records stay in the process only while
the record publisher is matched with as many readers as the graph lists on
the companion topic, and each of them is a live reader registered here
(:func:`register`) by its gid; the check runs again whenever the matched
count or the registry changes, and at least every :data:`RECHECK_NS`.
Otherwise (a reader in another process, or one this process cannot vouch
for) each record goes on the wire as usual. A volatile record that no reader
is matched with is not written at all (the middleware would drop it).
Transient-local records always go on the wire: a late joiner gets them from
the middleware's history.
"""

import functools
import threading
import time
from typing import Any
from typing import Callable
from typing import Dict
from typing import Optional
from typing import Tuple
import weakref

from mtrace_ros.core.context import TraceContext
from mtrace_ros.instrumentation.endpoint_gids import gid_of
from mtrace_ros.wire.companion import Decoded
from mtrace_ros.wire.companion import RecordKey
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos import DurabilityPolicy
from rclpy.qos import QoSProfile
from rclpy.subscription import Subscription

_new = tuple.__new__

#: How long a route decision is kept when nothing it depends on changed.
RECHECK_NS = 1_000_000_000

#: Something that keeps records for their messages (a ``RecordInbox``).
Put = Callable[[Decoded], None]

_lock = threading.Lock()
# (context, companion topic) -> reader gid -> (its record subscription, its inbox's put)
_readers: Dict[Tuple[Any, str], Dict[bytes, Tuple[Subscription, Put]]] = {}
# Bumped on every change of _readers: routes check again.
_version = 0


def register(
    node: Node, topic: str, gid: bytes, subscription: Subscription, put: Put,
) -> None:
    """
    Make ``subscription`` (a companion topic's reader) take records from this process.

    It is forgotten once destroyed (or its context shut down).

    :param topic: the resolved companion topic.
    :param gid: the reader's gid (16 bytes), as the graph lists it.
    :param put: keeps a record for its message.
    """
    global _version
    context = node.context
    key = (context, topic)
    with _lock:
        _forget_destroyed()
        first = not any(known is context for known, _ in _readers)
        _readers.setdefault(key, {})[gid] = (subscription, put)
        _version += 1
    if first:  # not under _lock: a context calls this back at once if it is shut down
        context.on_shutdown(functools.partial(_forget_context, context))


def _forget_destroyed() -> None:
    """Forget readers whose subscription was destroyed (call it with the lock held)."""
    global _version
    for key in list(_readers):
        readers = _readers[key]
        for gid in [gid for gid, (subscription, _) in readers.items()
                    if not subscription.handle.pointer]:
            del readers[gid]
            _version += 1
        if not readers:
            del _readers[key]


def _forget_context(context: Any) -> None:
    """Forget the readers of a context that shuts down."""
    global _version
    with _lock:
        for key in [key for key in _readers if key[0] is context]:
            del _readers[key]
            _version += 1


def _live_readers(context: Any, topic: str) -> Dict[bytes, Put]:
    """Return the live registered readers of ``topic``; forget destroyed ones."""
    with _lock:
        _forget_destroyed()
        return {gid: put for gid, (_, put) in _readers.get((context, topic), {}).items()}


def in_process_record(context: TraceContext, key: RecordKey, stamp_ns: int) -> Decoded:
    """
    Return the record a reader decodes from what ``encode_record`` makes of these.

    Its context is the publishing span's own: a reader uses only its trace id,
    span id and flags (the flags of a context made here are valid ones).
    """
    # tuple.__new__: half the cost of the NamedTuple's own __new__, once per message.
    return _new(Decoded, (key, context, None, stamp_ns, context.parent_span_id_bytes))


class LocalRoute:
    """Where one companion publisher's records go: to readers in this process, or the wire."""

    def __init__(self, node: Node, records: Publisher, topic: str, qos: QoSProfile) -> None:
        """
        Route the records ``records`` publishes on ``topic`` (resolved) with ``qos``.

        :param node: the publisher's node (it reads the graph).
        """
        self._node = weakref.ref(node)  # the node keeps the publisher that keeps this
        self._context = node.context
        self._handle = records.handle
        self._topic = topic
        self._eligible = qos.durability == DurabilityPolicy.VOLATILE
        self._matched = -1
        self._version = -1
        self._checked_ns = 0
        self._puts: Optional[Tuple[Put, ...]] = None

    def readers(self) -> Optional[Tuple[Put, ...]]:
        """
        Return the in-process readers to put the next record into, or ``None`` for the wire.

        No reader at all (an empty tuple): the record goes nowhere.

        Call it with the publisher's publish lock held.
        """
        if not self._eligible:
            return None
        matched, version = self._handle.get_subscription_count(), _version
        now = time.monotonic_ns()
        if (matched != self._matched or version != self._version
                or now - self._checked_ns >= RECHECK_NS):
            self._matched, self._version, self._checked_ns = matched, version, now
            self._puts = self._check(matched)
        return self._puts

    def _check(self, matched: int) -> Optional[Tuple[Put, ...]]:
        local = _live_readers(self._context, self._topic)
        if not matched:
            return ()
        node = self._node()
        if len(local) < matched or node is None:
            return None
        try:
            listed = [gid_of(endpoint)
                      for endpoint in node.get_subscriptions_info_by_topic(self._topic)]
        except Exception:  # a node being destroyed: the wire always works
            return None
        if len(listed) != matched or any(gid not in local for gid in listed):
            return None
        return tuple(local[gid] for gid in listed)
