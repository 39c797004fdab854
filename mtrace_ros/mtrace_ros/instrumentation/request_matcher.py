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

Records come from other processes and are bounded: at most
:data:`MAX_RECORDS` are kept per service (the oldest go first), each for at
most :data:`RECORD_TTL_NS` after it arrived (its stamp cannot keep it),
and a matched record is consumed.
"""

import threading
import time
from typing import Callable
from typing import Dict
from typing import List
from typing import NamedTuple
from typing import Optional
from typing import Tuple

from mtrace_msgs.msg import TraceRecord
from mtrace_ros.core.clock import time_to_ns
from mtrace_ros.core.context import TraceContext
from mtrace_ros.instrumentation import notices
from mtrace_ros.wire.companion import read_record
from mtrace_ros.wire.companion import RecordKey
from mtrace_ros.wire.traced_header import Problem
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
MAX_RECORDS = 1024
RECORD_TTL_NS = 10 * 1_000_000_000

NO_RECORD = 'no trace record for a request (a plain client, or its record was lost)'
AMBIGUOUS = 'ambiguous trace record (several traced clients could have sent a request)'
OVERFLOW = 'too many unmatched trace records (oldest dropped)'
NO_HEADER = 'request header not seen (an executor that takes requests outside rclpy.executors)'
NEW_ROOT = '; starting a new trace for each such request'


class Candidate(NamedTuple):
    """A record kept for matching: its caller's context, its stamp and when it arrived."""

    context: TraceContext
    stamp_ns: int
    arrived_ns: int


class Match(NamedTuple):
    """What a request was matched to: its caller's context, or the contexts it may be."""

    parent: Optional[TraceContext]
    links: Tuple[TraceContext, ...] = ()


class RequestMatcher:
    """
    The records of one service and the rule that matches its requests to them.

    :param take: returns the records that arrived since the last call (never blocks).
    :param wait: waits up to the given nanoseconds for a record to arrive.
    :param traced_clients: how many traced clients the service has (their record writers).
    """

    def __init__(
        self,
        logger: RcutilsLogger,
        service: str,
        take: Callable[[], List[TraceRecord]],
        wait: Callable[[int], None],
        traced_clients: Callable[[], int],
        *,
        ttl_ns: int = RECORD_TTL_NS,
        max_records: Optional[int] = None,
    ) -> None:
        """Match requests of ``service`` (its resolved name, for notices) to records."""
        self._logger = logger
        self._service = service
        self._take = take
        self._wait = wait
        self._traced_clients = traced_clients
        self._ttl_ns = ttl_ns
        self._max_records = MAX_RECORDS if max_records is None else max_records
        self._lock = threading.Lock()
        # In arrival order (a record arriving again moves to the end): the oldest first.
        self._records: Dict[RecordKey, Candidate] = {}

    def __len__(self) -> int:
        """Return how many records are kept, once those that arrived are taken."""
        with self._lock:
            self._collect()
            return len(self._records)

    def match(self, sequence_number: int, source_ns: int) -> Match:
        """
        Return the caller of the request with this sequence number and source timestamp.

        Waits for the record (see :data:`RECORD_WAIT_NS`) only while none is
        there, traced clients exist, and the request is that recent.
        """
        deadline = source_ns + RECORD_WAIT_NS
        while True:
            with self._lock:
                self._collect()
                found = self._candidates(sequence_number, source_ns)
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

    def _collect(self) -> None:
        now = time.monotonic_ns()
        for record in self._take():
            self._keep(record, now)
        while self._records:
            oldest = next(iter(self._records))
            if now - self._records[oldest].arrived_ns <= self._ttl_ns:
                break
            del self._records[oldest]

    def _keep(self, record: TraceRecord, now: int) -> None:
        try:
            key, context, problem = read_record(record)
            stamp = time_to_ns(record.stamp)
        except Exception as ex:  # garbled beyond the codec's checks: never stop the server
            key, context = None, None
            problem = Problem('unreadable trace record', f'{type(ex).__name__}: {ex}')
        if problem is not None:
            notices.report(self._logger, self._service, problem.kind, problem.detail)
        if key is None or context is None:
            return
        self._records.pop(key, None)
        if len(self._records) >= self._max_records:
            del self._records[next(iter(self._records))]
            notices.report(self._logger, self._service, OVERFLOW, f'at most {self._max_records}')
        self._records[key] = Candidate(context, stamp, now)

    def _candidates(self, sequence_number: int, source_ns: int) -> List[RecordKey]:
        return [
            key for key, kept in self._records.items()
            if key.sequence_number == sequence_number
            and -STAMP_SLACK_NS <= source_ns - kept.stamp_ns <= MATCH_WINDOW_NS]

    def _decide(self, found: List[RecordKey]) -> Match:
        clients = {key.publisher_gid for key in found}
        if len(clients) == 1:
            (key,) = found  # one client, one sequence number: one key
            return Match(self._records.pop(key).context)
        notices.report(
            self._logger, self._service, AMBIGUOUS + '; starting a new trace linked to them',
            f'{len(clients)} clients sent sequence number {found[0].sequence_number}')
        return Match(None, tuple(self._records[key].context for key in found))
