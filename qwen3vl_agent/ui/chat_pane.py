"""The Chat pane: conversations (listed, searched, persisted in SQLite), messages with
screenshots or images shown as thumbnails before sending, answers streamed token by token, stop
and copy.

The pane is a view: a turn (store, ask, stream, store) is `chat_controller.ChatController`'s.
The transcript is rendered as Markdown when the history changes (a conversation opened, a turn
starting or ending); while an answer streams, its pieces are appended as plain text at its end,
so a long conversation is not re-rendered per token. The finished answer is rendered once.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSettings, Qt, QTimer, QUrl
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut, QTextCursor
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from qwen3vl_agent.errors import UserFacingError
from qwen3vl_agent.inference.request import SamplingParams
from qwen3vl_agent.ui import capture, icons
from qwen3vl_agent.ui.chat_controller import ChatController
from qwen3vl_agent.ui.chat_widgets import AttachmentStrip, ComposerEdit, PendingImage, TranscriptBrowser
from qwen3vl_agent.ui.context import AppContext
from qwen3vl_agent.ui.region_overlay import pick_region

if TYPE_CHECKING:
    from qwen3vl_agent.storage.conversations import ChatMessage

ROLE_NAMES = {"user": "You", "assistant": "Qwen3-VL"}
CURSOR = " ▍"  # after the streaming answer


class ChatPane(QWidget):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.setObjectName("chatPane")
        self.controller = ChatController(
            ctx.conversations,
            ctx.tasks,
            lambda: self.ctx.settings,
            lambda: self.ctx.core.require_service(),
            ctx.bridge.chat_sink,  # pieces come back on the Qt thread, through the bridge
        )
        self.controller.view = self
        self._stream_task: asyncio.Task[Any] | None = None
        self._stream_cursor: QTextCursor | None = None  # where the streaming answer's next piece goes
        self.full_renders = 0  # Markdown renders of the whole transcript (per history change, not per token)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(200)
        self._search_timer.timeout.connect(self.refresh_conversations)
        ctx.bridge.chat_delta.connect(self.controller.add_delta)

        # left: search + conversation list
        self.search = QLineEdit()
        self.search.setObjectName("conversationSearch")
        self.search.setPlaceholderText("Search conversations (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        find = QShortcut(QKeySequence.StandardKey.Find, self)
        find.activated.connect(self._focus_search)
        self.conversations = QListWidget()
        self.conversations.setObjectName("conversationList")
        self.conversations.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.conversations.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.conversations.setWordWrap(False)
        self.conversations.currentItemChanged.connect(self._conversation_selected)
        self.conversations.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.conversations.customContextMenuRequested.connect(self._conversation_menu)
        self.new_button = QPushButton(icons.icon("new"), "New")
        self.new_button.setToolTip("New conversation (Ctrl+N)")
        self.new_button.clicked.connect(self.new_conversation)
        self.delete_button = QPushButton(icons.icon("delete"), "Delete")
        self.delete_button.clicked.connect(self._delete_current)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(6, 6, 0, 6)
        lv.addWidget(self.search)
        lv.addWidget(self.conversations, 1)
        row = QHBoxLayout()
        row.addWidget(self.new_button)
        row.addWidget(self.delete_button)
        lv.addLayout(row)

        # right: transcript + composer
        self.transcript = TranscriptBrowser()
        self.transcript.setObjectName("transcript")
        self.transcript.setOpenLinks(False)
        self.transcript.anchorClicked.connect(self._anchor)
        self.transcript.setPlaceholderText("")
        self.empty_hint = self._welcome()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty_hint)
        self.stack.addWidget(self.transcript)
        self.attachments = AttachmentStrip()
        self.input = ComposerEdit()
        self.input.setMaximumHeight(120)
        self.input.send_requested.connect(self.primary_action)
        self.input.image_pasted.connect(lambda img: self.add_image(PendingImage("pasted image", img)))
        self.input.files_dropped.connect(lambda paths: self.ctx.tasks.spawn(self.add_files(paths)))

        self.capture_buttons: dict[str, QToolButton] = {}
        tools = QHBoxLayout()
        for kind, tip in (
            ("desktop", "Attach the whole desktop (Ctrl+Shift+D)"),
            ("monitor", "Attach one monitor (Ctrl+Shift+M)"),
            ("region", "Drag a region to attach (Ctrl+Shift+R)"),
            ("window", "Attach a window (Ctrl+Shift+W)"),
            ("image", "Attach image files…"),
        ):
            b = QToolButton()
            b.setObjectName(f"attach_{kind}")
            b.setIcon(icons.icon(kind))
            b.setToolTip(tip)
            b.setAutoRaise(True)
            if kind == "image":
                b.clicked.connect(self._pick_files)
            elif kind in ("monitor", "window"):
                b.clicked.connect(lambda _c=False, kind=kind: self._choose_then_capture(kind))
            else:
                b.clicked.connect(lambda _c=False, kind=kind: self.ctx.tasks.spawn(self.attach_capture(kind)))
            self.capture_buttons[kind] = b
            tools.addWidget(b)
        tools.addStretch(1)
        self.copy_button = QPushButton(icons.icon("copy"), "Copy answer")
        self.copy_button.setObjectName("copyAnswer")
        self.copy_button.clicked.connect(self.copy_last_answer)
        self.stop_button = QPushButton(icons.icon("stop"), "Stop")
        self.stop_button.setObjectName("stopGeneration")
        self.stop_button.setToolTip("Stop generating (Esc)")
        self.stop_button.clicked.connect(self.stop_action)
        self.stop_button.setEnabled(False)
        self.send_button = QPushButton(icons.icon("send"), "Send")
        self.send_button.setObjectName("sendButton")
        self.send_button.setToolTip("Send (Ctrl+Enter)")
        self.send_button.setDefault(True)
        self.send_button.clicked.connect(self.primary_action)
        for button in (self.copy_button, self.stop_button, self.send_button):
            tools.addWidget(button)

        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 6, 6, 6)
        rv.addWidget(self.stack, 1)
        rv.addWidget(self.attachments)
        rv.addWidget(self.input)
        rv.addLayout(tools)

        self.splitter = QSplitter()
        self.splitter.setObjectName("chatSplitter")
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([260, 900])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)
        QTimer.singleShot(0, self.refresh_conversations)
        self._update_empty()

    # ---- conversations ---------------------------------------------------------------------
    def refresh_conversations(self) -> None:
        self.ctx.tasks.spawn(self._refresh(), name="chat-refresh")

    async def _refresh(self) -> None:
        query = self.search.text().strip() or None
        convs = await self.ctx.tasks.run_db(self.ctx.conversations.conversations, query)
        self.conversations.blockSignals(True)
        self.conversations.clear()
        current_row = -1
        for i, c in enumerate(convs):
            item = QListWidgetItem(icons.icon("chat"), c.title)
            item.setData(Qt.ItemDataRole.UserRole, c.id)
            item.setToolTip(f"{c.title}\n{time.strftime('%Y-%m-%d %H:%M', time.localtime(c.updated_at))}")
            self.conversations.addItem(item)
            if c.id == self.conversation_id:
                current_row = i
        self.conversations.setCurrentRow(current_row)
        self.conversations.blockSignals(False)
        if self.conversation_id is None and convs and not query:
            self.conversations.setCurrentRow(0)

    def _conversation_selected(self, item: QListWidgetItem | None, _prev: Any = None) -> None:
        if item is None:
            return
        cid = int(item.data(Qt.ItemDataRole.UserRole))
        if cid != self.conversation_id:
            self.ctx.tasks.spawn(self.open_conversation(cid), name="chat-open")

    async def open_conversation(self, cid: int) -> None:
        await self.controller.open(cid)

    def new_conversation(self) -> None:
        self.controller.start_new()
        self.conversations.clearSelection()
        self.conversations.setCurrentRow(-1)
        self.focus_input()

    # ---- the controller's state, as the pane shows it ---------------------------------------------
    @property
    def conversation_id(self) -> int | None:
        return self.controller.conversation_id

    @property
    def history(self) -> list[ChatMessage]:
        return self.controller.history

    @property
    def sampling(self) -> SamplingParams:
        return self.controller.sampling

    @sampling.setter
    def sampling(self, value: SamplingParams) -> None:
        self.controller.sampling = value

    # ---- ChatView ------------------------------------------------------------------------------
    def history_changed(self) -> None:
        self.render_transcript()

    def turn_began(self) -> None:
        self.ctx.tasks.spawn(self._refresh(), name="chat-refresh")

    def answer_grew(self, message_id: int, delta: str) -> None:
        """Append the piece as plain text before the cursor mark; nothing else is re-rendered."""
        cursor = self._stream_cursor
        if cursor is None or message_id != self.controller.streaming_shown:
            return
        bar = self.transcript.verticalScrollBar()
        at_bottom = bar.value() >= bar.maximum() - 8
        cursor.insertText(delta)  # a kept cursor: it moves on past what it inserted
        if at_bottom:
            bar.setValue(bar.maximum())

    def _delete_current(self) -> None:
        item = self.conversations.currentItem()
        if item is None:
            return
        cid = int(item.data(Qt.ItemDataRole.UserRole))
        self.ctx.tasks.spawn(self._delete(cid))

    async def _delete(self, cid: int) -> None:
        await self.ctx.tasks.run_db(self.ctx.conversations.delete, cid)
        if cid == self.conversation_id:
            self.new_conversation()
        await self._refresh()

    def _conversation_menu(self, pos: Any) -> None:
        item = self.conversations.itemAt(pos)
        if item is None:
            return
        menu = QMenu(self)
        menu.addAction(icons.icon("delete"), "Delete", self._delete_current)
        menu.popup(self.conversations.mapToGlobal(pos))

    # ---- transcript -------------------------------------------------------------------------
    def _welcome(self) -> QWidget:
        w = QWidget()
        w.setObjectName("chatWelcome")
        v = QVBoxLayout(w)
        v.addStretch(2)
        logo = QLabel()
        logo.setPixmap(icons.app_icon().pixmap(72, 72))
        logo.setAlignment(Qt.AlignmentFlag.AlignCenter)
        title = QLabel("<h2>Ask about your screen</h2>")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint = QLabel(
            "Attach the whole desktop, one monitor, a dragged region or a window with the buttons below,<br>"
            "or paste / drop an image — then type a question and press <b>Ctrl+Enter</b>.<br><br>"
            "<b>Ctrl+Shift+R</b> region · <b>Ctrl+Shift+D</b> desktop · <b>Ctrl+Shift+M</b> monitor · "
            "<b>Ctrl+N</b> new conversation · <b>Esc</b> stop"
        )
        hint.setObjectName("hint")
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint.setWordWrap(True)
        for x in (logo, title, hint):
            v.addWidget(x)
        v.addStretch(3)
        return w

    def _update_empty(self) -> None:
        self.stack.setCurrentIndex(0 if not self.history else 1)

    def _focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    def render_transcript(self) -> None:
        """Render the conversation as Markdown (images as thumbnails, a Copy link per answer).

        An answer streaming now comes last, as what streamed so far and the cursor mark; its
        next pieces are inserted before the mark (`answer_grew`), not rendered again."""
        self.full_renders += 1
        bar = self.transcript.verticalScrollBar()
        at_bottom = bar.value() >= bar.maximum() - 8
        streaming_id = self.controller.streaming_shown
        parts: list[str] = []
        for msg in self.history:
            if msg.id == streaming_id:
                continue  # appended below, after the Markdown
            name = ROLE_NAMES.get(msg.role, msg.role)
            parts.append(f"#### {name}")
            for att in msg.attachments:
                url = f"att:{att.id}"
                self.transcript.add_image(url, att.data)
                parts.append(f"![{att.label}]({url}) ")
            parts.append(msg.text if msg.text.strip() else "_(no text)_")
            if msg.status == "stopped":
                parts.append("_— stopped_")
            if msg.role == "assistant":
                parts.append(f"[Copy](copy:{msg.id})")
            parts.append("\n---\n")
        if streaming_id is not None:
            parts.append(f"#### {ROLE_NAMES['assistant']}")
        self.transcript.setMarkdown("\n\n".join(parts))
        self._stream_cursor = None
        if streaming_id is not None:
            cursor = QTextCursor(self.transcript.document())
            cursor.movePosition(QTextCursor.MoveOperation.End)
            cursor.insertBlock()
            cursor.insertText(CURSOR)
            cursor.movePosition(QTextCursor.MoveOperation.Left, n=len(CURSOR))
            cursor.insertText(self.controller.streaming.get(streaming_id, ""))
            self._stream_cursor = cursor
        if at_bottom:
            bar.setValue(bar.maximum())
        self._update_empty()

    def _anchor(self, url: QUrl) -> None:
        if url.scheme() == "copy":
            mid = int(url.path() or 0)
            for msg in self.history:
                if msg.id == mid:
                    QGuiApplication.clipboard().setText(msg.text)
                    self.ctx.bridge.notice.emit("info", "Answer copied")

    def copy_last_answer(self) -> None:
        for msg in reversed(self.history):
            if msg.role == "assistant":
                QGuiApplication.clipboard().setText(self.controller.text_of(msg))
                self.ctx.bridge.notice.emit("info", "Answer copied")
                return

    def last_answer_text(self) -> str:
        for msg in reversed(self.history):
            if msg.role == "assistant":
                return self.controller.text_of(msg)
        return ""

    # ---- attachments ---------------------------------------------------------------------
    def add_image(self, pending: PendingImage) -> None:
        """Attach an image; a large one gets its thumbnail made off the Qt thread first."""
        if max(pending.image.size) <= 1024:
            self.attachments.add(pending)
            return
        self.ctx.tasks.spawn(self._add_large(pending), name="chat-thumbnail")

    async def _add_large(self, pending: PendingImage) -> None:
        from qwen3vl_agent.ui.chat_widgets import thumbnail_image

        thumb = await self.ctx.tasks.run_io(thumbnail_image, pending.image)
        self.attachments.add(pending, thumb)

    async def add_files(self, paths: list[str]) -> None:
        from qwen3vl_agent.imaging.loading import load_image

        for p in paths:
            try:
                img = await self.ctx.tasks.run_io(load_image, p)
            except UserFacingError as exc:
                self.ctx.bridge.notice.emit("error", str(exc))
                continue
            from pathlib import Path

            self.add_image(PendingImage(Path(p).name, img))

    def _pick_files(self) -> None:
        dlg = QFileDialog(self, "Attach images")
        dlg.setFileMode(QFileDialog.FileMode.ExistingFiles)
        dlg.setNameFilter("Images (*.png *.jpg *.jpeg *.webp *.bmp *.gif *.tif *.tiff)")
        dlg.filesSelected.connect(lambda files: self.ctx.tasks.spawn(self.add_files(list(files))))
        dlg.open()

    def _choose_then_capture(self, kind: str) -> None:
        self.ctx.tasks.spawn(self._choose(kind), name="chat-choose")

    async def _choose(self, kind: str) -> None:
        button = self.capture_buttons[kind]
        menu = QMenu(self)
        if kind == "monitor":
            monitors = await self.ctx.tasks.run_io(capture.list_monitors)
            for m in monitors:
                menu.addAction(
                    icons.icon("monitor"),
                    m.label(),
                    lambda m=m: self.ctx.tasks.spawn(self.attach_capture("monitor", m.index)),
                )
        else:
            windows = await self.ctx.tasks.run_io(capture.list_windows)
            for w in windows[:40]:
                menu.addAction(
                    icons.icon("window"),
                    w.title[:80],
                    lambda w=w: self.ctx.tasks.spawn(self.attach_capture("window", w)),
                )
            if not windows:
                menu.addAction(
                    "Pick the window's area with a region…",
                    lambda: self.ctx.tasks.spawn(self.attach_capture("region")),
                )
        menu.popup(button.mapToGlobal(button.rect().bottomLeft()))

    async def attach_capture(self, kind: str, arg: Any = None) -> None:
        """Capture `kind` (desktop / monitor / region / window) and add it to the next message."""
        try:
            if kind == "region":
                shot = await capture.grab(self.ctx, "desktop")
                img = await pick_region(shot)
                if img is None:
                    return
                self.add_image(PendingImage("region", img))
            elif kind == "monitor":
                index = arg if arg is not None else self._current_monitor()
                self.add_image(
                    PendingImage(f"monitor {index}", await capture.grab(self.ctx, "monitor", index))
                )
            elif kind == "window":
                if arg is None:
                    self._choose_then_capture("window")
                    return
                self.add_image(
                    PendingImage(f"window: {arg.title[:40]}", await capture.grab(self.ctx, "window", arg))
                )
            else:
                self.add_image(PendingImage("desktop", await capture.grab(self.ctx, "desktop")))
        except UserFacingError as exc:
            self.ctx.bridge.notice.emit("error", str(exc))

    def _current_monitor(self) -> int:
        screens = QGuiApplication.screens()
        screen = self.window().screen() if self.window() else None
        return (screens.index(screen) + 1) if screen in screens else 1

    # ---- sending -----------------------------------------------------------------------------
    def focus_input(self) -> None:
        self.input.setFocus()

    @property
    def busy(self) -> bool:
        return self._stream_task is not None and not self._stream_task.done()

    def primary_action(self) -> None:
        text = self.input.toPlainText().strip()
        if self.busy or (not text and not self.attachments.images):
            return
        images = self.attachments.take_all()
        self.input.clear()
        self._set_busy(True)
        self._stream_task = self.ctx.tasks.spawn(self.send(text, images), name="chat-send")

    def stop_action(self) -> None:
        if self.busy and self._stream_task is not None:
            self._stream_task.cancel()

    def _set_busy(self, busy: bool) -> None:
        self.stop_button.setEnabled(busy)
        self.send_button.setEnabled(not busy)

    async def send(self, text: str, images: list[PendingImage]) -> None:
        """One turn (the controller's); a stop cancels it, and the cancellation goes on up."""
        self._set_busy(True)
        try:
            await self.controller.send(text, images)
        finally:
            self._set_busy(False)

    # ---- lifecycle ------------------------------------------------------------------------------
    def save_layout(self, s: QSettings) -> None:
        s.setValue("chat/splitter", self.splitter.saveState())

    def restore_layout(self, s: QSettings) -> None:
        state = s.value("chat/splitter")
        if state is not None:
            self.splitter.restoreState(state)

    def retint(self) -> None:
        for kind, b in self.capture_buttons.items():
            b.setIcon(icons.icon(kind))

    async def shutdown(self) -> None:
        """Stop a running answer; what streamed so far is stored with status 'stopped'."""
        task = self._stream_task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
