"""The HTML page parses, shows every span, loads nothing external, escapes what records hold."""

import base64
import hashlib
from html.parser import HTMLParser
import json
import pathlib
from typing import Dict
from typing import List
from typing import Tuple

from mtrace_ros.analysis import html_report
from mtrace_ros.analysis.html_report import render_html
from mtrace_ros.analysis.records import read_records
from mtrace_ros.analysis.trees import Forest

DATA = pathlib.Path(__file__).parent / 'data'
VOID = {'meta', 'br', 'img', 'input', 'link', 'hr', 'wbr', 'source', 'area', 'col', 'embed'}
URL_ATTRIBUTES = {'href', 'src', 'srcset', 'action', 'formaction', 'data', 'poster', 'background'}


class Page(HTMLParser):
    """Parse a page; keep its elements and text, and fail on mismatched tags."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: List[Tuple[str, Dict[str, str]]] = []
        self.text: List[str] = []
        self.styles: List[str] = []
        self.scripts: List[str] = []
        self._open: List[str] = []
        self.feed(text)
        self.close()
        assert self._open == [], f'unclosed elements: {self._open}'

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        if tag not in VOID:
            self._open.append(tag)

    def handle_endtag(self, tag):
        assert self._open and self._open[-1] == tag, f'</{tag}> closes {self._open[-1:]}'
        self._open.pop()

    def handle_data(self, data):
        if self._open and self._open[-1] == 'style':
            self.styles.append(data)
        elif self._open and self._open[-1] == 'script':
            self.scripts.append(data)
        else:
            self.text.append(data)

    def ids(self) -> List[str]:
        return [attrs['id'] for _, attrs in self.elements if 'id' in attrs]


def page_of(lines: List[bytes]) -> Tuple[Page, Forest]:
    records, _ = read_records(lines)
    forest = Forest(records)
    return Page(render_html(forest)), forest


def test_page_of_the_span_file_parses_and_has_a_row_for_every_span():
    with open(DATA / 'spans.jsonl', 'rb') as stream:
        page, forest = page_of(list(stream))
    text = ''.join(page.text)
    spans = [
        (trace.trace_id, node.span) for trace in forest.traces for node in trace.nodes.values()]
    assert len(spans) == 9
    for trace_id, span in spans:
        assert f'span-{trace_id}-{span.span_id}' in page.ids()
        assert span.node in text
    assert {f'trace-{trace.trace_id}' for trace in forest.traces} <= set(page.ids())
    assert 'ERROR ValueError: bad reading' in text
    assert '✗ /b_to_z  reached no span (no subscriber)' in text
    assert '(parent 5f3a9c1d2e4b6a70 missing)' in text
    # The fan-in link is a link within the page, in both directions.
    hrefs = [attrs['href'] for tag, attrs in page.elements if tag == 'a']
    assert '#span-4bf92f3577b34da6a3ce929d0e0e4736-c000000000000003' in hrefs
    assert '#span-0af7651916cd43dd8448eb211c80319c-2000000000000008' in hrefs
    assert all(href[1:] in page.ids() for href in hrefs)


def only_our_script(page: Page) -> bool:
    """Return whether the page's one script is mtrace's inline filter script, and nothing else."""
    scripts = [attrs for tag, attrs in page.elements if tag == 'script']
    return scripts == [{}] and page.scripts == [html_report._SCRIPT]


def test_page_loads_nothing_external_and_has_only_the_inline_filter_script():
    with open(DATA / 'spans.jsonl', 'rb') as stream:
        page, _ = page_of(list(stream))
    tags = {tag for tag, _ in page.elements}
    assert not tags & {'link', 'img', 'iframe', 'object', 'embed', 'video', 'audio'}
    assert only_our_script(page)
    # A Content-Security-Policy that allows that script by its hash, and nothing from outside
    # (the browser test shows the script still runs under it).
    digest = base64.b64encode(hashlib.sha256(html_report._SCRIPT.encode()).digest()).decode()
    policies = [attrs['content'] for tag, attrs in page.elements
                if tag == 'meta' and attrs.get('http-equiv') == 'Content-Security-Policy']
    assert policies == [html_report.CONTENT_SECURITY_POLICY]
    assert f"script-src 'sha256-{digest}'" in policies[0]
    assert policies[0].startswith("default-src 'none';")
    assert not any(name.startswith('on') for _, attrs in page.elements for name in attrs)
    for tag, attrs in page.elements:
        for name, value in attrs.items():
            assert name not in URL_ATTRIBUTES or value.startswith('#'), (tag, name, value)
            assert 'http:' not in (value or '') and 'https:' not in (value or '')
            assert '//' not in (value or '')
    assert page.styles and not any('url(' in style or '@import' in style for style in page.styles)


def test_untrusted_strings_are_escaped():
    hostile = {
        'trace_id': '4bf92f3577b34da6a3ce929d0e0e4736', 'span_id': 'a000000000000001',
        'parent_span_id': None, 'node': '<script>alert(1)</script>',
        'topic': '/x" onmouseover="alert(2)', 'kind': 'receive', 'start_ns': 1, 'end_ns': 2,
        'latency_ns': 5, 'error': '</td></tr></table><img src=https://example.invalid/x>',
        'publishes': [{'topic': '"><iframe src=//x>', 'subscriber_count': 0}], 'links': []}
    page, _ = page_of([json.dumps(hostile).encode()])
    tags = {tag for tag, _ in page.elements}
    assert not tags & {'img', 'iframe'}
    assert only_our_script(page)
    assert not any(name.startswith('on') for _, attrs in page.elements for name in attrs)
    text = ''.join(page.text)
    assert '<script>alert(1)</script>' in text
    assert '/x" onmouseover="alert(2)' in text
    assert 'ERROR </td></tr></table><img src=https://example.invalid/x>' in text
    assert '"><iframe src=//x>' in text
