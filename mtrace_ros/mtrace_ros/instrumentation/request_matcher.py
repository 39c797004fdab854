"""
Out-of-band services, server side: which traced call a request belongs to.

A request whose type has no ``TracedHeader`` arrives with only rmw's header:
its ``sequence_number`` (per client: every client counts 1, 2, 3, ...) and
its ``source_timestamp`` (the client's clock when it sent it). The caller's
context comes in a ``TraceRecord`` on the service's hidden record topic
(:func:`mtrace_ros.wire.companion.request_record_topic`), published by a
traced client just before the request, keyed by a random id of that client
and the request's sequence number, stamped with the send time.

A record is a candidate for a request when its sequence number is the
request's and its stamp lies within :data:`MATCH_WINDOW_NS` before the
request's source timestamp (both are the client's clock: no clock skew
between machines enters). The match is exact when exactly one traced client
could have sent the request: one candidate, or candidates from one client
only (a resend). Candidates from several clients (the same sequence number
at about the same time) make the server span a new root linked to all of
them; no candidate at all (a plain client, or a lost record) makes it a new
root. Both are counted and reported once per service (:mod:`notices`).

Records come from other processes and are bounded: they wait in a
:class:`~mtrace_ros.instrumentation.record_inbox.RecordInbox` (the companion
route's store: at most ``MAX_RECORDS`` per service, the oldest dropped first
and reported, each for at most ``MAX_AGE_NS`` after it arrived, whatever its
stamp), and a matched record is consumed.
"""

import threading
import time
from typing import Callable
from typing import NamedTuple
from typing import Optional
from typing import Sequence
from typing import Tuple

from mtrace_ros.core.context import TraceContext
from mtrace_ros.instrumentation import notices
from mtrace_ros.instrumentation.record_inbox import RecordInbox
from mtrace_ros.instrumentation.record_inbox import STORE_FULL
from mtrace_ros.wire.companion import decode_record
from mtrace_ros.wire.companion import Decoded
from mtrace_ros.wire.companion import RecordKey
from rclpy.impl.rcutils_logger import RcutilsLogger

#: How long before the request's source timestamp its record may be stamped (the client
#: stamps the record, then sends): a bound on the client's own delay, not on the network.
MATCH_WINDOW_NS = 100_000_000
#: A record stamped this much after the request still counts (clock reading order).
STAMP_SLACK_NS = 1_000_000
#: How long after a request's source timestamp the server waits for its record, if none
#: is there yet and traced clients exist (a record published just before its request
#: usually arrives first; this covers a slower record and a late-matched record topic).
RECORD_WAIT_NS = 100_000_000

NO_RECORD = 'no trace record for a request (a plain client, or its record was lost)'
AMBIGUOUS = 'ambiguous trace record (several traced clients could have sent a request)'
OVERFLOW = 'too many unmatched trace records (oldest dropped)'
NO_HEADER = 'request header not seen (an executor that takes requests outside rclpy.executors)'
NEW_ROOT = '; starting a new trace for each such request'


class Match(NamedTuple):
    """What a request was matched to: its caller's context, or the contexts it may be."""

    parent: Optional[TraceContext]
    links: Tuple[TraceContext, ...] = ()


class RequestMatcher:
    """
    The records of one service and the rule that matches its requests to them.

    :param take_next: takes the next serialized record (a raw subscription's
        take), or returns ``None`` when none waits; never blocks.
    :param wait: waits up to the given nanoseconds for a record to arrive.
    :param traced_clients: how many traced clients the service has (their record writers).
    """

    def __init__(
        self,
        logger: RcutilsLogger,
        service: str,
        take_next: Callable[[], Optional[bytes]],
        wait: Callable[[int], None],
        traced_clients: Callable[[], int],
    ) -> None:
        """Match requests of ``service`` (its resolved name, for notices) to records."""
        self._logger = logger
        self._service = service
        self._take_next = take_next
        self._wait = wait
        self._traced_clients = traced_clients
        self._lock = threading.Lock()
        #: The records that wait for their requests.
        self.inbox: RecordInbox[RecordKey, Decoded] = RecordInbox(
            self._next_record, _key_of, self._dropped)

    def __len__(self) -> int:
        """Return how many records are kept, once those that arrived are taken."""
        return self.inbox.collect()

    def match(self, sequence_number: int, source_ns: int) -> Match:
        """
        Return the caller of the request with this sequence number and source timestamp.

        Waits for the record (see :data:`RECORD_WAIT_NS`) only while none is
        there, traced clients exist, and the request is that recent.
        """
        deadline = source_ns + RECORD_WAIT_NS
        while True:
            with self._lock:
                found = [
                    (key, record) for key, record in self.inbox.candidates(
                        lambda key: key.sequence_number == sequence_number)
                    if -STAMP_SLACK_NS <= source_ns - record.stamp_ns <= MATCH_WINDOW_NS]
                if found:
                    return self._decide(found)
            remaining = deadline - time.time_ns()
            if remaining <= 0 or self._traced_clients() == 0:
                break
            self._wait(remaining)
        notices.report(self._logger, self._service, NO_RECORD + NEW_ROOT)
        return Match(None)

    def no_header(self) -> Match:
        """Return the caller of a request whose header mtrace did not see: nobody."""
        notices.report(self._logger, self._service, NO_HEADER + NEW_ROOT)
        return Match(None)

    def _next_record(self) -> Optional[Decoded]:
        data = self._take_next()
        if data is None:
            return None
        record = decode_record(data)
        if record.problem is not None:
            notices.report(
                self._logger, self._service, record.problem.kind, record.problem.detail)
        return record

    def _dropped(self, count: int, why: str) -> None:
        # Expired records go unsaid: a record waits for one request only, which came or not.
        if why == STORE_FULL:
            notices.report(
                self._logger, self._service, OVERFLOW, f'at most {self.inbox.max_records}')

    def _decide(self, found: Sequence[Tuple[RecordKey, Decoded]]) -> Match:
        clients = {key.publisher_gid for key, _ in found}
        if len(clients) == 1:
            ((key, record),) = found  # one client, one sequence number: one key
            self.inbox.take(key)  # consumed
            return Match(record.context)
        notices.report(
            self._logger, self._service, AMBIGUOUS + '; starting a new trace linked to them',
            f'{len(clients)} clients sent sequence number {found[0][0].sequence_number}')
        return Match(None, tuple(record.context for _, record in found))


def _key_of(record: Decoded) -> Optional[RecordKey]:
    """Return a record's key; a record with no usable trace is dropped (it was reported)."""
    return record.key if record.context is not None else None
