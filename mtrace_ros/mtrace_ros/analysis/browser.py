"""
Headless Chromium for the HTML page: a screenshot of it, or its DOM after its script ran.

Used by ``make demo`` (a picture of the summary next to the page) and by the
browser tests. Chromium is optional: :func:`find_chromium` returns ``None``
when it is not installed. The flags keep it off the network entirely
(a closed network makes it retry connections otherwise) and in a profile of
its own that is deleted afterwards.
"""

import pathlib
import shutil
import subprocess
import tempfile
from typing import List
from typing import Optional

_FLAGS = (
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--hide-scrollbars',
)
TIMEOUT_SEC = 60.0


def find_chromium() -> Optional[str]:
    """Return the path of a Chromium executable, or ``None`` if there is none."""
    for name in ('chromium', 'chromium-browser', 'google-chrome'):
        path = shutil.which(name)
        if path:
            return path
    return None


def _run(chromium: str, arguments: List[str]) -> str:
    with tempfile.TemporaryDirectory(prefix='mtrace-chromium-') as profile:
        result = subprocess.run(
            [chromium, *_FLAGS, f'--user-data-dir={profile}', *arguments],
            capture_output=True, text=True, timeout=TIMEOUT_SEC)
    if result.returncode != 0:
        raise RuntimeError(f'chromium exited with {result.returncode}: {result.stderr[-500:]}')
    return result.stdout


def dump_dom(chromium: str, page: pathlib.Path, fragment: str = '') -> str:
    """Return the DOM of ``page`` (opened with ``#fragment``) after its script ran."""
    url = page.resolve().as_uri() + (f'#{fragment}' if fragment else '')
    return _run(chromium, ['--dump-dom', url])


def screenshot(chromium: str, page: pathlib.Path, png: pathlib.Path,
               width: int = 1280, height: int = 1400) -> None:
    """Write a PNG of the top of ``page`` (the summary) to ``png``."""
    _run(chromium, [f'--screenshot={png.resolve()}', f'--window-size={width},{height}',
                    page.resolve().as_uri()])
    if not png.exists():
        raise RuntimeError(f'chromium wrote no screenshot to {png}')
