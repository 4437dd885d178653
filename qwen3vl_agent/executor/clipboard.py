"""Unicode typing through the clipboard, giving the user's clipboard back afterwards.

`pyautogui.write` can only type what the keyboard map has (ASCII), so "Zürich", "東京" or an
emoji are pasted: save the clipboard, put the text on it, press the paste shortcut, WAIT until
the target application has fetched the text, restore the saved clipboard.

The wait matters: on X11 the paste is asynchronous (the app asks the clipboard owner for the
data after it sees ctrl+v); restoring too early pastes the user's old clipboard instead. With
`xclip -verbose` as the owner we see each request it serves, so we restore right after the
app's request instead of sleeping for a guessed time. Elsewhere (Windows, macOS, Wayland via
pyperclip) the paste reads synchronously-set data and a short settle time is used.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Protocol

from qwen3vl_agent.executor.errors import ClipboardError
from qwen3vl_agent.executor.plan import KeyDown, KeyUp, Primitive

_TEXT_TARGETS = ("UTF8_STRING", "text/plain;charset=utf-8", "STRING", "TEXT", "text/plain")
_META_TARGETS = frozenset({"TARGETS", "TIMESTAMP", "MULTIPLE", "SAVE_TARGETS", "DELETE", "INCR"})


@dataclass(frozen=True)
class SavedClipboard:
    """What was on the clipboard: one format of it (`target`), or nothing (`data is None`)."""

    target: str | None = None
    data: bytes | None = None


class Clipboard(Protocol):
    def save(self) -> SavedClipboard: ...

    def set_text(self, text: str) -> None: ...

    def wait_pasted(self, timeout: float) -> bool: ...

    def restore(self, saved: SavedClipboard) -> None: ...

    def close(self) -> None: ...


def _pump_lines(stream: IO[bytes], sink: queue.Queue[str]) -> None:
    for raw in iter(stream.readline, b""):
        sink.put(raw.decode("utf-8", "replace").strip())
    sink.put("")  # EOF marker


class XclipClipboard:
    """The X11 CLIPBOARD selection, owned by an `xclip -verbose` child while we paste."""

    def __init__(self, xclip: str = "xclip", display: str | None = None) -> None:
        self._xclip = xclip
        self._display = ["-display", display] if display else []  # None: the process's DISPLAY
        self._owner: subprocess.Popen[bytes] | None = None
        self._lines: queue.Queue[str] = queue.Queue()
        self._served = 0

    def _run(self, *args: str, timeout: float = 2.0) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [self._xclip, *self._display, "-selection", "clipboard", *args],
            capture_output=True,
            timeout=timeout,
            check=False,
        )

    def save(self) -> SavedClipboard:
        try:
            targets_run = self._run("-o", "-t", "TARGETS")
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ClipboardError(f"Cannot read the clipboard with xclip: {exc}") from exc
        if targets_run.returncode != 0:
            return SavedClipboard()  # nobody owns the clipboard: it is empty
        targets = [t for t in targets_run.stdout.decode("utf-8", "replace").split() if t not in _META_TARGETS]
        target = next((t for t in _TEXT_TARGETS if t in targets), None)
        if target is None:
            target = next((t for t in targets if t.startswith("image/")), targets[0] if targets else None)
        if target is None:
            return SavedClipboard()
        try:
            data_run = self._run("-o", "-t", target, timeout=5.0)
        except subprocess.TimeoutExpired:
            return SavedClipboard()
        if data_run.returncode != 0:
            return SavedClipboard()
        return SavedClipboard(target, data_run.stdout)

    def _own(self, data: bytes, target: str, verbose: bool) -> None:
        self._stop_owner()
        args = [self._xclip, *self._display, "-selection", "clipboard", "-i", "-t", target, "-loops", "0"]
        if verbose:
            args.append("-verbose")
        else:
            args.append("-quiet")  # stay in the foreground so that we can end it
        try:
            proc = subprocess.Popen(
                args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
        except OSError as exc:
            raise ClipboardError(f"Cannot start xclip: {exc}") from exc
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(data)
        proc.stdin.close()
        self._owner = proc
        self._lines = queue.Queue()
        self._served = 0
        threading.Thread(target=_pump_lines, args=(proc.stdout, self._lines), daemon=True).start()
        if verbose:
            ready = self._wait_for(lambda line: "request number" in line, 3.0)
            # A TARGETS round trip through the server proves the ownership is in effect (xclip
            # prints before flushing) and is not counted as a served paste.
            if not ready or self._run("-o", "-t", "TARGETS").returncode != 0:
                self._stop_owner()
                raise ClipboardError("xclip did not take ownership of the clipboard")

    def _wait_for(self, predicate: object, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                return False
            if line == "" and self._owner is not None and self._owner.poll() is not None:
                return False
            if "Waiting for selection request number" in line:
                self._served = int(line.rsplit(" ", 1)[-1]) - 1
            if callable(predicate) and predicate(line):
                return True

    def set_text(self, text: str) -> None:
        self._own(text.encode("utf-8"), "UTF8_STRING", verbose=True)

    def wait_pasted(self, timeout: float) -> bool:
        """True once the app fetched the text (one data request served after set_text).

        xclip reports a request as served just BEFORE its reply leaves its output buffer; ending
        it right then can lose the reply (measured: ~10% of fast pastes came out empty). One more
        TARGETS round trip (not counted as a paste) is a barrier: xclip answers it only after
        flushing everything before it.
        """
        if self._served < 1 and not self._wait_for(lambda _line: self._served >= 1, timeout):
            return False
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            self._run("-o", "-t", "TARGETS")
        return True

    def restore(self, saved: SavedClipboard) -> None:
        self._stop_owner()
        if saved.data is not None and saved.target is not None:
            # Serve the saved data from a detached xclip, as the previous owner did.
            try:
                proc = subprocess.Popen(
                    [self._xclip, *self._display, "-selection", "clipboard", "-i", "-t", saved.target],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                proc.communicate(saved.data, timeout=5)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise ClipboardError(f"Could not restore the clipboard: {exc}") from exc

    def _stop_owner(self) -> None:
        proc, self._owner = self._owner, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def close(self) -> None:
        self._stop_owner()


class PyperclipClipboard:
    """pyperclip's clipboard (Windows, macOS, Wayland, xsel): text only, settle by time."""

    def __init__(self, settle_s: float = 0.15) -> None:
        import pyperclip

        self._pyperclip = pyperclip
        self._settle_s = settle_s

    def save(self) -> SavedClipboard:
        try:
            text = self._pyperclip.paste()
        except self._pyperclip.PyperclipException as exc:
            raise ClipboardError(f"No clipboard to type Unicode text through: {exc}") from exc
        return SavedClipboard("text", text.encode("utf-8")) if text else SavedClipboard()

    def set_text(self, text: str) -> None:
        try:
            self._pyperclip.copy(text)
        except self._pyperclip.PyperclipException as exc:
            raise ClipboardError(f"No clipboard to type Unicode text through: {exc}") from exc

    def wait_pasted(self, timeout: float) -> bool:
        time.sleep(min(self._settle_s, timeout))
        return True

    def restore(self, saved: SavedClipboard) -> None:
        self._pyperclip.copy(saved.data.decode("utf-8") if saved.data else "")

    def close(self) -> None:
        return None


def make_clipboard() -> Clipboard:
    """xclip on X11 (precise paste sync); pyperclip elsewhere; a clear error when neither works."""
    if sys.platform.startswith("linux") and os.environ.get("DISPLAY"):
        xclip = shutil.which("xclip")
        if xclip:
            return XclipClipboard(xclip)
    try:
        return PyperclipClipboard()
    except ImportError as exc:  # pragma: no cover - pyperclip is a dependency
        raise ClipboardError("pyperclip is not installed") from exc


def paste_shortcut(platform: str = sys.platform) -> tuple[str, ...]:
    return ("command", "v") if platform == "darwin" else ("ctrl", "v")


def paste_text(
    clipboard: Clipboard,
    text: str,
    perform: Callable[[Primitive], object],
    timeout_s: float,
    keys: tuple[str, ...] | None = None,
) -> str | None:
    """Paste `text`: put it on the clipboard, press the paste shortcut through the backend's
    `perform` (so held keys are tracked), then wait until an application read the clipboard.
    Returns a note for the result when none did (no text field had the focus)."""
    keys = keys or paste_shortcut()
    clipboard.set_text(text)
    for key in keys:
        perform(KeyDown(key))
    for key in reversed(keys):
        perform(KeyUp(key))
    if not clipboard.wait_pasted(timeout_s):
        return f"no application took the pasted text {text!r} (is a text field focused?)"
    return None
