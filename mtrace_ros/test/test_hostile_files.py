"""
Hostile span files: ``mtrace tree`` and ``mtrace html`` show good traces, name bad lines.

The corpus is written by :func:`write_corpus`: each bad line is one that broke
the commands on an earlier main (issue 12), among good traces.
"""

import json
import pathlib
import shutil
import subprocess
from typing import List

from conftest import DEADLINE_SEC
from mtrace_ros.analysis.html_report import render_html
from mtrace_ros.analysis.records import read_records
from mtrace_ros.analysis.trees import Forest
import pytest
from test_trees import chain_records
from test_trees import record
from test_trees import T1
from test_trees import T2

T3 = 'c0ffee00c0ffee00c0ffee00c0ffee00'
#: Lines the commands must skip, each with what the report must say about it.
BAD = [
    (b'{"trace_id": "%s", "span_id": "b000000000000001", "node": "n", "kind": "root", '
     b'"start_ns": 1, "end_ns": 1%s}' % (T1.encode(), b'0' * 400), '401 digits'),
    (b'{"start_ns": %s}' % (b'9' * 5000), '5000 digits'),
    (json.dumps(record('b000000000000002', start_ns=10 ** 21)).encode(), "'start_ns' is out"),
    (json.dumps(record('b000000000000003', start_ns=-10 ** 20)).encode(), "'start_ns' is out"),
    (json.dumps(record('b000000000000004', end_ns=2 ** 63)).encode(), "'end_ns' is out"),
    (json.dumps(record('b000000000000005', start_ns=1e400)).encode(), "'start_ns' must be int"),
    (b'{"node": "\xed\xa0\x80"}', 'not UTF-8 text'),
    (json.dumps({**record('b000000000000006'), 'span_id': '\x1b[2J\u202e' * 1000}).encode(),
     "'span_id' must be 16 hex digits"),
]


def good_records() -> List[dict]:
    """Return three good traces whose names hold what must be escaped, not dropped."""
    return [
        record('a000000000000001', node='a\ud800'),
        record('a000000000000002', 'a000000000000001', 'b\u202eevil', '/x\u2028y',
               error='\x1b[31mred\u2066'),
        record('a000000000000003', node='c', trace=T2),
        record('a000000000000004', node='d', trace=T3, start_us=10 ** 6),
    ]


def write_corpus(path: pathlib.Path) -> List[int]:
    """Write good records with the bad lines between them; return the bad lines' numbers."""
    good = [json.dumps(value).encode() for value in good_records()]
    lines, numbers = [], []
    for index, (line, _) in enumerate(BAD):
        lines.append(good[index] if index < len(good) else b'')
        lines.append(line)
        numbers.append(len(lines))
    path.write_bytes(b'\n'.join(lines) + b'\n')
    return numbers


@pytest.fixture(scope='module')
def mtrace() -> str:
    """Return the installed command."""
    path = shutil.which('mtrace')
    assert path, 'mtrace is not on PATH: run make build and source activate.sh'
    return path


def run(args: List[str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, timeout=DEADLINE_SEC, check=False)


def assert_every_bad_line_named(stderr: bytes, command: str, path, numbers) -> None:
    said = stderr.decode('utf-8').splitlines()
    assert len(said) == len(BAD), said
    for number, (_, reason), line in zip(numbers, BAD, said):
        assert line.startswith(f'mtrace {command}: {path}:{number}: '), line
        assert reason in line and line.endswith('; line skipped'), line
        assert len(line) < 400


def test_tree_shows_every_good_trace_and_names_every_bad_line(mtrace, tmp_path):
    path = tmp_path / 'hostile.jsonl'
    numbers = write_corpus(path)
    result = run([mtrace, 'tree', str(path)])
    assert result.returncode == 0, result.stderr
    assert_every_bad_line_named(result.stderr, 'tree', path, numbers)
    out = result.stdout.decode('utf-8')
    for trace in (T1, T2, T3):
        assert f'trace {trace}' in out
    assert 'a\\ud800  [root]' in out
    assert '└─ b\\u202eevil  /x\\u2028y' in out and 'ERROR \\x1b[31mred\\u2066' in out
    assert not set('\x1b\u202e\u2028\u2066') & set(out)


def test_html_writes_every_good_trace_and_names_every_bad_line(mtrace, tmp_path):
    path = tmp_path / 'hostile.jsonl'
    numbers = write_corpus(path)
    page = tmp_path / 'page.html'
    result = run([mtrace, 'html', str(path), '-o', str(page)])
    assert result.returncode == 0, result.stderr
    assert_every_bad_line_named(result.stderr[:result.stderr.rindex(b'mtrace html: wrote')],
                                'html', path, numbers)
    text = page.read_text(encoding='utf-8')
    for trace in (T1, T2, T3):
        assert f'id="trace-{trace}"' in text
    assert 'a\\ud800' in text and 'b\\u202eevil' in text
    assert not set('\x1b\u202e\u2028\u2066') & set(text)


def test_html_of_a_deep_chain_is_linear_in_its_length():
    """Issue 12: indent grew with depth, so a 16,000-span chain took gigabytes."""
    def size(length):
        lines = [json.dumps(value).encode() for value in chain_records(length)]
        return len(render_html(Forest(read_records(lines)[0])))
    assert size(8000) < 4.2 * size(2000)
