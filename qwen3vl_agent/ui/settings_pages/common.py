"""What every settings page shares: the page base class, small widget makers and field tips.

A page edits part of the settings' plain-dict form (`Settings.model_dump()`); the dialog
validates the merged dict with the config's pydantic models and hands each page back the
errors about its own fields, shown inline on the page under the field's label.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

Loc = tuple[str, ...]
ERROR_STYLE = "color: #d64545;"


class PageError(ValueError):
    """Input the form itself can tell is wrong (before pydantic sees it), for one field."""

    def __init__(self, loc: Loc, message: str) -> None:
        super().__init__(message)
        self.loc = loc


def spin(value: int, lo: int, hi: int, step: int = 1, suffix: str = "") -> QSpinBox:
    w = QSpinBox()
    w.setRange(lo, hi)
    w.setSingleStep(step)
    w.setValue(value)
    if suffix:
        w.setSuffix(suffix)
    return w


def dspin(
    value: float, lo: float, hi: float, step: float, suffix: str = "", decimals: int = 2
) -> QDoubleSpinBox:
    w = QDoubleSpinBox()
    w.setDecimals(decimals)
    w.setRange(lo, hi)
    w.setSingleStep(step)
    w.setValue(value)
    if suffix:
        w.setSuffix(suffix)
    return w


def combo(options: list[str], current: str) -> QComboBox:
    w = QComboBox()
    w.addItems(options)
    w.setCurrentText(current)
    return w


def optional_number(value: float | None, placeholder: str) -> QLineEdit:
    """A text field for an optional number: empty means None (pydantic checks the bounds)."""
    w = QLineEdit("" if value is None else f"{value:g}")
    w.setPlaceholderText(placeholder)
    return w


def read_optional_number(w: QLineEdit, loc: Loc) -> float | None:
    text = w.text().strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise PageError(loc, f"{text!r} is not a number (leave it empty for none)") from None


def field_tip(model: type[BaseModel], name: str) -> str:
    """The pydantic field's description, used as the widget's tooltip."""
    info = model.model_fields.get(name)
    return (info.description or "") if info is not None else ""


class SettingsPage(QWidget):
    """One page of the settings dialog: a form, and an inline error line per field."""

    title = "Settings"

    def __init__(self, settings: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._settings = settings
        self._labels: dict[Loc, str] = {}
        self._field_errors: dict[Loc, QLabel] = {}
        self.error = QLabel("")
        self.error.setObjectName("pageError")
        self.error.setStyleSheet(ERROR_STYLE)
        self.error.setWordWrap(True)
        self.error.hide()
        outer = QVBoxLayout(self)
        self.form = QFormLayout()
        outer.addLayout(self.form)
        outer.addStretch(1)
        outer.addWidget(self.error)

    def row(
        self,
        label: str,
        widget: QWidget,
        loc: Loc | None = None,
        model: type[BaseModel] | None = None,
    ) -> QWidget:
        """Add `label: widget`; `loc` ties pydantic errors to it, `model` gives its tooltip."""
        if loc is not None:
            self._labels[loc] = label
            if model is not None and not widget.toolTip():
                widget.setToolTip(field_tip(model, loc[-1]))
        self.form.addRow(label, widget)
        if loc is not None:
            err = QLabel("")
            err.setObjectName("fieldError")
            err.setStyleSheet(ERROR_STYLE)
            err.setWordWrap(True)
            self.form.addRow("", err)
            self.form.setRowVisible(err, False)
            self._field_errors[loc] = err
        return widget

    def note(self, text: str) -> QLabel:
        label = QLabel(text)
        label.setObjectName("hint")
        label.setWordWrap(True)
        self.form.addRow(label)
        return label

    # ---- what the dialog calls ---------------------------------------------------------------
    def apply(self, data: dict[str, Any]) -> None:
        """Write this page's values into the settings dict; raise `PageError` for bad input."""

    def owns(self, loc: Loc) -> bool:
        """Whether an error at `loc` is about a field on this page."""
        return any(loc[: len(known)] == known for known in self._labels)

    def label_for(self, loc: Loc) -> str:
        for known, label in self._labels.items():
            if loc[: len(known)] == known:
                return label
        return ".".join(loc)

    def clear_errors(self) -> None:
        self.error.clear()
        self.error.hide()
        for err in self._field_errors.values():
            err.clear()
            self.form.setRowVisible(err, False)

    def show_error(self, loc: Loc | None, message: str) -> str:
        """Show `message` next to the field at `loc` (else on the page); return the summary line."""
        line = f"{self.label_for(loc)}: {message}" if loc else message
        target = None
        if loc is not None:
            for known, err in self._field_errors.items():
                if loc[: len(known)] == known:
                    target = err
                    break
        if target is not None:
            target.setText(message)
            self.form.setRowVisible(target, True)
        text = f"{self.error.text()}\n{line}" if self.error.text() else line
        self.error.setText(text)
        self.error.show()
        return line

    def cancel_work(self) -> None:
        """Stop background work the page started (the dialog is closing)."""
