"""Code style: ament_flake8 (ROS 2's flake8 configuration)."""

import subprocess
import sys

import pytest


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8():
    # In a process of its own: flake8 forks worker processes, and forking this one (with the
    # threads of rclpy, sinks and gRPC from other tests) crashes the workers.
    result = subprocess.run(
        [sys.executable, '-c', 'import sys\nfrom ament_flake8.main import main_with_errors\n'
         'rc, errors = main_with_errors(argv=[])\nprint("\\n".join(errors))\nsys.exit(rc)'],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, 'code style errors / warnings:\n' + result.stdout[-5000:]
