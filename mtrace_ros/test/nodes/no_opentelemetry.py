"""Make OpenTelemetry unimportable in this process, as on a ROS install without it."""

import importlib.abc
import sys


class NoOpenTelemetry(importlib.abc.MetaPathFinder):
    """Refuse ``opentelemetry`` and its submodules."""

    def find_spec(self, name, path=None, target=None):
        if name == 'opentelemetry' or name.startswith('opentelemetry.'):
            raise ModuleNotFoundError(f'No module named {name!r} (blocked)', name=name)
        return None


def block() -> None:
    """Install the blocker first on ``sys.meta_path`` (before anything imports mtrace_ros)."""
    if 'opentelemetry' in sys.modules:
        raise RuntimeError('opentelemetry is already imported')
    sys.meta_path.insert(0, NoOpenTelemetry())
