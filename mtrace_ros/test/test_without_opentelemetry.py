"""mtrace works where OpenTelemetry is absent or unused: the bridge stays off and costs nothing."""

import json
import subprocess
import sys

from conftest import DEADLINE_SEC
from conftest import node_script


def test_a_process_without_opentelemetry_traces_records_and_samples(domain_id, tmp_path):
    spans_path = tmp_path / 'spans.jsonl'
    done = subprocess.run(
        node_script('without_opentelemetry.py') + [str(spans_path)],
        capture_output=True, text=True, timeout=6 * DEADLINE_SEC)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result['otel_modules'] == [] and result['bridge'] == 'None'
    assert 'install opentelemetry-sdk' in result['otlp']
    assert 900 <= result['sampled'] <= 1100
    [trace_id] = result['handled']
    records = [json.loads(line) for line in spans_path.read_text().splitlines()]
    hop = [one for one in records if one['trace_id'] == trace_id and one['kind'] == 'receive']
    assert hop and hop[0]['attributes'] == {'no.otel': True}
    root = [one for one in records if one['trace_id'] == trace_id and one['kind'] == 'root']
    assert root[0]['name'] == 'tick' and root[0]['node'] == 'plain'


def test_importing_mtrace_ros_does_not_import_opentelemetry():
    done = subprocess.run([sys.executable, '-c', (
        'import sys, mtrace_ros; '
        'print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))')],
        capture_output=True, text=True, timeout=DEADLINE_SEC * 3)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == '[]'
