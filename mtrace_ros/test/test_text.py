"""The one escaping function for text from outside: visible, one line, bounded."""

from mtrace_ros.core.text import echo
from mtrace_ros.core.text import printable
import pytest


@pytest.mark.parametrize(('text', 'shown'), [
    ('plain /topic ü ✓ 漢字', 'plain /topic ü ✓ 漢字'),
    ('\x1b[2J\x00\x7f\x9b', '\\x1b[2J\\x00\\x7f\\x9b'),
    ('a\nb\rc\td', 'a\\x0ab\\x0dc\\x09d'),
    ('\u202egnp.exe', '\\u202egnp.exe'),
    ('line\u2028para\u2029', 'line\\u2028para\\u2029'),
    ('\u2066iso\u2069\u200e\u200f\u061c', '\\u2066iso\\u2069\\u200e\\u200f\\u061c'),
    ('lone \ud800 and \udcff', 'lone \\ud800 and \\udcff'),
])
def test_printable_escapes_what_moves_hides_or_breaks_text(text, shown):
    assert printable(text) == shown
    assert printable(text).encode('utf-8')


def test_limit_cuts_and_says_the_length():
    assert printable('x' * 2_000_000, 200) == 'x' * 200 + '… (2000000 characters)'
    assert printable('short', 200) == 'short'
    assert echo('\x1b' * 1000) == "'" + '\\x1b' * 200 + "… (1000 characters)'"
