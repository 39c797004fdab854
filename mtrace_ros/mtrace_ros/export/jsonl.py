"""
The JSON Lines sink: one span record per line (:func:`.schema.record_to_dict`), appended to a file.

Several processes may append to the same file: each batch is one ``write``
on a file opened with ``O_APPEND``, so lines never interleave. A file that
cannot be opened or written (no such directory, no permission, disk full)
makes the sink drop and count its spans and warn once; it tries to open the
file again for the next batch.
"""

import json
import os
from typing import Any
from typing import List
from typing import Optional

from mtrace_ros.export.processor import QueuedSink
from mtrace_ros.export.schema import record_to_dict
from mtrace_ros.export.schema import SpanRecord

_OPEN_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC


class JsonLinesSink(QueuedSink):
    """Append spans to a JSON Lines file, the format ``mtrace tree`` reads."""

    def __init__(self, path: str, **kwargs: Any) -> None:
        """
        Create the sink; the file is opened (and created) when the first span arrives.

        :param path: the file to append to.
        :param kwargs: ``queue_size``, ``batch_size`` (see :class:`QueuedSink`).
        """
        self.path = path
        self._fd: Optional[int] = None
        super().__init__(f'jsonl:{path}', **kwargs)

    def _export(self, batch: List[SpanRecord]) -> None:
        data = ''.join(
            json.dumps(record_to_dict(record), separators=(',', ':')) + '\n'
            for record in batch).encode()
        if self._fd is None:
            self._fd = os.open(self.path, _OPEN_FLAGS, 0o644)
        try:
            written = os.write(self._fd, data)
            if written != len(data):
                raise OSError(f'short write: {written} of {len(data)} bytes')
        except OSError:
            self._release()
            raise

    def _release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)
