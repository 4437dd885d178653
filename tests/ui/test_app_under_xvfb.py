"""The whole app as the README starts it (`.venv/bin/qwen3vl-agent`, no sub-command) on a real
X server: it starts with no GPU and no vLLM and says why; with an engine it can reach (the tiny
CPU vLLM, configured as an endpoint) it is ready; real keyboard shortcuts switch panes; a
screenshot of the window on each pane shows a rendered window with the expected widgets.

Screenshots go to `artifacts/ui/` (ignored; CI keeps them) and, from the engine run, to
`docs/screenshots/` for the README when UPDATE_DOCS_SCREENSHOTS=1 is set. The conversation and OCR job visible in them are sample
data written to the app's database before it starts.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw, ImageStat

REPO = Path(__file__).resolve().parents[2]
APP = REPO / ".venv" / "bin" / "qwen3vl-agent"
ARTIFACTS = REPO / "artifacts" / "ui"
DOCS_SHOTS = REPO / "docs" / "screenshots"
PANES = {"chat": ("ctrl+1", "chatPane"), "agent": ("ctrl+2", "agentPane"), "ocr": ("ctrl+3", "ocrPane")}
EXPECTED = {
    "chat": {
        "conversationList",
        "conversationSearch",
        "chatInput",
        "sendButton",
        "stopGeneration",
        "attach_region",
    },
    "agent": {
        "agentTask",
        "agentTarget",
        "agentSafety",
        "agentStepLimit",
        "agentStart",
        "agentStop",
        "actionView",
        "agentSteps",
        "stopHotkey",
    },
    "ocr": {
        "ocrInputs",
        "ocrEngine",
        "ocrMode",
        "ocrStart",
        "ocrProgress",
        "pageView",
        "ocrJobs",
        "export_txt",
    },
}


class RunningApp:
    def __init__(self, proc: subprocess.Popen[bytes], probe: Path, display: Any, log: Path) -> None:
        self.proc, self.probe, self.display, self.log = proc, probe, display, log

    def state(self) -> dict[str, Any] | None:
        try:
            return json.loads((self.probe / "state.json").read_text())  # type: ignore[no-any-return]
        except (OSError, ValueError):
            return None

    def wait(self, predicate: Any, timeout: float, what: str) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"the app exited ({self.proc.returncode}):\n{self.log.read_text()[-3000:]}"
                )
            s = self.state()
            if s is not None and predicate(s):
                return s
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; last state {self.state()}")

    def xdotool(self, *args: str) -> str:
        return subprocess.run(
            ["xdotool", *args], env=self.display.env(), capture_output=True, text=True, timeout=20, check=True
        ).stdout

    def window_id(self) -> str:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                ids = self.xdotool(
                    "search", "--onlyvisible", "--pid", str(self.proc.pid), "--name", "Qwen3-VL Agent"
                ).split()
            except subprocess.CalledProcessError:
                ids = []
            if ids:
                return ids[0]
            time.sleep(0.2)
        raise AssertionError("the main window did not appear on the X server")

    def show_pane(self, pane: str) -> tuple[dict[str, Any], Image.Image]:
        key, name = PANES[pane]
        wid = self.window_id()
        self.xdotool("windowfocus", wid)
        time.sleep(0.2)
        self.xdotool("key", "--clearmodifiers", key)
        state = self.wait(lambda s: s["pane"] == name, 15, f"the {pane} pane")
        time.sleep(0.3)
        return state, self.grab(state)

    def click(self, x: int, y: int) -> None:
        self.xdotool("mousemove", str(x), str(y))
        self.xdotool("click", "1")

    def open_first_ocr_page(self, state: dict[str, Any]) -> Image.Image | None:
        jobs, pages = state["rects"].get("ocrJobs"), state["rects"].get("ocrPages")
        if not jobs or not pages:
            return None
        self.click(jobs[0] + 80, jobs[1] + 12)  # the first job: its pages load into the tree
        time.sleep(1.5)
        self.click(pages[0] + 60, pages[1] + 46)  # the first page under its document
        time.sleep(2.5)
        return self.grab(state)

    def grab(self, state: dict[str, Any]) -> Image.Image:
        import mss

        left, top, width, height = state["geometry"]
        old = os.environ.get("DISPLAY")
        os.environ["DISPLAY"] = self.display.name
        try:
            with mss.MSS() if hasattr(mss, "MSS") else mss.mss() as sct:
                raw = sct.grab({"left": left, "top": top, "width": width, "height": height})
                return Image.frombytes("RGB", raw.size, raw.bgra, "raw", "BGRX")
        finally:
            if old is None:
                os.environ.pop("DISPLAY", None)
            else:
                os.environ["DISPLAY"] = old

    def close(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # closes the window: work stopped, engine shut down
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


@pytest.fixture
def start_app(xvfb_display: Any, app_home: Path, tmp_path: Path) -> Iterator[Any]:
    apps: list[RunningApp] = []

    def start(config: str = "") -> RunningApp:
        if config:
            cfg = app_home / "config" / "config.toml"
            cfg.parent.mkdir(parents=True, exist_ok=True)
            cfg.write_text(config)
        probe = tmp_path / f"probe{len(apps)}"
        log = tmp_path / f"app{len(apps)}.log"
        env = xvfb_display.env()
        env.update(QT_QPA_PLATFORM="xcb", QWEN3VL_AGENT_HOME=str(app_home), QWEN3VL_AGENT_UI_PROBE=str(probe))
        with log.open("wb") as out:
            proc = subprocess.Popen([str(APP)], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
        app = RunningApp(proc, probe, xvfb_display, log)
        apps.append(app)
        return app

    yield start
    for app in apps:
        app.close()


def rendered(img: Image.Image) -> bool:
    """A real window: large, not one flat colour, many colours (text, icons, frames)."""
    stat = ImageStat.Stat(img.convert("L"))
    colours = img.convert("RGB").getcolors(maxcolors=1_000_000) or []
    return img.width > 600 and img.height > 400 and stat.stddev[0] > 8 and len(colours) > 40


def save(img: Image.Image, name: str, docs: bool) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    img.save(ARTIFACTS / f"{name}.png")
    if docs and os.environ.get("UPDATE_DOCS_SCREENSHOTS"):  # refresh the README's pictures on purpose only
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(ARTIFACTS / f"{name}.png", DOCS_SHOTS / f"{name}.png")


def sample_data() -> None:
    """A conversation with a screenshot and an OCR job, so the screenshots show filled panes."""
    import io

    from qwen3vl_agent.paths import app_paths
    from qwen3vl_agent.storage.conversations import Attachment, ConversationStore

    shot = Image.new("RGB", (800, 500), "#f4f5f8")
    d = ImageDraw.Draw(shot)
    d.rectangle((40, 40, 760, 120), fill="#6d5dfc")
    d.text((60, 70), "Invoice 48213 - total 1,284.50 EUR - due 15 March 2024", fill="white")
    buf = io.BytesIO()
    shot.save(buf, format="PNG")
    store = ConversationStore(app_paths().database_file)
    store.create("Which window shows the error dialog?")
    conv = store.create("Invoice total (sample)")
    store.add_message(
        conv.id,
        "user",
        "What is the total on this invoice, and when is it due?",
        [Attachment("region", buf.getvalue(), 800, 500)],
    )
    store.add_message(
        conv.id,
        "assistant",
        "The invoice **48213** shows:\n\n- Total: **1,284.50 EUR**\n- Due: **15 March 2024**\n\n"
        "(Sample conversation written by the test; the tiny test model itself answers with noise.)",
    )
    store.close()


def sample_ocr_job(folder: Path) -> None:
    """A finished CPU OCR job of one generated page, listed in the OCR pane."""
    import asyncio

    from qwen3vl_agent.agents.ocr_job import OcrJob, OcrJobOptions, create_job
    from qwen3vl_agent.agents.ocr_job_store import OcrJobStore
    from tests.support.ocr_documents import paragraphs_page

    page = folder / "quarterly-report.png"
    paragraphs_page(seed=3, paragraphs=3).image.save(page)
    store = OcrJobStore()
    job_id = create_job(store, [page], OcrJobOptions(engine="cpu", mode="text", formats=[], workers=1))
    asyncio.run(OcrJob(store, job_id).run())
    store.close()


@pytest.mark.xvfb
@pytest.mark.slow
def test_start_without_gpu_or_vllm(start_app: Any, app_home: Path) -> None:
    ui_state = app_home / "config" / "ui-state.ini"  # the View > Theme choice, as the app saves it
    ui_state.parent.mkdir(parents=True, exist_ok=True)
    ui_state.write_text("[General]\ntheme=dark\n")
    app = start_app('[engine]\nvllm_executable = "/nonexistent/vllm"\n')
    state = app.wait(lambda s: s["engine_state"] == "failed", 60, "the engine failure in the status bar")
    assert (
        "vLLM" in state["engine_text"]
        and "Settings" in state["engine_text"]
        and "CPU" in state["engine_text"]
    )
    state, img = app.show_pane("ocr")
    assert EXPECTED["ocr"] <= set(state["visible"])
    assert rendered(img)
    assert sum(ImageStat.Stat(img.convert("L")).mean) < 110  # the dark theme is on
    save(img, "no-engine-dark", docs=True)
    assert app.close() == 0


@pytest.mark.xvfb
@pytest.mark.engine
@pytest.mark.slow
def test_app_with_engine_renders_every_pane(start_app: Any, tiny_engine: Any, tmp_path: Path) -> None:
    sample_data()
    sample_ocr_job(tmp_path)
    config = (
        '[engine]\nmode = "endpoints"\nlimit_mm_images = 2\n\n'
        f'[[engine.endpoints]]\nurl = "{tiny_engine.base_url}"\napi_key = "{tiny_engine.api_key}"\n'
    )
    app = start_app(config)
    state = app.wait(lambda s: s["engine_state"] == "ready", 60, "the engine ready in the status bar")
    assert state["model"] == tiny_engine.served_model_name
    for pane in ("agent", "ocr", "chat"):
        state, img = app.show_pane(pane)
        missing = EXPECTED[pane] - set(state["visible"])
        assert not missing, f"{pane}: {missing}"
        assert rendered(img), pane
        if pane == "ocr":  # open the sample job and its page, with real clicks
            img = app.open_first_ocr_page(state) or img
        # docs: the agent pane's picture comes from the real run in the test below
        save(img, pane if pane != "agent" else "agent-idle", docs=pane != "agent")
    assert app.close() == 0


@pytest.mark.xvfb
@pytest.mark.slow
def test_agent_fills_the_real_form_through_the_app(start_app: Any, form_app: Any, policy_server: Any) -> None:
    """The Agent pane driven with real input: type a task, pick monitor 2, Start; the scripted
    policy fills and submits the real Qt form there (auto mode); the pane shows the run."""
    from tests.support.policy_server import form_planner

    mon = form_app.monitor
    policy_server.planner = form_planner(form_app.widget_rect, (mon.left, mon.top, mon.width, mon.height))
    app = start_app(
        f'[engine]\nmode = "endpoints"\n\n[[engine.endpoints]]\nurl = "{policy_server.url}"\n\n'
        '[safety]\nmode = "auto"\n\n[executor]\nstop_hotkey_enabled = false\n'
    )
    app.wait(lambda s: s["engine_state"] == "ready", 60, "the engine")
    state, _img = app.show_pane("agent")
    task = state["rects"]["agentTask"]
    app.click(task[0] + 40, task[1] + 20)
    app.xdotool(
        "type", "--delay", "5", "Fill in the registration form and submit it. Use exactly these values:"
    )
    for line in ("- name: Ada Lovelace", "- city: London"):
        app.xdotool("key", "Return")
        app.xdotool("type", "--delay", "5", "--", line)
    target = state["rects"]["agentTarget"]
    app.click(target[0] + 60, target[1] + 10)  # open the screen list, pick monitor 2
    time.sleep(0.5)
    app.xdotool("key", "Down")
    app.xdotool("key", "Return")
    time.sleep(0.3)
    start = state["rects"]["agentStart"]
    app.click(start[0] + 20, start[1] + 10)
    done = app.wait(lambda s: s["agent_state"].startswith("Finished"), 120, "the agent run")
    assert "success" in done["agent_state"], done["agent_state"]
    submitted = form_app.submissions()
    assert submitted and submitted[-1]["name"] == "Ada Lovelace" and submitted[-1]["city"] == "London"
    time.sleep(0.5)
    img = app.grab(done)
    assert rendered(img)
    save(img, "agent", docs=True)
    assert app.close() == 0
