"""
Records that travel beside the messages they describe, taken when a message needs one.

A side channel (the companion topic of a data topic, or the out-of-band
records of a service) delivers records keyed by what the receiver of the
message can see of it (for topics: the publisher's gid and the message's
sequence number). The receiver should not pay an executor round per record,
so the records wait in the middleware's queue, and :meth:`RecordInbox.take`
takes them when a message needs one. Records taken on the way to the one
asked for wait in a store bounded by count and age: a record whose message
never comes (lost, filtered, or forged: records come from any participant)
is dropped, counted, and reported through ``on_dropped``.

The inbox knows nothing about records but their key (:data:`KeyOf`), so the
same class serves topics (exact keys: :meth:`RecordInbox.take`) and services
(keys that only narrow the search: :meth:`RecordInbox.candidates`, then
:meth:`RecordInbox.take` of the one chosen). The side channel's endpoint belongs in
the callback group :data:`ON_DEMAND`, which executors never run (rclpy's
``EventsExecutor`` ignores callback groups: give the endpoint a callback that
:meth:`RecordInbox.put` s what it delivers).
"""

import collections
import threading
import time
from typing import Callable
from typing import Generic
from typing import Hashable
from typing import List
from typing import Optional
from typing import Tuple
from typing import TypeVar

from mtrace_ros.instrumentation.side_channel import NeverExecuted

R = TypeVar('R')
K = TypeVar('K', bound=Hashable)


#: The callback group of side-channel endpoints (companion subscriptions and publishers).
ON_DEMAND = NeverExecuted()

#: Records kept waiting for their message, per inbox, at most.
MAX_RECORDS = 1024
#: How long a record waits for its message: older ones are dropped as later records come
#: (looked for at most every eighth of it, so a record may wait up to 1/8 longer).
MAX_AGE_NS = 10 * 1_000_000_000
#: A record found in the store takes one from the side channel on the first and
#: then every this many such finds (a look costs about as much as the rest of a take).
LOOK_EVERY = 8

#: Takes the next record from the side channel, or returns ``None`` when there is none.
TakeNext = Callable[[], Optional[R]]
#: Returns a record's key, or ``None`` for a record that cannot match any message (dropped).
KeyOf = Callable[[R], Optional[K]]
#: Why records were dropped unmatched: they waited too long, or the store was full.
EXPIRED = 'expired'
STORE_FULL = 'store full'
#: Told how many records were dropped, and why (:data:`EXPIRED` or :data:`STORE_FULL`).
OnDropped = Callable[[int, str], None]


class RecordInbox(Generic[K, R]):
    """
    Keyed records from a side channel, taken on demand; thread-safe.

    :param take_next: takes the next record from the side channel (never blocks).
    :param key_of: a record's key; ``None`` drops the record (``key_of`` says why).
    :param on_dropped: told about records dropped unmatched.
    :param max_records: the store's bound (older records are dropped first;
        default :data:`MAX_RECORDS`, read when the inbox is made).
    :param max_age_ns: how long a record waits in the store (default :data:`MAX_AGE_NS`;
        dropped as later records come, at most an eighth of it late).
    """

    def __init__(
        self,
        take_next: 'TakeNext[R]',
        key_of: 'KeyOf[R, K]',
        on_dropped: OnDropped,
        *,
        max_records: Optional[int] = None,
        max_age_ns: Optional[int] = None,
    ) -> None:
        self._take_next = take_next
        self._key_of = key_of
        self._on_dropped = on_dropped
        self.max_records = MAX_RECORDS if max_records is None else max_records
        self._max_age_ns = MAX_AGE_NS if max_age_ns is None else max_age_ns
        self._lock = threading.Lock()
        self._finds = 0
        # When old records were last dropped: _keep looks again an eighth of their age later.
        self._swept_ns = -self._max_age_ns
        # key -> (arrival ns, record), oldest first
        self._store: 'collections.OrderedDict[K, Tuple[int, R]]' = collections.OrderedDict()

    def __len__(self) -> int:
        """Return how many records wait in the store."""
        return len(self._store)

    def put(self, record: R) -> None:
        """Store a record delivered by a callback, or by a publisher of this process."""
        key = self._key_of(record)
        with self._lock:  # the clock read inside: the store stays in arrival order
            self._keep(record, time.monotonic_ns(), key)

    def take(self, key: K) -> Optional[R]:
        """
        Return the record of ``key`` and forget it, or ``None`` if it has not come.

        Takes records from the side channel until it finds that one or the
        channel is empty, keeping the others for their messages. Records
        found in the store (taken earlier, or put there in process) still
        take one from the side channel, one find in :data:`LOOK_EVERY`:
        records nobody asks for (forged, stray) are read, kept and expire as
        they come, not left unseen.
        """
        with self._lock:
            found = self._store.pop(key, None)
            if found is not None:
                finds = self._finds
                self._finds = finds + 1
                if not finds % LOOK_EVERY:
                    record = self._take_next()
                    if record is not None:
                        self._keep(record, time.monotonic_ns(), self._key_of(record))
                return found[1]
            while True:
                record = self._take_next()
                if record is None:
                    return None
                record_key = self._key_of(record)
                if record_key == key:
                    return record
                self._keep(record, time.monotonic_ns(), record_key)

    def candidates(self, predicate: Callable[[K], bool]) -> List[Tuple[K, R]]:
        """
        Return the stored ``(key, record)`` pairs whose key satisfies ``predicate``.

        Takes every record waiting in the side channel first (see
        :meth:`collect`). The records stay stored: :meth:`take` the one that matches.
        """
        with self._lock:
            self._collect()
            return [(key, record) for key, (_, record) in self._store.items() if predicate(key)]

    def collect(self) -> int:
        """Take every record waiting in the side channel, drop the old; return how many wait."""
        with self._lock:
            self._collect()
            return len(self._store)

    def _collect(self) -> None:
        now = time.monotonic_ns()
        while True:
            record = self._take_next()
            if record is None:
                break
            self._keep(record, now, self._key_of(record))
        self._drop_old(now)  # also when nothing came

    def _keep(self, record: R, now: int, key: Optional[K]) -> None:
        """
        Store ``record`` under ``key`` (not if ``None``), then drop the too many and the too old.

        The too old are looked for once an eighth of their age has passed since the last look.
        """
        if key is None:
            return
        store = self._store
        if key in store:  # a repeated key: the latest record, last in line
            del store[key]
        store[key] = (now, record)
        if len(store) > self.max_records or now - self._swept_ns >= self._max_age_ns >> 3:
            self._drop_old(now)

    def _drop_old(self, now: int) -> None:
        self._swept_ns = now
        store = self._store
        expired = 0
        oldest = now - self._max_age_ns
        while store and next(iter(store.values()))[0] < oldest:
            store.popitem(last=False)
            expired += 1
        overflow = 0
        while len(store) > self.max_records:
            store.popitem(last=False)
            overflow += 1
        if expired:
            self._on_dropped(expired, EXPIRED)
        if overflow:
            self._on_dropped(overflow, STORE_FULL)
