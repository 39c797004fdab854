"""
The HTML page in a real browser (headless Chromium): filtering, and hostile names run nothing.

Chromium comes from the distribution (``make test`` installs it when missing).
Outside CI a machine without it skips these tests, saying so; under
``CI=true`` a missing Chromium fails them.
"""

import json
import os
import pathlib
import re
import subprocess
import sys

from mtrace_ros.analysis.browser import dump_dom
from mtrace_ros.analysis.browser import find_chromium
from mtrace_ros.analysis.html_report import render_html
from mtrace_ros.analysis.records import read_records
from mtrace_ros.analysis.trees import Forest
import pytest

TRACE = re.compile(r'<details class="trace" id="trace-([0-9a-f]{32})"([^>]*)>')


@pytest.fixture(scope='module')
def chromium() -> str:
    path = find_chromium()
    if path is None:
        message = 'Chromium is not installed (make test installs it: apt-get install chromium)'
        if os.environ.get('CI') == 'true':
            pytest.fail(message)
        pytest.skip(message)
    return path


def shown_and_hidden(dom: str):
    shown, hidden = set(), set()
    for trace_id, attributes in TRACE.findall(dom):
        (hidden if re.search(r'\bhidden\b', attributes) else shown).add(trace_id)
    return shown, hidden


def test_demo_page_filters_by_trace_id_and_has_a_screenshot(chromium, domain_id, tmp_path):
    page = tmp_path / 'traces.html'
    env = {key: value for key, value in os.environ.items() if key != 'MTRACE_SINKS'}
    result = subprocess.run(
        [sys.executable, '-m', 'mtrace_ros.demo.run', '--duration', '9', '--rate', '5',
         '--html', str(page)],
        env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert f'=== screenshot of its summary: {page.with_suffix(".png")}' in result.stdout
    assert page.with_suffix('.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'

    shown, hidden = shown_and_hidden(dump_dom(chromium, page))
    assert len(shown) >= 3 and not hidden, 'no filter: every trace shown'
    chosen = sorted(shown)[1]
    shown, hidden = shown_and_hidden(dump_dom(chromium, page, f'filter={chosen[:12]}'))
    assert shown == {chosen}
    assert len(hidden) >= 2
    shown, hidden = shown_and_hidden(dump_dom(chromium, page, 'filter=no-such-node'))
    assert not shown


def test_hostile_names_run_no_script_in_the_browser(chromium, tmp_path):
    # Run, the attack would leave 'PWNED' in the title and a <mark id="pwned"> in the DOM;
    # neither string is in its source text.
    attack = ("document.title='PW'+'NED';"
              "document.body.appendChild(document.createElement('mark')).id='pw'+'ned'")
    records = [{
        'trace_id': '4bf92f3577b34da6a3ce929d0e0e4736', 'span_id': f'a00000000000000{n}',
        'parent_span_id': None if n == 1 else 'a000000000000001',
        'node': f'</script><script>{attack}</script>', 'topic': None if n == 1 else
        f'/x"><img src=x onerror="{attack}">', 'kind': 'root' if n == 1 else 'receive',
        'start_ns': 1_700_000_000_000_000_000 + n, 'end_ns': 1_700_000_000_000_000_009 + n,
        'latency_ns': None, 'error': f'<svg onload="{attack}"></svg>',
        'publishes': [], 'links': []} for n in (1, 2)]
    forest = Forest(read_records(json.dumps(record).encode() for record in records)[0])
    page = tmp_path / 'hostile.html'
    page.write_text(render_html(forest, title=f'</title><script>{attack}</script>'),
                    encoding='utf-8')
    for fragment in ('', 'filter=</script>', 'filter=x"><img src=x onerror=alert(1)>'):
        dom = dump_dom(chromium, page, fragment)
        assert 'PWNED' not in dom and 'id="pwned"' not in dom
        assert '<img' not in dom and '<svg' not in dom.split('id="traces"', 1)[1]
        assert '&lt;/script&gt;&lt;script&gt;' in dom  # the name is shown, as text
        assert len(re.findall(r'<script>', dom)) == 1  # mtrace's own filter script only


def test_the_page_file_names_no_external_resource():
    page = pathlib.Path(__file__).parent / 'data' / 'spans.jsonl'
    with open(page, 'rb') as stream:
        html = render_html(Forest(read_records(stream)[0]))
    assert not re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', html)


def test_shared_scale_makes_a_short_trace_short_and_single_spans_are_folded(chromium, tmp_path):
    """Issue 18: on its own axis a 0.1 ms trace filled the width a 984 ms one did."""
    base = 1_700_000_000_000_000_000

    def trace(number, duration_ns, spans):
        return [{
            'trace_id': f'{number:032x}', 'span_id': f'{n:016x}',
            'parent_span_id': None if n == 1 else f'{1:016x}', 'node': f'n{n}',
            'topic': None if n == 1 else '/t', 'kind': 'root' if n == 1 else 'receive',
            'start_ns': base + (n - 1) * duration_ns // 2, 'end_ns': base + n * duration_ns // 2,
            'latency_ns': None, 'error': None, 'publishes': [], 'links': []}
            for n in range(1, spans + 1)]
    records = trace(1, 100_000, 2) + trace(2, 984_000_000, 2) + trace(3, 1000, 1)
    forest = Forest(read_records(json.dumps(record).encode() for record in records)[0])
    page = tmp_path / 'scales.html'
    page.write_text(render_html(forest), encoding='utf-8')

    def reach(dom: str, trace_number: int, axis: str) -> float:
        """Return how far right the trace's bars reach on the ``own`` or ``shared`` axis."""
        section = dom.split(f'id="trace-{trace_number:032x}"', 1)[1].split('</details>', 1)[0]
        bars = re.findall(r'--l:([\d.]+)%;--w:([\d.]+)%;--sl:([\d.]+)%;--sw:([\d.]+)%', section)
        index = 0 if axis == 'own' else 2
        return max(float(bar[index]) + float(bar[index + 1]) for bar in bars)

    own = dump_dom(chromium, page)
    shared = dump_dom(chromium, page, 'shared=1')
    assert not re.search(r'<body[^>]*class="[^"]*shared', own)
    assert re.search(r'<body[^>]*class="[^"]*shared', shared)
    assert reach(shared, 1, 'own') == pytest.approx(100, abs=0.01)  # each on its own axis
    assert reach(shared, 1, 'shared') < 1  # 0.1 ms beside 984 ms: a sliver
    assert reach(shared, 2, 'shared') == pytest.approx(100, abs=0.01)
    # The single-span trace comes after the others, in a folded group.
    assert shared.index(f'trace-{2:032x}') < shared.index('<details id="single"') < shared.index(
        f'trace-{3:032x}')
    assert re.search(r'<details id="single"(?![^>]*\bopen\b)[^>]*>', shared)
