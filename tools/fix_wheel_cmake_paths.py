#!/usr/bin/env python3
"""Point the ROS wheels' exported CMake files at this venv's include dirs.

The message wheels were built on another machine and their
``*Export.cmake`` files name its Python and numpy include directories, which
makes CMake fail with "Imported target ... includes non-existent path".
Run after every pip install into the venv.
"""

import pathlib
import re
import sys
import sysconfig

import numpy

# A foreign interpreter's include dir, and numpy's include dir under it.
_FOREIGN_NUMPY = re.compile(r'/opt/python/[^;"\s]*?/site-packages/numpy/_core/include')
_FOREIGN_PYTHON = re.compile(r'/opt/python/[^;"\s/]+/include/python3\.\d+')


def fix(prefix: pathlib.Path) -> int:
    """Rewrite foreign include paths under ``prefix/share``; return files changed."""
    python_include = sysconfig.get_paths()['include']
    numpy_include = numpy.get_include()
    changed = 0
    for path in (prefix / 'share').glob('*/cmake/*Export*.cmake'):
        text = path.read_text()
        fixed = _FOREIGN_NUMPY.sub(numpy_include, text)
        fixed = _FOREIGN_PYTHON.sub(python_include, fixed)
        if fixed != text:
            path.write_text(fixed)
            changed += 1
    return changed


if __name__ == '__main__':
    print(f'fixed include paths in {fix(pathlib.Path(sys.prefix))} CMake files')
