"""RecordInbox: records taken on demand, kept for their messages, bounded in count and age."""

import collections

from mtrace_ros.instrumentation import record_inbox
from mtrace_ros.instrumentation.record_inbox import RecordInbox


class Channel:
    """A side channel of records ``(key, payload)``; a key of ``None`` is unmatchable."""

    def __init__(self, *records):
        self.queue = collections.deque(records)
        self.taken = 0

    def take_next(self):
        if not self.queue:
            return None
        self.taken += 1
        return self.queue.popleft()


def _inbox(channel, dropped, **kwargs):
    return RecordInbox(
        channel.take_next, lambda record: record[0],
        lambda count, why: dropped.append((count, why)), **kwargs)


def test_take_reads_the_channel_only_up_to_the_record_asked_for():
    channel = Channel(('a', 1), ('b', 2), ('c', 3), ('d', 4))
    inbox = _inbox(channel, [])
    assert inbox.take('b') == ('b', 2)
    assert channel.taken == 2 and len(inbox) == 1  # 'a' waits, 'c' is still in the channel
    # A record found in the store still reads one from the channel (the first find,
    # then one in LOOK_EVERY): none is left unseen.
    assert inbox.take('a') == ('a', 1) and channel.taken == 3 and len(inbox) == 1
    assert inbox.take('d') == ('d', 4)
    assert inbox.take('c') == ('c', 3)
    assert inbox.take('e') is None and len(inbox) == 0


def test_records_put_in_process_still_read_the_channel_one_find_in_look_every():
    every = record_inbox.LOOK_EVERY
    channel = Channel(('stray', 1), ('stray', 2), ('stray', 3))
    inbox = _inbox(channel, [])
    for index in range(2 * every + 1):
        inbox.put((index, 'in process'))
    taken = []
    for index in range(2 * every + 1):
        assert inbox.take(index) == (index, 'in process')
        taken.append(channel.taken)
    assert taken == [1] * every + [2] * every + [3]
    assert len(inbox) == 1  # the last stray record waits for its message


def test_unmatchable_records_are_not_kept():
    inbox = _inbox(Channel((None, 'bad'), ('a', 1)), [])
    assert inbox.take('a') == ('a', 1) and len(inbox) == 0


def test_the_store_is_bounded_oldest_first_and_says_so():
    dropped = []
    channel = Channel(*[(index, index) for index in range(10)])
    inbox = _inbox(channel, dropped, max_records=4)
    assert inbox.take('never') is None
    assert len(inbox) == 4 and dropped == [(1, 'store full')] * 6
    assert inbox.take(9) == (9, 9) and inbox.take(0) is None


def test_records_expire_by_age(monkeypatch):
    now = [0]
    monkeypatch.setattr(record_inbox.time, 'monotonic_ns', lambda: now[0])
    dropped = []
    inbox = _inbox(Channel(), dropped, max_age_ns=100)
    inbox.put(('old', 1))
    now[0] = 50
    inbox.put(('middle', 2))
    now[0] = 120
    inbox.put(('new', 3))
    assert dropped == [(1, 'expired')] and len(inbox) == 2
    assert inbox.take('old') is None and inbox.take('middle') == ('middle', 2)


def test_old_records_are_looked_for_every_eighth_of_their_age(monkeypatch):
    """A record expires at most max_age / 8 late: the store is not scanned on every keep."""
    now = [0]
    monkeypatch.setattr(record_inbox.time, 'monotonic_ns', lambda: now[0])
    dropped = []
    inbox = _inbox(Channel(), dropped, max_age_ns=800)
    inbox.put(('old', 1))  # looked at 0
    now[0] = 799
    inbox.put(('a', 2))  # looked at 799: 'old' is not too old yet
    now[0] = 850
    inbox.put(('b', 3))  # 51 after the last look: not looked for
    assert dropped == [] and len(inbox) == 3
    now[0] = 900
    inbox.put(('c', 4))  # 101 after it: 'old' (900 > 800) goes
    assert dropped == [(1, 'expired')] and len(inbox) == 3


def test_a_repeated_key_keeps_the_latest_record():
    inbox = _inbox(Channel(), [])
    inbox.put(('a', 1))
    inbox.put(('a', 2))
    assert len(inbox) == 1 and inbox.take('a') == ('a', 2)


def test_candidates_drain_the_channel_and_leave_records_stored():
    channel = Channel((('g1', 5), 'x'), (('g2', 5), 'y'), (('g1', 6), 'z'))
    inbox = _inbox(channel, [])
    found = inbox.candidates(lambda key: key[1] == 5)
    assert found == [(('g1', 5), (('g1', 5), 'x')), (('g2', 5), (('g2', 5), 'y'))]
    assert len(inbox) == 3 and channel.taken == 3
    assert inbox.take(('g2', 5)) == (('g2', 5), 'y')


def test_collect_drains_the_channel_and_expires_without_new_records(monkeypatch):
    now = [0]
    monkeypatch.setattr(record_inbox.time, 'monotonic_ns', lambda: now[0])
    dropped = []
    channel = Channel(('a', 1), ('b', 2))
    inbox = _inbox(channel, dropped, max_age_ns=100)
    assert inbox.collect() == 2 and channel.taken == 2
    now[0] = 150
    assert inbox.collect() == 0 and dropped == [(2, record_inbox.EXPIRED)]
    assert inbox.candidates(lambda key: True) == []


def test_the_default_bound_is_read_when_an_inbox_is_made(monkeypatch):
    monkeypatch.setattr(record_inbox, 'MAX_RECORDS', 2)
    dropped = []
    inbox = _inbox(Channel(('a', 1), ('b', 2), ('c', 3)), dropped)
    assert inbox.collect() == 2 and inbox.max_records == 2
    assert dropped == [(1, record_inbox.STORE_FULL)]
