"""
How a demo node stops on SIGINT or SIGTERM: a flag and a wake-up, never an exception.

A ``KeyboardInterrupt`` raised by a signal handler lands wherever the main
thread happens to be. In a weakref callback (importlib's module locks, during
any import) Python prints "Exception ignored" and goes on; in rclpy's C++
message conversion it becomes a RuntimeError or SystemError, which any
``except Exception`` on the way takes for an ordinary error. Lost, it left
nodes spinning until the runner killed them. rclpy's own handler (off in a
demo node) shuts the context down at once, from a C++ thread: it races the
node's construction ("context is not valid") and ``try_shutdown``
("rcl_shutdown already called"), and a span topic sink can then deliver
nothing more of what it still queues.

So a demo node takes both signals itself (:class:`StopSignals`): the Python
handler only sets a flag. Python runs it in the main thread, which may be
blocked in the middleware's wait; so the signal's wake-up byte
(``signal.set_wakeup_fd``) also reaches a thread that sets the flag and
triggers a guard condition, which wakes the executor; the spin loop ends
when the flag is set. A node is started with both signals blocked
(:func:`stop_signals_blocked`, in the runner) and unblocks them once its
handler is in place: a stop asked while it still imports is delivered then,
not lost. Its stop is then in order: the node is destroyed (a
:class:`mtrace_ros.TracedNode` first lets its topic sinks deliver), then the
context is shut down.
"""

import contextlib
import faulthandler
import os
import signal
import sys
import threading
from typing import Iterator
from typing import Optional

from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import SingleThreadedExecutor
from rclpy.guard_condition import GuardCondition
from rclpy.node import Node

#: The signals that stop a demo node, as Ctrl-C does (SIGTERM: ``ros2 launch``'s second try).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: A node not gone this long after a stop signal prints its threads' stacks and exits (the
#: runner kills it after 10 s).
STOP_DEADLINE_SEC = 8.0
#: How much later faulthandler's own thread ends a stop whose main thread holds the GIL.
STOP_BACKSTOP_SEC = 1.0


@contextlib.contextmanager
def stop_signals_blocked() -> Iterator[None]:
    """Block :data:`STOP_SIGNALS` in this thread meanwhile; processes started here inherit it."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _woken() -> None:
    """Run by the executor for the wake-up guard condition: spin_once returns after it."""


class StopSignals:
    """Record a stop signal and wake the spinning executor; :meth:`spin` ends on it."""

    def __init__(self) -> None:
        self.asked = False
        #: Set once the node is destroyed (its spans delivered): only rclpy's teardown is left.
        self.torn_down = False
        self._wake: Optional[GuardCondition] = None
        self._deadline: Optional[threading.Timer] = None

    def install(self) -> None:
        """Handle :data:`STOP_SIGNALS` from now on; a stop already pending sets :attr:`asked`."""
        readable, writable = os.pipe()
        os.set_blocking(writable, False)  # set_wakeup_fd's requirement: a signal never blocks
        threading.Thread(
            target=self._watch, args=(readable,), name='mtrace-demo-stop', daemon=True).start()
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._on_signal)
        signal.set_wakeup_fd(writable, warn_on_full_buffer=False)
        if signal.sigpending() & set(STOP_SIGNALS):
            self.asked = True  # sent while the node imported: say so before anything starts
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)

    def _arm_deadline(self) -> None:
        """
        Give the stop :data:`STOP_DEADLINE_SEC` (once); then :meth:`_overdue`.

        The timer is Python: it cannot run while the main thread holds the GIL
        in the middleware. faulthandler's thread needs no GIL: it prints the
        stacks and exits 1 :data:`STOP_BACKSTOP_SEC` later.
        """
        if self._deadline is None:  # only the watch thread arms it
            self._deadline = threading.Timer(STOP_DEADLINE_SEC, self._overdue)
            self._deadline.daemon = True
            self._deadline.start()
            faulthandler.dump_traceback_later(STOP_DEADLINE_SEC + STOP_BACKSTOP_SEC, exit=True)

    def _overdue(self) -> None:
        """
        End a stop that hangs: print every thread's stack, then exit.

        Seen under a loaded test suite (gdb): ``rclpy.try_shutdown`` destroying
        the context's last node (the topic sink's) tears the DDS participant
        down, and Fast DDS 3.2.3 (the Kilted wheels) then waits in
        ``DomainParticipant::set_listener(nullptr)`` for a discovery callback
        under way (a peer's endpoint leaving: every demo node stops at once).
        That wait spins, its endless deadline overflowing to one already past
        in the wheel's build, holding the GIL and, all but an instant per
        turn, the mutex the callback needs to finish: it never ends. Once the
        spans are delivered (:attr:`torn_down` set, the node destroyed by
        mtrace) the stop did its work: exit 0; a node that never got that far
        exits 1. While the GIL is held this timer cannot run: faulthandler's
        thread exits instead (see :meth:`_arm_deadline`).
        """
        done = self.torn_down
        print(f'mtrace demo: the node has not finished stopping after {STOP_DEADLINE_SEC:.0f} s'
              f' ({"rclpy teardown" if done else "before its spans were delivered"}); '
              'exiting. Its threads:', file=sys.stderr, flush=True)
        faulthandler.dump_traceback(sys.stderr, all_threads=True)
        os._exit(0 if done else 1)

    def _on_signal(self, signum: int, frame: object) -> None:
        # Runs in the main thread between any two bytecodes: it must not raise.
        self.asked = True

    def _watch(self, readable: int) -> None:
        """Wake the executor for every signal byte (whichever thread the signal hit)."""
        while True:
            received = os.read(readable, 1)
            if not received:
                return
            if received[0] in STOP_SIGNALS:
                self.asked = True  # before the wake-up: the loop sees it when it wakes
                self._arm_deadline()
                wake = self._wake
                if wake is not None:
                    try:
                        wake.trigger()
                    except Exception:  # destroyed meanwhile: the loop has ended
                        pass

    def spin(self, node: Node) -> None:
        """Run ``node``'s callbacks until a stop signal, or until its context shuts down."""
        executor = SingleThreadedExecutor(context=node.context)
        executor.add_node(node)
        # Reentrant: a coroutine suspended in the default group cannot hold the wake-up back.
        self._wake = node.create_guard_condition(_woken, ReentrantCallbackGroup())
        try:
            # A signal after this check triggers the guard: the next wait returns at once.
            while not self.asked and node.context.ok():
                executor.spin_once()
        finally:
            self._wake = None
            executor.shutdown(timeout_sec=0)
