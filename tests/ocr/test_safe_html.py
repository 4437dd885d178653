"""The HTML export of hostile model output runs no script and makes no request, in a real browser.

The hostile page carries the usual tricks (a script, `onerror=fetch(...)`, `javascript:` links,
an iframe, an SVG `onload`, a meta refresh, CSS `url()`); each one, if it survived, would change
the page's title or body, or call a local HTTP server that records every request. A control run
opens the same markup unsanitised in the same browser and must see them fire, so the harness is
proven able to catch what it looks for.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from qwen3vl_agent.ocr.exports import export_document
from qwen3vl_agent.ocr.model import OcrDocument, OcrPage
from qwen3vl_agent.ocr.safe_html import sanitise_html


def _hostile(base: str, refresh: bool = True) -> str:
    # a meta refresh would take the control page away before its other tricks could be seen
    redirect = f'<meta http-equiv="refresh" content="0;url={base}/refresh">' if refresh else ""
    return f"""
<h1 data-bbox="10 10 500 40">Invoice 2024-117</h1>
<table data-bbox="10 50 900 300"><thead><tr><th>Item</th><th colspan="2">Price</th></tr></thead>
<tbody><tr><td>Paper</td><td>12.00</td><td>EUR</td></tr></tbody></table>
<ul><li>first</li><li>second</li></ul>
<p>Plain paragraph <strong>kept</strong>.</p>
<script>document.title = "pwned-script"; fetch("{base}/script");</script>
<img src="x" onerror="document.title='pwned-onerror'; fetch('{base}/onerror')">
<p onclick="fetch('{base}/click')" style="background:url({base}/css)">styled</p>
<a href="javascript:fetch('{base}/js-link')">click me</a>
<iframe src="{base}/iframe"></iframe>
<svg><image href="{base}/svg-image"></image><script>fetch("{base}/svg-script")</script></svg>
<svg onload="document.body.setAttribute('data-pwned', 'svg'); fetch('{base}/svg-onload')"></svg>
<object data="{base}/object"></object><embed src="{base}/embed">
<link rel="stylesheet" href="{base}/link-css">{redirect}
<form action="{base}/form"><input autofocus onfocus="fetch('{base}/onfocus')"></form>
<details open ontoggle="fetch('{base}/ontoggle')"><summary>s</summary></details>
"""


class _Recorder:
    """A local HTTP server that records the path of every request made to it."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                recorder.hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Access-Control-Allow-Origin", "*")
                self.end_headers()
                self.wfile.write(b"ok")

            do_POST = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder() -> Iterator[_Recorder]:
    rec = _Recorder()
    yield rec
    rec.close()


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no headless Chromium here (Debian: apt install chromium; scripts/install-system-deps.sh)")


def _dump_dom(page: Path, profile: Path) -> str:
    """The DOM after load (and 3 s of virtual time for timers and handlers), from headless Chromium."""
    cmd = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=3000",
        "--dump-dom",
        page.as_uri(),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _export_html(tmp_path: Path, answer_html: str) -> Path:
    page = OcrPage(index=0, width=1000, height=1000, text="Invoice", html=answer_html, engine="qwen3-vl:html")
    doc = OcrDocument(str(tmp_path / "invoice.png"), [page], [], 1, mode="html")
    (written,) = export_document(doc, ["html"], tmp_path / "out")
    return written


def test_sanitiser_keeps_structure_and_drops_what_can_act() -> None:
    clean = sanitise_html(_hostile("http://127.0.0.1:9"))
    lowered = clean.lower()
    for kept in (
        "<h1",
        "<table",
        '<th colspan="2"',
        "<td>paper</td>",
        "<ul>",
        "<li>",
        "<strong>",
        'data-bbox="10 10 500 40"',
    ):
        assert kept.lower() in lowered, kept
    for gone in (
        "<script",
        "onerror",
        "onclick",
        "onload",
        "onfocus",
        "ontoggle",
        "javascript:",
        "<iframe",
        "<svg",
        "<object",
        "<embed",
        "<link",
        "<meta",
        "<img",
        "style=",
        "url(",
        "<form",
        "<input",
    ):
        assert gone not in lowered, gone  # fmt: skip


def test_the_exported_page_runs_no_script_and_makes_no_request_in_a_real_browser(
    tmp_path: Path, recorder: _Recorder
) -> None:
    # control: the same markup unsanitised fires in this browser (the harness can see an attack)
    raw = tmp_path / "raw.html"
    control = _hostile(recorder.base, refresh=False)
    raw.write_text(f"<!DOCTYPE html><html><head><title>raw</title></head><body>{control}</body></html>")
    raw_dom = _dump_dom(raw, tmp_path / "profile-raw")
    assert "pwned" in raw_dom and recorder.hits, "the control page should have run its scripts"

    recorder.hits.clear()
    exported = _export_html(tmp_path, _hostile(recorder.base))
    dom = _dump_dom(exported, tmp_path / "profile-export")
    assert recorder.hits == []
    assert "pwned" not in dom
    assert "<title>invoice.png</title>" in dom  # still the export: no redirect happened
    assert "Invoice 2024-117" in dom and "<td>Paper</td>" in dom and "<li>second</li>" in dom

    # the sanitiser alone, without the export's Content-Security-Policy, is enough
    bare = tmp_path / "bare.html"
    clean = sanitise_html(_hostile(recorder.base))
    bare.write_text(f"<!DOCTYPE html><html><head><title>bare</title></head><body>{clean}</body></html>")
    bare_dom = _dump_dom(bare, tmp_path / "profile-bare")
    assert recorder.hits == [] and "pwned" not in bare_dom and "<title>bare</title>" in bare_dom
