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
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QToolButton,
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


class SecretField(QWidget):
    """A password-style line edit with a Show/Hide toggle, for API keys."""

    def __init__(self, value: str, placeholder: str, name: str) -> None:
        super().__init__()
        self.edit = QLineEdit(value)
        self.edit.setObjectName(name)
        self.edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.edit.setPlaceholderText(placeholder)
        self.toggle = QToolButton()
        self.toggle.setObjectName(f"{name}Show")
        self.toggle.setText("Show")
        self.toggle.setCheckable(True)
        self.toggle.setToolTip("Show or hide the key")
        self.toggle.toggled.connect(self._shown)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.toggle)

    def _shown(self, shown: bool) -> None:
        self.edit.setEchoMode(QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password)
        self.toggle.setText("Hide" if shown else "Show")

    def hide_text(self) -> None:
        self.toggle.setChecked(False)


def field_tip(model: type[BaseModel], name: str) -> str:
    """The pydantic field's description, used as the widget's tooltip."""
    info = model.model_fields.get(name)
    return (info.description or "") if info is not None else ""


def _longest_prefix(loc: Loc, known: dict[Loc, Any]) -> Loc | None:
    """The longest key of `known` that `loc` starts with (the most specific field)."""
    matches = [k for k in known if loc[: len(k)] == k]
    return max(matches, key=len) if matches else None


class SettingsPage(QWidget):
    """One page of the settings dialog: a form, and an inline error line per field."""

    title = "Settings"

    def __init__(self, settings: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._settings = settings
        self._labels: dict[Loc, str] = {}
        self._field_errors: dict[Loc, QLabel] = {}
        self.first_error: QLabel | None = None
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
        known = _longest_prefix(loc, self._labels)
        return self._labels[known] if known is not None else ".".join(loc)

    def clear_errors(self) -> None:
        self.first_error = None
        self.error.clear()
        self.error.hide()
        for err in self._field_errors.values():
            err.clear()
            self.form.setRowVisible(err, False)

    def show_error(self, loc: Loc | None, message: str) -> str:
        """Show `message` next to the field at `loc` (else at the page's foot); return the
        summary line for the dialog."""
        line = f"{self.label_for(loc)}: {message}" if loc else message
        known = _longest_prefix(loc, self._field_errors) if loc is not None else None
        target = self._field_errors[known] if known is not None else None
        if target is not None:
            target.setText(f"{target.text()}\n{message}" if target.text() else message)
            self.form.setRowVisible(target, True)
        else:
            target = self.error
            self.error.setText(f"{self.error.text()}\n{line}" if self.error.text() else line)
            self.error.show()
        if self.first_error is None:
            self.first_error = target
        return line

    def cancel_work(self) -> None:
        """Stop background work the page started (the dialog is closing)."""
