"""
Child processes of the benchmark, spoken to line by line over stdin and stdout.

Every child runs ``bench/child.py`` in a session of its own (so that a
terminal's Ctrl-C reaches only the parent) and is stopped by the parent:
:func:`stop_all` runs in the parent's ``finally`` and at exit, and SIGINTs,
then SIGKILLs, each child's process group.
"""

import atexit
import os
import pathlib
import queue
import signal
import subprocess
import sys
import threading
from typing import List
from typing import Optional

from ros_setup import DEADLINE_SEC

CHILD_SCRIPT = pathlib.Path(__file__).with_name('child.py')

_started: List['Child'] = []


class Child:
    """One child process; :meth:`request` sends a command line and returns its reply line."""

    def __init__(self, args: List[str], *, env: Optional[dict] = None) -> None:
        child_env = dict(os.environ)
        child_env.update(env or {})
        child_env['PYTHONUNBUFFERED'] = '1'
        self.args = args
        self.popen = subprocess.Popen(
            [sys.executable, str(CHILD_SCRIPT)] + args, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=child_env, text=True,
            start_new_session=True)
        _started.append(self)
        self._lines: 'queue.Queue[Optional[str]]' = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self._lines.put(line.strip())
        self._lines.put(None)

    def expect(self, timeout_sec: float = DEADLINE_SEC) -> str:
        """Return the child's next line; raise if it ends or says nothing in time."""
        try:
            line = self._lines.get(timeout=timeout_sec)
        except queue.Empty:
            raise TimeoutError(
                f'child {self.args} said nothing for {timeout_sec:g} s') from None
        if line is None:
            raise RuntimeError(f'child {self.args} exited with {self.popen.wait()}')
        if line.startswith('error'):
            raise RuntimeError(f'child {self.args}: {line}')
        return line

    def request(self, command: str, timeout_sec: float = DEADLINE_SEC) -> str:
        """Send one command line and return the reply line."""
        assert self.popen.stdin is not None
        self.popen.stdin.write(command + '\n')
        self.popen.stdin.flush()
        return self.expect(timeout_sec)

    def stop(self, timeout_sec: float = 5.0) -> None:
        """SIGINT the child's process group, then SIGKILL it if it lingers."""
        if self.popen.poll() is None:
            _signal_group(self.popen.pid, signal.SIGINT)
            try:
                self.popen.wait(timeout_sec)
            except subprocess.TimeoutExpired:
                pass
        _signal_group(self.popen.pid, signal.SIGKILL)
        self.popen.wait()
        for stream in (self.popen.stdin, self.popen.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def stop_all() -> None:
    """Stop every child started so far."""
    while _started:
        _started.pop().stop()


atexit.register(stop_all)
