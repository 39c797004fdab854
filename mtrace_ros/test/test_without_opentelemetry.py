"""
mtrace works where OpenTelemetry cannot be imported: the bridge stays off.

(``test_spans.py`` checks that ``import mtrace_ros`` never imports it.)
"""

import json
import subprocess
import sys

from conftest import DEADLINE_SEC
from conftest import node_script
from conftest import NODES_DIR

#: The tests of issue 15 that apply without OpenTelemetry (its bridge and OTLP tests do not).
SUITE = ['test_span_api.py', 'test_sampling.py', 'test_spans.py', 'test_continue_trace.py']


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


def test_the_span_api_and_sampling_suites_pass_without_opentelemetry(tmp_path):
    here = NODES_DIR.parent
    runner = (
        f'import sys; sys.path.insert(0, {str(NODES_DIR)!r}); '
        'import no_opentelemetry; no_opentelemetry.block(); '
        'import pytest; '
        f'code = pytest.main(["-q", "-p", "no:cacheprovider", *{SUITE!r}]); '
        'leaked = [m for m in sys.modules if m.startswith("opentelemetry")]; '
        'print("leaked:", leaked); sys.exit(code or bool(leaked))')
    done = subprocess.run(
        [sys.executable, '-c', runner], cwd=here, capture_output=True, text=True,
        timeout=30 * DEADLINE_SEC)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert 'leaked: []' in done.stdout
    assert ' passed' in done.stdout and 'skipped' in done.stdout  # the OTel cross-check
