"""The OCR pane: files and folders (dialogs or drag-and-drop) or a captured region; engine and
mode pickers; a progress bar with rate and ETA; a page viewer with the recognized boxes drawn
over the page and the lines beside it, in sync; export buttons; interrupted jobs to resume.

Jobs run on the worker loop (`worker_loop.py`): their per-page SQLite writes and page loads
never touch the Qt thread. Pages go through the shared model queue at batch priority, or the
CPU engine (Tesseract in worker processes) when the model is unavailable or chosen.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from PIL import Image
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTabWidget,
    QTextBrowser,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from qwen3vl_agent.errors import UserFacingError
from qwen3vl_agent.ocr.model import OcrDocument, OcrPage
from qwen3vl_agent.paths import app_paths
from qwen3vl_agent.ui import capture, icons
from qwen3vl_agent.ui.context import AppContext, ensure_database
from qwen3vl_agent.ui.page_view import PageView
from qwen3vl_agent.ui.region_overlay import pick_region, pil_to_qimage
from qwen3vl_agent.ui.tasks import describe_error
from qwen3vl_agent.ui.worker_loop import ServiceProxy, WorkerLoop

ENGINES = (("Qwen3-VL (CPU engine if unavailable)", "qwen"), ("CPU engine (Tesseract)", "cpu"))
MODES = (
    ("Plain text", "text"),
    ("Markdown", "markdown"),
    ("HTML", "html"),
    ("Lines with boxes", "lines"),
    ("JSON (schema)", "json"),
)
RESUMABLE = ("interrupted", "running", "pending", "created")


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class OcrPane(QWidget):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.setObjectName("ocrPane")
        self.setAcceptDrops(True)
        self._store: Any = None
        self._worker: WorkerLoop | None = None
        self._job_task: asyncio.Task[Any] | None = None
        self.job_id: str | None = None
        self.schema: dict[str, Any] | None = None
        self.last_progress: Any = None
        self.current_page: OcrPage | None = None
        self._page_cache: dict[tuple[int, int], OcrPage] = {}
        ctx.bridge.ocr_event.connect(self._on_progress)

        # inputs
        self.inputs = QListWidget()
        self.inputs.setObjectName("ocrInputs")
        self.inputs.setToolTip("Files and folders to read — drop them here")
        self.add_files_button = QPushButton(icons.icon("file"), "Files…")
        self.add_files_button.clicked.connect(self.add_files_dialog)
        self.add_folder_button = QPushButton(icons.icon("folder"), "Folder…")
        self.add_folder_button.clicked.connect(self.add_folder_dialog)
        self.capture_button = QPushButton(icons.icon("region"), "Region")
        self.capture_button.setToolTip("Capture a screen region to read (Ctrl+Shift+R)")
        self.capture_button.clicked.connect(lambda: self.ctx.tasks.spawn(self.capture_region()))
        self.clear_button = QToolButton()
        self.clear_button.setIcon(icons.icon("delete"))
        self.clear_button.setToolTip("Clear the list")
        self.clear_button.clicked.connect(self.inputs.clear)
        in_box = QGroupBox("Documents")
        iv = QVBoxLayout(in_box)
        row = QHBoxLayout()
        for w in (self.add_files_button, self.add_folder_button, self.capture_button, self.clear_button):
            row.addWidget(w)
        iv.addLayout(row)
        iv.addWidget(self.inputs, 1)
        self.drop_hint = QLabel("Drop images or PDFs here")
        self.drop_hint.setObjectName("hint")
        self.drop_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        iv.addWidget(self.drop_hint)

        # options + run
        self.engine = QComboBox()
        self.engine.setObjectName("ocrEngine")
        for label, value in ENGINES:
            self.engine.addItem(label, value)
        self.mode = QComboBox()
        self.mode.setObjectName("ocrMode")
        for label, value in MODES:
            self.mode.addItem(label, value)
        self.mode.currentIndexChanged.connect(self._mode_changed)
        self.schema_button = QPushButton("Schema…")
        self.schema_button.setToolTip("The JSON schema the extracted values must follow")
        self.schema_button.clicked.connect(self._pick_schema)
        self.schema_button.hide()
        self.start_button = QPushButton(icons.icon("play"), "Start")
        self.start_button.setObjectName("ocrStart")
        self.start_button.setToolTip("Start reading (Ctrl+Return)")
        self.start_button.clicked.connect(self.primary_action)
        self.stop_button = QPushButton(icons.icon("stop"), "Stop")
        self.stop_button.setObjectName("ocrStop")
        self.stop_button.setToolTip("Stop the job; finished pages are kept and it can be resumed (Esc)")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop_action)
        opts = QHBoxLayout()
        opts.addWidget(QLabel("Engine"))
        opts.addWidget(self.engine)
        opts.addWidget(QLabel("Mode"))
        opts.addWidget(self.mode)
        opts.addWidget(self.schema_button)
        opts.addStretch(1)
        opts.addWidget(self.start_button)
        opts.addWidget(self.stop_button)
        self.progress = QProgressBar()
        self.progress.setObjectName("ocrProgress")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress_label = QLabel("No job running")
        self.progress_label.setObjectName("ocrProgressLabel")

        # jobs to resume
        self.jobs = QListWidget()
        self.jobs.setObjectName("ocrJobs")
        self.jobs.itemSelectionChanged.connect(self._job_selected)
        self.resume_button = QPushButton(icons.icon("resume"), "Resume")
        self.resume_button.setObjectName("ocrResume")
        self.resume_button.clicked.connect(self._resume_selected)
        self.resume_button.setEnabled(False)
        jobs_box = QGroupBox("Jobs")
        jv = QVBoxLayout(jobs_box)
        jv.addWidget(self.jobs, 1)
        jv.addWidget(self.resume_button)

        # results: pages tree | page view | text
        self.pages = QTreeWidget()
        self.pages.setObjectName("ocrPages")
        self.pages.setHeaderLabels(["Document / page", "Status"])
        self.pages.setColumnWidth(0, 190)
        self.pages.itemSelectionChanged.connect(self._page_selected)
        self.page_view = PageView()
        self.page_view.box_selected.connect(self._box_selected)
        self.lines = QListWidget()
        self.lines.setObjectName("ocrLines")
        self.lines.currentRowChanged.connect(self.page_view.select_line)
        self.text = QTextBrowser()
        self.text.setObjectName("ocrText")
        self.text_tabs = QTabWidget()
        self.text_tabs.addTab(self.lines, "Lines")
        self.text_tabs.addTab(self.text, "Text")
        self.text_tabs.setCurrentIndex(1)
        self.export_buttons: dict[str, QPushButton] = {}
        exp = QHBoxLayout()
        exp.addWidget(QLabel("Export:"))
        for fmt in ("txt", "md", "json", "html", "pdf"):
            b = QPushButton(icons.icon("export"), fmt.upper())
            b.setObjectName(f"export_{fmt}")
            b.setToolTip(
                f"Export the job's documents as .{fmt}" + (" (searchable PDF)" if fmt == "pdf" else "")
            )
            b.clicked.connect(lambda _c=False, fmt=fmt: self._export_dialog(fmt))
            b.setEnabled(False)
            self.export_buttons[fmt] = b
            exp.addWidget(b)
        exp.addStretch(1)
        text_side = QWidget()
        tv = QVBoxLayout(text_side)
        tv.setContentsMargins(0, 0, 0, 0)
        tv.addWidget(self.text_tabs, 1)
        tv.addLayout(exp)

        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(in_box)
        left.addWidget(jobs_box)
        left.addWidget(self.pages)
        left.setSizes([200, 140, 260])
        self.viewer_split = QSplitter()
        self.viewer_split.setObjectName("ocrViewerSplit")
        self.viewer_split.addWidget(self.page_view)
        self.viewer_split.addWidget(text_side)
        self.viewer_split.setSizes([520, 420])
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        rv.addLayout(opts)
        prow = QHBoxLayout()
        prow.addWidget(self.progress, 1)
        prow.addWidget(self.progress_label)
        rv.addLayout(prow)
        rv.addWidget(self.viewer_split, 1)
        self.splitter = QSplitter()
        self.splitter.setObjectName("ocrSplitter")
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([300, 960])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.splitter)
        QTimer.singleShot(0, self.refresh_jobs)

    # ---- plumbing -------------------------------------------------------------------------------
    @property
    def store(self) -> Any:
        if self._store is None:
            from qwen3vl_agent.agents.ocr_job_store import OcrJobStore

            self._store = OcrJobStore(app_paths().database_file)
        return self._store

    @property
    def worker(self) -> WorkerLoop:
        if self._worker is None:
            self._worker = WorkerLoop("ui-ocr", nice=10)  # OCR workers yield the CPU to the UI
        return self._worker

    @property
    def busy(self) -> bool:
        return self._job_task is not None and not self._job_task.done()

    # ---- inputs -------------------------------------------------------------------------------
    def add_paths(self, paths: list[str]) -> None:
        existing = {self.inputs.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.inputs.count())}
        for p in paths:
            if not p or p in existing:
                continue
            path = Path(p)
            item = QListWidgetItem(icons.icon("folder" if path.is_dir() else "file"), path.name or str(path))
            item.setData(Qt.ItemDataRole.UserRole, str(path))
            item.setToolTip(str(path))
            self.inputs.addItem(item)
        self.drop_hint.setVisible(self.inputs.count() == 0)

    def input_paths(self) -> list[str]:
        return [self.inputs.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.inputs.count())]

    def add_files_dialog(self) -> None:
        dlg = QFileDialog(self, "Add documents")
        dlg.setFileMode(QFileDialog.FileMode.ExistingFiles)
        dlg.setNameFilter("Documents (*.pdf *.png *.jpg *.jpeg *.webp *.tif *.tiff *.bmp);;All files (*)")
        dlg.filesSelected.connect(lambda files: self.add_paths(list(files)))
        dlg.open()

    def add_folder_dialog(self) -> None:
        dlg = QFileDialog(self, "Add a folder")
        dlg.setFileMode(QFileDialog.FileMode.Directory)
        dlg.setOption(QFileDialog.Option.ShowDirsOnly, True)
        dlg.fileSelected.connect(lambda folder: self.add_paths([folder]))
        dlg.open()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        self.add_paths([u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()])
        event.acceptProposedAction()

    async def capture_region(self) -> None:
        """Drag a region of the screen; it is saved as a PNG and added to the documents."""
        try:
            shot = await capture.grab(self.ctx, "desktop")
        except UserFacingError as exc:
            self.ctx.bridge.notice.emit("error", str(exc))
            return
        region = await pick_region(shot)
        if region is None:
            return
        folder = app_paths().data_dir / "captures"
        path = folder / f"region-{time.strftime('%Y%m%d-%H%M%S')}.png"

        def save(img: Image.Image) -> None:
            folder.mkdir(parents=True, exist_ok=True)
            img.save(path, format="PNG")

        await self.ctx.tasks.run_io(save, region)
        self.add_paths([str(path)])

    def _mode_changed(self) -> None:
        self.schema_button.setVisible(self.mode.currentData() == "json")

    def _pick_schema(self) -> None:
        dlg = QFileDialog(self, "JSON schema")
        dlg.setNameFilter("JSON schema (*.json)")
        dlg.fileSelected.connect(lambda f: self.ctx.tasks.spawn(self._load_schema(f)))
        dlg.open()

    async def _load_schema(self, path: str) -> None:
        try:
            self.schema = json.loads(await self.ctx.tasks.run_io(Path(path).read_text, encoding="utf-8"))
            self.schema_button.setText(f"Schema: {Path(path).name}")
        except (OSError, ValueError) as exc:
            self.ctx.bridge.notice.emit("error", f"Cannot read the schema {path}: {exc}")

    # ---- running --------------------------------------------------------------------------------
    def primary_action(self) -> None:
        if self.busy:
            return
        paths = self.input_paths()
        if not paths:
            self.ctx.bridge.notice.emit("warning", "Add files or folders to read first")
            return
        self._job_task = self.ctx.tasks.spawn(self.run_new_job(paths), name="ocr-job")

    def stop_action(self) -> None:
        if self.busy and self._job_task is not None:
            self._job_task.cancel()

    def _service_for_job(self) -> ServiceProxy | None:
        service = self.ctx.core.service
        if service is None or not self.ctx.core.engine_ready.is_set():
            return None
        return ServiceProxy(service, asyncio.get_running_loop())

    async def run_new_job(self, paths: list[str]) -> Any:
        from qwen3vl_agent.agents.ocr_job import OcrJobOptions, create_job

        s = self.ctx.settings
        options = OcrJobOptions(
            engine=self.engine.currentData(),
            mode=self.mode.currentData(),
            schema=self.schema,
            budget_tokens=s.images.ocr_budget_tokens,
            formats=[],
        )
        self._set_running(True, "Finding documents and counting pages…")
        try:
            await ensure_database(self.ctx)
            job_id = await self.worker.run(self._in_worker(create_job, self.store, paths, options))
            events = await self.worker.run(self._in_worker(self.store.events, job_id))
        except Exception as exc:
            self._set_running(False, describe_error(exc))
            self.ctx.bridge.notice.emit("error", describe_error(exc))
            return None
        for _at, kind, message in events:
            if kind == "skipped":  # symbolic links out of a dropped folder were not followed
                self.ctx.bridge.notice.emit("warning", message)
        return await self.run_job(job_id)

    @staticmethod
    async def _in_worker(fn: Any, *args: Any) -> Any:
        return fn(*args)

    async def run_job(self, job_id: str) -> Any:
        """Run (or resume) a stored job on the worker loop; show its pages as they finish."""
        from qwen3vl_agent.agents.ocr_job import OcrJob

        await ensure_database(self.ctx)
        self.job_id = job_id
        self.pages.clear()
        self._page_items: dict[tuple[str, int], QTreeWidgetItem] = {}
        self._page_cache.clear()
        await self._load_job_tree(job_id)
        self._set_running(True, "Starting…")
        service = self._service_for_job()
        reason = self.ctx.core.engine_error or ("the engine is still starting" if service is None else None)
        store, sink, limit = self.store, self.ctx.bridge.ocr_sink(), self.ctx.settings.queue.max_in_flight

        async def go() -> Any:
            job = OcrJob(
                store, job_id, service, on_progress=sink, unavailable_reason=reason, max_in_flight=limit
            )
            return await job.run()

        summary = None
        try:
            summary = await self.worker.run(go())
            c = summary.counts
            self._set_running(
                False, f"Done: {c.done} pages, {c.failed} failed ({summary.engine_used} engine)"
            )
        except asyncio.CancelledError:
            self._set_running(False, "Stopped — finished pages are kept; resume the job to finish it")
        except Exception as exc:
            self._set_running(False, describe_error(exc))
            self.ctx.bridge.notice.emit("error", describe_error(exc))
        finally:
            self.refresh_jobs()
            for b in self.export_buttons.values():
                b.setEnabled(True)
        return summary

    def _set_running(self, running: bool, text: str) -> None:
        self.start_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.resume_button.setEnabled(not running and bool(self.jobs.selectedItems()))
        self.progress_label.setText(text)
        if running and self.progress.maximum() <= 1:
            self.progress.setRange(0, 0)

    def _on_progress(self, p: Any) -> None:
        if p.job_id != self.job_id:
            return
        self.last_progress = p
        total = max(1, p.total)
        self.progress.setRange(0, total)
        self.progress.setValue(p.done + p.failed)
        rate = f"{p.rate:.2f} pages/s" if p.rate else "– pages/s"
        self.progress_label.setText(
            f"{p.done + p.failed}/{p.total} pages · {rate} · ETA {format_eta(p.eta_s)}"
            + (f" · {p.failed} failed" if p.failed else "")
        )
        if p.kind in ("fallback", "page_quarantined"):
            self.ctx.bridge.notice.emit("warning", p.message)
        if p.kind in ("page_done", "page_failed", "page_quarantined") and p.path and p.page:
            item = getattr(self, "_page_items", {}).get((p.path, p.page - 1))
            if item is not None:
                item.setText(1, {"page_done": "done", "page_failed": "failed"}.get(p.kind, "quarantined"))
                if p.kind != "page_done":
                    item.setToolTip(1, p.message)
                if not self.pages.selectedItems():
                    self.pages.setCurrentItem(item)

    # ---- jobs list ------------------------------------------------------------------------------------
    def refresh_jobs(self) -> None:
        self.ctx.tasks.spawn(self._refresh_jobs(), name="ocr-jobs")

    async def _refresh_jobs(self) -> None:
        try:
            jobs = await self.ctx.tasks.run_db(self.store.jobs, 30)
        except UserFacingError as exc:
            self.ctx.bridge.notice.emit("error", str(exc))
            return
        self.jobs.clear()
        for j in jobs:
            when = time.strftime("%m-%d %H:%M", time.localtime(j.created_at))
            resumable = j.status in RESUMABLE and not (self.busy and j.id == self.job_id)
            item = QListWidgetItem(
                icons.icon("resume" if resumable else "ocr"), f"{when}  {j.mode} · {j.engine}  [{j.status}]"
            )
            item.setData(Qt.ItemDataRole.UserRole, j.id)
            item.setData(Qt.ItemDataRole.UserRole + 1, resumable)
            item.setToolTip(f"job {j.id}: {j.pages_total} pages\n{j.message or ''}")
            self.jobs.addItem(item)

    def _job_selected(self) -> None:
        items = self.jobs.selectedItems()
        self.resume_button.setEnabled(bool(items) and not self.busy)
        self.resume_button.setText(
            "Resume" if items and items[0].data(Qt.ItemDataRole.UserRole + 1) else "Open"
        )
        if items and not self.busy:
            jid = items[0].data(Qt.ItemDataRole.UserRole)
            if jid != self.job_id:
                self.job_id = jid
                self.ctx.tasks.spawn(self._load_job_tree(jid))
                for b in self.export_buttons.values():
                    b.setEnabled(True)

    def resumable_jobs(self) -> list[str]:
        return [
            self.jobs.item(i).data(Qt.ItemDataRole.UserRole)
            for i in range(self.jobs.count())
            if self.jobs.item(i).data(Qt.ItemDataRole.UserRole + 1)
        ]

    def _resume_selected(self) -> None:
        items = self.jobs.selectedItems()
        if not items or self.busy:
            return
        jid = items[0].data(Qt.ItemDataRole.UserRole)
        if items[0].data(Qt.ItemDataRole.UserRole + 1):
            self._job_task = self.ctx.tasks.spawn(self.run_job(jid), name="ocr-resume")
        else:
            self.ctx.tasks.spawn(self._load_job_tree(jid))

    async def _load_job_tree(self, job_id: str) -> None:
        docs = await self.ctx.tasks.run_db(self.store.documents, job_id)
        stats = await self.ctx.tasks.run_db(self.store.page_stats, job_id)
        status = {(d, p): st for d, p, st, _a, _c in stats}
        self.pages.clear()
        self._page_items = {}
        for doc_id, path, count, doc_status, error, _exported in docs:
            top = QTreeWidgetItem([Path(path).name, doc_status if error else f"{count} pages"])
            top.setToolTip(0, path)
            if error:
                top.setToolTip(1, error)
            self.pages.addTopLevelItem(top)
            for i in range(count):
                child = QTreeWidgetItem([f"Page {i + 1}", status.get((doc_id, i), "pending")])
                child.setData(0, Qt.ItemDataRole.UserRole, (doc_id, path, i))
                top.addChild(child)
                self._page_items[(path, i)] = child
            top.setExpanded(True)

    # ---- viewer ------------------------------------------------------------------------------------------
    def _page_selected(self) -> None:
        items = self.pages.selectedItems()
        if not items:
            return
        data = items[0].data(0, Qt.ItemDataRole.UserRole)
        if data:
            self.ctx.tasks.spawn(self.show_page(*data), name="ocr-page")

    async def show_page(self, doc_id: int, path: str, index: int) -> None:
        from qwen3vl_agent.ocr.inputs import LoadOptions, PageRef, document_kind, load_page

        mode = self.mode.currentData()
        doc: OcrDocument = await self.ctx.tasks.run_db(self.store.load_document, doc_id, mode)
        page = next((p for p in doc.pages if p.index == index), None)
        ref = PageRef(path, document_kind(Path(path)) or "image", index)
        try:
            loaded = await self.ctx.tasks.run_io(load_page, ref, LoadOptions(dpi=100, use_text_layer=False))
            qimg = await self.ctx.tasks.run_io(pil_to_qimage, loaded.image)
            pixmap: QPixmap | None = QPixmap.fromImage(qimg)
        except Exception as exc:
            pixmap = None
            self.ctx.bridge.notice.emit("warning", f"Cannot show the page image: {describe_error(exc)}")
        self.current_page = page
        self.page_view.show_page(pixmap, page)
        self.lines.blockSignals(True)
        self.lines.clear()
        if page is not None:
            for line in page.lines:
                conf = f"  ({line.confidence:.0%})" if line.confidence is not None else ""
                self.lines.addItem(line.text + conf)
            self.text_tabs.setTabText(0, f"Lines ({len(page.lines)})")
            if page.markdown:
                self.text.setMarkdown(page.markdown)
            elif page.data is not None:
                self.text.setPlainText(json.dumps(page.data, indent=2, ensure_ascii=False))
            else:
                self.text.setPlainText(page.text)
        else:
            failure = next((f.reason for f in doc.failures if f.index == index), None)
            self.text.setPlainText(f"Failed: {failure}" if failure else "Not read yet")
        self.lines.blockSignals(False)

    def _box_selected(self, index: int) -> None:
        self.text_tabs.setCurrentWidget(self.lines)
        self.lines.blockSignals(True)
        self.lines.setCurrentRow(index)
        self.lines.scrollToItem(self.lines.item(index))
        self.lines.blockSignals(False)

    # ---- export ---------------------------------------------------------------------------------------------
    def _export_dialog(self, fmt: str) -> None:
        if self.job_id is None:
            return
        dlg = QFileDialog(self, f"Export .{fmt} into…")
        dlg.setFileMode(QFileDialog.FileMode.Directory)
        dlg.setOption(QFileDialog.Option.ShowDirsOnly, True)
        dlg.fileSelected.connect(lambda folder: self.ctx.tasks.spawn(self.export(fmt, Path(folder))))
        dlg.open()

    async def export(self, fmt: str, out_dir: Path) -> list[Path]:
        """Export every readable document of the current job as `fmt` into `out_dir`."""
        from qwen3vl_agent.ocr.exports import export_document

        job_id = self.job_id
        if job_id is None:
            return []
        job = await self.ctx.tasks.run_db(self.store.job, job_id)
        written: list[Path] = []
        for doc_id, _path, _count, status, _error, _exp in await self.ctx.tasks.run_db(
            self.store.documents, job_id
        ):
            if status != "ok":
                continue
            doc = await self.ctx.tasks.run_db(self.store.load_document, doc_id, job.mode)
            try:
                written += await self.ctx.tasks.run_io(export_document, doc, [fmt], out_dir, None)
            except UserFacingError as exc:
                self.ctx.bridge.notice.emit("error", str(exc))
        self.ctx.bridge.notice.emit("info", f"Exported {len(written)} file(s) to {out_dir}")
        return written

    # ---- lifecycle -----------------------------------------------------------------------------------------------
    def save_layout(self, s: QSettings) -> None:
        s.setValue("ocr/splitter", self.splitter.saveState())
        s.setValue("ocr/viewer", self.viewer_split.saveState())
        s.setValue("ocr/engine", self.engine.currentData())
        s.setValue("ocr/mode", self.mode.currentData())

    def restore_layout(self, s: QSettings) -> None:
        for key, split in (("ocr/splitter", self.splitter), ("ocr/viewer", self.viewer_split)):
            state = s.value(key)
            if state is not None:
                split.restoreState(state)
        for key, combo in (("ocr/engine", self.engine), ("ocr/mode", self.mode)):
            i = combo.findData(s.value(key))
            if i >= 0:
                combo.setCurrentIndex(i)

    def retint(self) -> None:
        self.add_files_button.setIcon(icons.icon("file"))
        self.add_folder_button.setIcon(icons.icon("folder"))

    async def shutdown(self) -> None:
        """Interrupt a running job (finished pages are stored; it shows as resumable) and stop the worker."""
        task = self._job_task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._worker is not None:
            worker, self._worker = self._worker, None
            await self.ctx.tasks.run_io(worker.close)
