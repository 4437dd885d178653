"""Atomic file writes: a temporary file beside the target, fsync, then rename.

A reader never sees a half-written export, and a disk that fills up mid-write leaves the old
file (or nothing) in place plus a clear `ExportError`, never a truncated file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from qwen3vl_agent.errors import UserFacingError
from qwen3vl_agent.file_modes import mkdir_for_user, user_file_mode


class ExportError(UserFacingError):
    """An export could not be written (disk full, no permission...); nothing half-written is left."""


def _explain(exc: OSError, target: Path) -> ExportError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return ExportError(
            f"The disk is full: {target} was not written (no partial file was left)",
            "free some space and rerun",
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return ExportError(f"No permission to write {target}", "choose another --out folder")
    return ExportError(f"Cannot write {target}: {exc.strerror or exc}")


@contextlib.contextmanager
def atomic_target(target: Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `target`, on failure it is removed."""
    target = Path(target)
    try:
        mkdir_for_user(target.parent)  # the user's --out: the user's umask, not the app's private one
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        os.close(fd)
    except OSError as exc:
        raise _explain(exc, target) from exc
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, user_file_mode())  # what open() would give the user; mkstemp makes 0600
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _explain(exc, target) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(target: Path, writer: Callable[[BinaryIO], None]) -> Path:
    """Write `target` through `writer(fh)` atomically."""
    with atomic_target(target) as tmp, open(tmp, "wb") as fh:
        writer(fh)
        fh.flush()
    return target


def write_text_atomic(target: Path, text: str) -> Path:
    data = text.encode("utf-8")

    def write(fh: BinaryIO) -> None:
        fh.write(data)

    return write_atomic(target, write)
