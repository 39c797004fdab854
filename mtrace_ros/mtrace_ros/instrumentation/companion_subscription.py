"""
The receiving end of the companion route: each message meets its trace record.

A traced subscription on a topic of the companion route has a second
subscription, to the companion topic, in a callback group that executors
never run (:data:`~mtrace_ros.instrumentation.record_inbox.ON_DEMAND`): its
records wait in the middleware's queue until a data message needs one, and
the data callback takes them itself
(:class:`~mtrace_ros.instrumentation.record_inbox.RecordInbox`): no executor
round per record, and a record that comes after its message is still found
if it is already in the queue. The callback never waits for a record.
Records from a publisher of the same process may skip the middleware: they
are put straight into the inbox (:mod:`.local_records`).

How a message finds its record, by what rmw's ``MessageInfo`` gives:

* ``publisher_gid`` and ``publication_sequence_number`` (rclpy 8 and later,
  e.g. Kilted; measured with ``rmw_fastrtps_cpp``): exactly, by both.
* the sequence number only (Jazzy, rclpy 7): exactly where the graph lists one
  publisher on the topic (its gid completes the key); with several, a
  message cannot be told apart from another publisher's message of the same
  number: it starts a new trace linked to every record of that number,
  counted and reported once per topic (then at most once a minute). The
  graph is read again every second, and at once (at most every 0.1 s) when
  a record comes from a publisher it did not list; an untraced publisher that joins a topic with
  one traced publisher may have its messages of the next second matched to
  the traced publisher's records of the same numbers.
* no sequence number (an rmw without them, reported as 0 or the maximum
  uint64): every message starts a new trace, reported.

A message with no record (an untraced publisher, a lost or expired record)
starts a new trace, counted and reported naming the publisher's gid.

Records come from any participant on the domain, unauthenticated: a record
that names a real message's gid and number with another trace id is taken as
that message's trace (spoofing cannot be told apart from a real record);
records that match nothing expire, bounded in count and age, and are counted.
"""

import operator
import time
from typing import Any
from typing import Callable
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple
from typing import Union
import weakref

from mtrace_msgs.msg import TraceRecord
from mtrace_ros.core.context import TraceContext
from mtrace_ros.export import spans
from mtrace_ros.instrumentation import local_records
from mtrace_ros.instrumentation import notices
from mtrace_ros.instrumentation.callbacks import entered_callback
from mtrace_ros.instrumentation.callbacks import latency_ns
from mtrace_ros.instrumentation.endpoint_gids import created_with_gids
from mtrace_ros.instrumentation.endpoint_gids import gid_of
from mtrace_ros.instrumentation.record_inbox import ON_DEMAND
from mtrace_ros.instrumentation.record_inbox import RecordInbox
from mtrace_ros.instrumentation.side_channel import reporting_take_errors
from mtrace_ros.instrumentation.side_channel import taker
from mtrace_ros.wire.companion import companion_qos
from mtrace_ros.wire.companion import companion_topic
from mtrace_ros.wire.companion import decode_record
from mtrace_ros.wire.companion import Decoded
from mtrace_ros.wire.companion import GID_SIZE
from mtrace_ros.wire.companion import RecordKey
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rclpy.subscription import Subscription

#: How long the graph's publisher list of a topic is used (rclpy without publisher_gid).
GRAPH_REFRESH_NS = 1_000_000_000
#: How soon it is read again after a record from a publisher it did not list (floods: bounded).
GRAPH_RECHECK_NS = 100_000_000
_UINT64_MAX = (1 << 64) - 1

NO_RECORD = 'no trace record for a message; starting a new trace for each such message'
NO_SEQUENCE = ('the middleware gives no publication sequence numbers: messages cannot be '
               'matched to their trace records; starting a new trace for each')
AMBIGUOUS = ("a message cannot be told from another publisher's (this rclpy gives no "
             'publisher_gid): starting a new trace linked to each candidate record')
DROPPED = 'trace records that matched no message were dropped'
UNMATCHED = 'cannot look for the trace record of a message; starting a new trace'
#: Set on a wrapped callback: the companion subscription to destroy with its data subscription.
RECORDS_ATTRIBUTE = '_mtrace_records'
#: Set on a wrapped callback: its record inbox.
INBOX_ATTRIBUTE = '_mtrace_inbox'


class _Matcher:
    """Finds the record of each message of one subscription."""

    def __init__(
        self, node: Node, topic: str, qos: QoSProfile, node_name: str,
    ) -> None:
        self._node = node
        self._topic = topic
        self._node_name = node_name
        self._logger = node.get_logger()
        # The topic's publishers by the graph, when read, and whether a record said it is old.
        self._publishers: Tuple[bytes, ...] = ()
        self._publishers_at = -GRAPH_REFRESH_NS
        self._stale = False
        self.inbox: RecordInbox[RecordKey, Decoded] = RecordInbox(
            self._take_next, _key_of, self._dropped)
        records_topic = companion_topic(topic)
        # Raw: records are decoded from their bytes (see wire.companion.decode_record).
        self.subscription, gids = created_with_gids(
            node, records_topic, lambda: Node.create_subscription(
                node, TraceRecord, records_topic, self._delivered, companion_qos(qos),
                callback_group=ON_DEMAND, raw=True,
                event_callbacks=SubscriptionEventCallbacks(use_default_callbacks=False)),
            publishers=False)
        self._take = taker(self.subscription, reporting_take_errors(self._logger, topic))
        if len(gids) == 1:  # else records come only through the middleware, as they can
            local_records.register(
                node, records_topic, next(iter(gids)), self.subscription, self.inbox.put)

    def _take_next(self) -> Optional[Decoded]:
        data = self._take()
        return None if data is None else self._parse(data)

    def _delivered(self, data: bytes) -> None:
        """Keep a record an executor delivered (one that ignores callback groups)."""
        self.inbox.put(self._parse(data))

    def _parse(self, data: bytes) -> Decoded:
        record = decode_record(data)
        key = record.key
        if key is None:
            if record.problem is not None:
                notices.report(
                    self._logger, self._topic, record.problem.kind, record.problem.detail)
        elif self._publishers and key.publisher_gid not in self._publishers:
            self._stale = True  # a publisher the graph had not shown: read it again
        return record

    def _dropped(self, count: int, why: str) -> None:
        notices.report(self._logger, self._topic, DROPPED, f'{count} {why}')

    def enter(
        self, received: Any, info: Tuple[Any, ...],
    ) -> Tuple[TraceContext, Any, Optional[spans.Span]]:
        """Open the message's receive span: a child of its record's, or a new trace."""
        try:
            record, candidates = self._match(info[0] if info else None)
        except Exception as ex:  # the message is handed over whatever went wrong here
            notices.report(self._logger, self._topic, UNMATCHED, f'{type(ex).__name__}: {ex}')
            record, candidates = None, ()
        parent = None if record is None else record.context
        if record is not None and record.problem is not None:
            kind = record.problem.kind
            if parent is None:
                kind += '; starting a new trace for each such message'
            notices.report(self._logger, self._topic, kind, record.problem.detail)
        latency = None
        if parent is not None and spans.recording():
            latency = latency_ns(record.stamp_ns, time.time_ns())
        context = spans.open_span(
            spans.KIND_RECEIVE, parent, node=self._node_name, topic=self._topic,
            latency_ns=latency)
        span = context.span
        if span is not None:
            for candidate in candidates:
                span.add_link(candidate)
        return context, received, span

    def _match(self, info: Any) -> Tuple[Optional[Decoded], Sequence[TraceContext]]:
        """Return the message's record (or ``None``), and the candidates of an ambiguous one."""
        info = info if isinstance(info, dict) else {}
        sequence = info.get('publication_sequence_number')
        if not isinstance(sequence, int) or not 0 < sequence < _UINT64_MAX:
            notices.report(self._logger, self._topic, NO_SEQUENCE, f'got {sequence!r}')
            return None, ()
        gid_info = info.get('publisher_gid')
        if gid_info is not None:
            gid = bytes(gid_info['data'])[:GID_SIZE]
            record = self.inbox.take((gid, sequence))  # equal to its RecordKey, made faster
        else:
            publishers = self._topic_publishers()
            if len(publishers) != 1:
                return self._ambiguous(sequence)
            gid = publishers[0]
            record = self.inbox.take(RecordKey(gid, sequence))
            if self._stale and len(self._topic_publishers()) != 1:
                if record is not None:  # a publisher joined: this match is not sure
                    self.inbox.put(record)
                return self._ambiguous(sequence)
        if record is None:
            notices.report(self._logger, self._topic, NO_RECORD, f'publisher gid {gid.hex()}')
        return record, ()

    def _ambiguous(self, sequence: int) -> Tuple[None, List[TraceContext]]:
        found = self.inbox.candidates(lambda key: key.sequence_number == sequence)
        contexts = [record.context for _, record in found if record.context is not None]
        if contexts:
            notices.report(self._logger, self._topic, AMBIGUOUS, f'{len(contexts)} candidates')
        else:
            notices.report(self._logger, self._topic, NO_RECORD, f'sequence number {sequence}')
        return None, contexts

    def _topic_publishers(self) -> Tuple[bytes, ...]:
        """
        Return the gids of the topic's publishers, from the graph.

        Read again every second, and as soon as a record comes from a
        publisher it did not list (a traced publisher that just joined).
        """
        now = time.monotonic_ns()
        age = now - self._publishers_at
        if age >= GRAPH_REFRESH_NS or (self._stale and age >= GRAPH_RECHECK_NS):
            self._publishers_at = now
            self._stale = False
            try:
                endpoints = self._node.get_publishers_info_by_topic(self._topic)
            except Exception:  # a node being destroyed: keep what was known
                return self._publishers
            self._publishers = tuple(gid_of(endpoint) for endpoint in endpoints)
        return self._publishers


#: A record's key (``None`` for one that cannot match: dropped), without a Python frame.
_key_of: Callable[[Decoded], Optional[RecordKey]] = operator.attrgetter('key')


def companion_callback(
    node: Node,
    topic: str,
    callback: Callable[..., Any],
    qos_profile: Union[QoSProfile, int],
) -> Callable[..., Any]:
    """
    Return ``callback`` wrapped to run in each message's trace, found through its record.

    Creates the companion subscription of ``topic`` (resolved) first; the
    wrapper keeps it in :data:`RECORDS_ATTRIBUTE` (destroy it with the data
    subscription). The wrapper takes the ``MessageInfo`` and hands it on only
    to a callback that takes it; raw subscriptions, coroutine callbacks and
    any callback group work as with rclpy.
    """
    qos = qos_profile if isinstance(qos_profile, QoSProfile) else QoSProfile(depth=qos_profile)
    matcher = _Matcher(node, topic, qos, node.get_logger().name)
    wrapped = entered_callback(callback, matcher.enter, needs_info=True)
    setattr(wrapped, RECORDS_ATTRIBUTE, matcher.subscription)
    setattr(wrapped, INBOX_ATTRIBUTE, matcher.inbox)
    return wrapped


def records_of(subscription: Subscription) -> Optional[Subscription]:
    """Return the companion subscription of a traced data subscription, if it has one."""
    return getattr(subscription.callback, RECORDS_ATTRIBUTE, None)


def inbox_of(subscription: Subscription) -> Optional[RecordInbox]:
    """Return the record inbox of a traced data subscription, if it has one."""
    return getattr(subscription.callback, INBOX_ATTRIBUTE, None)


class CompanionSubscription(Subscription):
    """
    A data subscription of the companion route: destroying it destroys its record subscription.

    rclpy's ``create_subscription`` has no class hook: :func:`owning_its_records`
    gives the subscription it made this class (it adds no state but its node).
    """

    _mtrace_node: 'weakref.ref[Node]'

    def destroy(self) -> None:
        """Destroy the subscription as rclpy does, then its record subscription."""
        super().destroy()
        node, records = self._mtrace_node(), records_of(self)
        if node is not None and records is not None:
            node.destroy_subscription(records)  # a no-op once the node destroyed it


def owning_its_records(
    node: Node, callback: Callable[..., Any], create: Callable[[], Subscription],
) -> Subscription:
    """
    Return the subscription ``create()`` makes in ``node``, destroying its records with it.

    ``callback`` is the one ``create`` subscribes with: when it holds a record
    subscription (:func:`companion_callback`) and ``create`` raises (rclpy
    refused the data subscription), that record subscription is destroyed
    at once, so that it does not stay in the node.
    """
    try:
        subscription = create()
    except BaseException:
        records = getattr(callback, RECORDS_ATTRIBUTE, None)
        if records is not None:
            node.destroy_subscription(records)
        raise
    if records_of(subscription) is not None and type(subscription) is Subscription:
        subscription.__class__ = CompanionSubscription
        subscription._mtrace_node = weakref.ref(node)
    return subscription
