"""Ids cut from pooled random blocks: unique across threads, block refills and forks."""

import itertools
import os
import threading

from mtrace_ros.core import ids
from mtrace_ros.core.context import new_root


def test_ids_stay_unique_across_threads_and_block_refills():
    per_thread = ids.IDS_PER_BLOCK * 3 + 7  # every thread crosses several refills
    taken = [[] for _ in range(4)]

    def take(out):
        for _ in range(per_thread):
            out.append(ids.new_span_id())

    threads = [threading.Thread(target=take, args=(out,)) for out in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [span_id for out in taken for span_id in out]
    assert len(every) == 4 * per_thread
    assert len(set(every)) == len(every)
    assert all(len(span_id) == ids.SPAN_ID_SIZE and any(span_id) for span_id in every)


def test_forked_child_does_not_repeat_the_parents_next_ids():
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report its next ids, then leave without cleanup
        os.close(read_end)
        os.write(write_end, ids.new_trace_id() + ids.new_span_id())
        os._exit(0)
    os.close(write_end)
    try:
        from_child = os.read(read_end, ids.TRACE_ID_SIZE + ids.SPAN_ID_SIZE)
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
    assert len(from_child) == ids.TRACE_ID_SIZE + ids.SPAN_ID_SIZE
    assert from_child != ids.new_trace_id() + ids.new_span_id()


def test_memo_computes_once_per_context_and_key():
    context = new_root()
    calls = []

    def make(ctx):
        calls.append(ctx)
        return len(calls)

    assert context.memo('a', make) == 1
    assert context.memo('a', make) == 1
    assert context.memo('b', make) == 2
    assert new_root().memo('a', make) == 3


def test_an_all_zero_slice_is_never_handed_out():
    """W3C reserves the all-zero id for "invalid": a block's zero slice is skipped."""
    span_ids = ids._RandomIds(ids.SPAN_ID_SIZE)
    block = bytes(8) + b'\x01' * 8 * (ids.IDS_PER_BLOCK - 2) + bytes(8)
    span_ids._state = (block, itertools.count().__next__)
    taken = [span_ids.take() for _ in range(ids.IDS_PER_BLOCK - 1)]
    assert taken[:-1] == [b'\x01' * 8] * (ids.IDS_PER_BLOCK - 2)
    assert taken[-1] != bytes(8) and len(taken[-1]) == 8  # past the last zero: a new block
