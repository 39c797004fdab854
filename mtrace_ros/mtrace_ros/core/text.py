"""
Text from outside, made safe to print: escaped, and cut to a bounded length.

Wire strings, span files and peers' answers may hold anything: terminal
escapes, characters that reorder or break a line (U+202E, U+2028), lone
surrogates that no encoder accepts, or megabytes. Every line mtrace writes
about such text (logs, ``mtrace tree``, ``mtrace html``) passes it through
:func:`printable` first, so what is shown is one visible line of bounded size.
"""

import re
from typing import Optional

#: How many characters of an outside string an error or warning repeats by default.
ECHO_LIMIT = 200

# C0 and C1 controls, DEL, the line and paragraph separators, bidirectional
# formatting (embeddings, overrides, isolates, marks) and lone surrogates.
_UNSAFE = re.compile(
    '[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]')


def _escape(match: 're.Match[str]') -> str:
    code = ord(match.group())
    return f'\\x{code:02x}' if code < 0x100 else f'\\u{code:04x}'


def printable(text: str, limit: Optional[int] = None) -> str:
    r"""
    Return ``text`` with every unsafe character written as an escape (``\x1b``, ``\u202e``).

    :param limit: if given, keep at most this many characters of ``text`` and
        say how long it was, e.g. ``'abc…' (2000000 characters)``.
    """
    if limit is not None and len(text) > limit:
        return f'{_UNSAFE.sub(_escape, text[:limit])}… ({len(text)} characters)'
    return _UNSAFE.sub(_escape, text)


def echo(text: str, limit: int = ECHO_LIMIT) -> str:
    """Return ``text`` quoted for an error message: escaped and cut to ``limit`` characters."""
    return f"'{printable(text, limit)}'"


_SURROGATE = re.compile('[\ud800-\udfff]')


def encodable(text: str) -> str:
    """
    Return ``text`` with every lone surrogate replaced by U+FFFD, so it encodes as UTF-8.

    Exception texts can hold them (a file name that is not UTF-8, decoded with
    ``surrogateescape``); no sink could write the span record then.
    """
    if text.isascii():  # the usual case, and O(1): CPython keeps the flag
        return text
    return _SURROGATE.sub('\ufffd', text) if _SURROGATE.search(text) else text
