"""
The JSON Lines exporter: one span record per line (:func:`.schema.record_to_dict`), appended.

Several processes may append to the same file: each batch is one ``write``
on a file opened with ``O_APPEND``, so lines never interleave. A file that
cannot be opened or written (no such directory, no permission, disk full)
fails the batch; the file is opened again for the next one. After a short
write (a full disk) the records whose lines were written whole count as
exported, and the next batch starts on a fresh line, so a torn line never
swallows the next record.
"""

import json
import os
from typing import Optional
from typing import Sequence

from mtrace_ros.export.processor import PartialExport
from mtrace_ros.export.schema import record_to_dict
from mtrace_ros.export.schema import SpanRecord

_OPEN_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC


class JsonLinesExporter:
    """Append span records to a JSON Lines file, the format ``mtrace tree`` reads."""

    def __init__(self, path: str) -> None:
        """Name the file; it is opened (and created) when the first batch arrives."""
        self.path = path
        self.name = f'jsonl:{path}'
        self._fd: Optional[int] = None
        self._torn = False  # the last write ended inside a line

    def export(self, records: Sequence[SpanRecord]) -> bool:
        """Append one line per record; raise :class:`PartialExport` after a short write."""
        lines = [(json.dumps(record_to_dict(record), separators=(',', ':')) + '\n').encode()
                 for record in records]
        data = (b'\n' if self._torn else b'') + b''.join(lines)
        if self._fd is None:
            self._fd = os.open(self.path, _OPEN_FLAGS, 0o644)
        try:
            written = os.write(self._fd, data)
        except OSError:
            self.shutdown()
            raise
        if written == len(data):
            self._torn = False
            return True
        self._torn = written > 0 and data[written - 1:written] != b'\n'
        whole = data[:written].count(b'\n') - (1 if data.startswith(b'\n') and written else 0)
        self.shutdown()
        raise PartialExport(max(whole, 0), f'short write: {written} of {len(data)} bytes')

    def shutdown(self) -> None:
        """Close the file (it is opened again if another batch comes)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Return True: every batch is written when exported."""
        return True
