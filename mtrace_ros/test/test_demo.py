"""The demo tree: make demo's embedded runner, and the launch file's nodes."""

import ast
import importlib.metadata
import os
import pathlib
import re
import signal
import subprocess
import sys
import uuid

from ament_index_python.packages import get_package_prefix
from ament_index_python.packages import get_package_share_directory
from conftest import DEADLINE_SEC
from conftest import wait_until

from mtrace_ros.demo.nodes import message_type
from mtrace_ros.demo.topology import COUNT_ACTION
from mtrace_ros.demo.topology import node_named
from mtrace_ros.demo.topology import NODES
from mtrace_ros.demo.topology import PACKAGE
import pytest
from std_msgs.msg import String

LINE = re.compile(r'^\[(?P<node>[a-z]+)-\d+\] (?P<text>.*)$')
TRACE_ID = re.compile(r'trace_id=([0-9a-f]{32})')


def _processes_with(marker: str):
    """Return the pids of live processes whose environment holds ``marker``."""
    pids = []
    for proc in pathlib.Path('/proc').iterdir():
        try:
            if proc.name.isdigit() and marker.encode() in (proc / 'environ').read_bytes():
                pids.append(int(proc.name))
        except OSError:
            pass
    return pids


def test_embedded_demo_shows_each_trace_in_all_six_nodes(domain_id):
    marker = f'MTRACE_DEMO_TEST={uuid.uuid4().hex}'
    env = dict(os.environ, MTRACE_DEMO_TEST=marker.split('=')[1])
    result = subprocess.run(
        [sys.executable, '-m', 'mtrace_ros.demo.run', '--duration', '6', '--rate', '5'],
        env=env, capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr

    traces_by_node = {spec.name: set() for spec in NODES}
    for line in result.stdout.splitlines():
        match = LINE.match(line)
        if match:
            traces_by_node[match['node']].update(TRACE_ID.findall(match['text']))
    started = traces_by_node['a']
    everywhere = set.intersection(*traces_by_node.values())
    assert len(everywhere) >= 3, result.stdout
    for node, traces in traces_by_node.items():
        assert traces <= started, f'{node} logged trace ids the root never started'
    assert 'summary' in result.stdout
    # f's action goal on d: the rebuilt trees show its phases, each on its side.
    for node, phase in (('f', 'goal'), ('d', 'goal'), ('d', 'execute'), ('f', 'result')):
        assert f'{node}  {COUNT_ACTION}  [{phase}]' in result.stdout, result.stdout
    # The trees come out whole, the std_msgs/String edge c -> f (companion records) included.
    assert message_type(node_named('f').subscribes) is String
    assert '└─ f  /demo/c_to_f ' in result.stdout, result.stdout
    assert wait_until(lambda: not _processes_with(marker), timeout_sec=5)


@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL])
def test_no_node_outlives_a_runner_stopped_by_a_signal(domain_id, tmp_path, sig):
    """Issue 12: SIGTERM left all six nodes running; a killed runner must leave none."""
    marker = uuid.uuid4().hex
    env = dict(os.environ, MTRACE_DEMO_TEST=marker)
    output = tmp_path / 'runner.log'
    with open(output, 'w') as stream:
        runner = subprocess.Popen(
            [sys.executable, '-m', 'mtrace_ros.demo.run', '--duration', '120', '--rate', '5'],
            env=env, stdout=stream, stderr=subprocess.STDOUT)
    try:
        # Every node running and the root ticking: each node's process is up.
        assert wait_until(lambda: len(_processes_with(marker)) == 1 + len(NODES))
        assert wait_until(lambda: 'tick 1' in output.read_text())
        runner.send_signal(sig)
        runner.wait(DEADLINE_SEC + 10)  # the runner's own stop timeout is 10 s
        assert wait_until(lambda: not _processes_with(marker)), _processes_with(marker)
    finally:
        runner.kill()
        runner.wait()
    if sig != signal.SIGKILL:
        assert runner.returncode == 0, output.read_text()
        assert 'summary' in output.read_text()


def test_bad_rate_is_refused_in_one_line_by_the_runner():
    for rate in ('0', '-1'):
        result = subprocess.run(
            [sys.executable, '-m', 'mtrace_ros.demo.run', '--rate', rate],
            capture_output=True, text=True, timeout=DEADLINE_SEC)
        assert result.returncode == 2
        assert result.stdout == ''
        assert result.stderr.splitlines() == [
            f'mtrace demo: --rate: rate must be a number of traces per second > 0, '
            f'got {float(rate)}']


def test_bad_rate_is_refused_in_one_line_by_the_node(domain_id):
    root = pathlib.Path(get_package_prefix(PACKAGE)) / 'lib' / PACKAGE / 'a'
    for rate in ('0', '-1', '0.0', 'fast'):
        result = subprocess.run(
            [str(root), '--ros-args', '-p', f'rate:={rate}'],
            capture_output=True, text=True, timeout=DEADLINE_SEC)
        assert result.returncode == 2
        (line,) = (result.stdout + result.stderr).splitlines()
        assert '[FATAL]' in line
        assert 'parameter rate must be a number of traces per second > 0' in line


def test_every_launched_node_is_a_console_script_of_the_package():
    scripts = {
        entry.name for entry in importlib.metadata.entry_points(group='console_scripts')
        if entry.dist is not None and entry.dist.name.replace('-', '_') == PACKAGE}
    lib = pathlib.Path(get_package_prefix(PACKAGE)) / 'lib' / PACKAGE
    assert len({spec.name for spec in NODES}) == 6
    for spec in NODES:
        assert spec.executable in scripts
        assert os.access(lib / spec.executable, os.X_OK)


def test_launch_file_is_installed_where_ros2_launch_finds_it_and_uses_the_topology():
    launch_file = pathlib.Path(get_package_share_directory(PACKAGE)) / 'launch' / 'demo.launch.py'
    tree = ast.parse(launch_file.read_text())
    imported = {
        (node.module, alias.name) for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
        for alias in node.names}
    assert ('launch_ros.actions', 'Node') in imported
    assert ('mtrace_ros.demo.topology', 'NODES') in imported
    functions = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    assert 'generate_launch_description' in functions


def test_launch_sinks_argument_defaults_to_the_environments_mtrace_sinks():
    """Issue 12: `MTRACE_SINKS=... ros2 launch` wrote nothing: the argument's '' overrode it."""
    launch_file = pathlib.Path(get_package_share_directory(PACKAGE)) / 'launch' / 'demo.launch.py'
    calls = [node for node in ast.walk(ast.parse(launch_file.read_text()))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)]
    (sinks,) = [call for call in calls if call.func.id == 'DeclareLaunchArgument'
                and ast.literal_eval(call.args[0]) == 'sinks']
    default = {keyword.arg: keyword.value for keyword in sinks.keywords}['default_value']
    assert isinstance(default, ast.Call) and default.func.id == 'EnvironmentVariable'
    assert [ast.literal_eval(arg) for arg in default.args] == ['MTRACE_SINKS']
    assert {keyword.arg: ast.literal_eval(keyword.value) for keyword in default.keywords} == {
        'default_value': ''}
