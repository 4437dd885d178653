"""What an OCR job's worker processes run: document surveys, page size estimates, page loads.

Decoding a page (PDFium, the image codecs) is where a broken or hostile file can crash a process
or blow up its memory. It runs here, in worker processes, so such a file costs a worker, never the
app; the job notices the dead worker and quarantines the page that killed it twice.
"""

from __future__ import annotations

import os
import threading
import time

from qwen3vl_agent.errors import UserFacingError
from qwen3vl_agent.ocr.inputs import (
    LoadOptions,
    PageRef,
    close_cached_pdfs,
    decode_bytes,
    load_page,
    page_count,
)
from qwen3vl_agent.ocr.qwen_engine import PreparedPage, prepare_page

__all__ = ["exit_with_app", "page_bytes", "prepare_for_qwen", "survey_documents"]


def exit_with_app(app_pid: int, interval_s: float = 1.0) -> None:
    """Worker initializer: end this worker soon after the app that started it is gone.

    An app that is SIGKILLed (or crashes) cannot shut its pool down, and a worker waits on its
    task queue forever (it holds the queue's write end itself, so it never sees EOF); its fork
    server and resource tracker then live on too. A daemon thread watches the app's pid."""

    def watch() -> None:
        while True:
            time.sleep(interval_s)
            try:
                os.kill(app_pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:  # another user's process has the pid now: ours is gone
                os._exit(0)

    threading.Thread(target=watch, name="exit-with-app", daemon=True).start()


def _survey(path: str, max_pixels: int) -> tuple[int, str | None]:
    try:
        return page_count(path, max_pixels), None
    except UserFacingError as exc:
        return 0, str(exc)
    except Exception as exc:  # an unexpected reader failure is this file's problem only
        return 0, f"{path}: {type(exc).__name__}: {exc}"


def survey_documents(paths: list[str], max_pixels: int) -> list[tuple[int, str | None]]:
    """For each document (pages, None), or (0, why it cannot be read)."""
    try:
        return [_survey(p, max_pixels) for p in paths]
    finally:
        close_cached_pdfs()


def page_bytes(ref: PageRef, load: LoadOptions) -> int:
    """Bytes of pixels loading the page will hold (from its header; nothing decoded)."""
    return decode_bytes(ref, load)


def prepare_for_qwen(ref: PageRef, load: LoadOptions, budget_tokens: int, encoding: str) -> PreparedPage:
    """Load the page and shrink it to the model's token budget here: only the small encoded image
    travels back to the app, never the full-size pixels."""
    return prepare_page(load_page(ref, load), budget_tokens, encoding)
