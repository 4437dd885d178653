"""Private by default: the app's own files are the user's eyes only (0700 folders, 0600 files).

The database holds chats with their images, cached answers and whole data rows (password columns
included); trajectories hold screenshots; reports embed both; logs hold typed text. So:

* `make_process_private()` sets umask 077 at the entry points (CLI, desktop app) before the first
  write, remembering the user's own umask;
* files the USER chose to write (OCR exports under `--out`) keep the user's umask instead:
  `user_file_mode()` and `mkdir_for_user()`;
* the stores also create their files with explicit owner-only modes (`private_mkdir`,
  `open_private`), so they stay private when the core is used without an entry point;
* `secure_app_dirs()` tightens an existing install once (files 0644 and folders 0755 written by
  an older version): a marker file per folder makes every later start a few `stat` calls.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
MARKER_NAME = ".private-modes-v1"

_user_umask: int | None = None


def current_umask() -> int:
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


USER_UMASK_ENV = "QWEN3VL_AGENT_USER_UMASK"  # how worker processes (forkserver, spawn) learn it


def make_process_private() -> None:
    """umask 077 for this process (idempotent); the user's umask is kept for `user_file_mode`,
    here and (through the environment) in every process we start."""
    global _user_umask
    previous = os.umask(PRIVATE_UMASK)
    if _user_umask is None:
        _user_umask = _inherited_umask()
        if _user_umask is None:
            _user_umask = previous
        os.environ[USER_UMASK_ENV] = f"{_user_umask:03o}"


def _inherited_umask() -> int | None:
    text = os.environ.get(USER_UMASK_ENV, "")
    try:
        return int(text, 8) & 0o777 if text else None
    except ValueError:
        return None


def user_umask() -> int:
    """The umask the user started us with (before `make_process_private`, maybe in a parent)."""
    if _user_umask is not None:
        return _user_umask
    inherited = _inherited_umask()
    return inherited if inherited is not None else current_umask()


def user_file_mode() -> int:
    """The mode a plain `open()` would give a new file under the user's own umask."""
    return 0o666 & ~user_umask()


def _mkdir_with_mode(path: Path, mode: int) -> None:
    """`mkdir -p` of `path`; every folder it creates gets `mode` exactly (whatever the umask),
    the folders that were there are left as they are."""
    missing: list[Path] = []
    p = Path(path)
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    path.mkdir(parents=True, exist_ok=True, mode=mode)
    for folder in reversed(missing):
        with contextlib.suppress(OSError):
            os.chmod(folder, mode)


def mkdir_for_user(path: Path) -> None:
    """`mkdir -p` of a folder the user chose (an export target): new folders get the user's mode."""
    _mkdir_with_mode(path, 0o777 & ~user_umask())


def private_mkdir(path: Path) -> Path:
    """`mkdir -p` with 0700 for every folder it creates (whatever the umask)."""
    _mkdir_with_mode(path, PRIVATE_DIR_MODE)
    return path


def open_private(path: Path, flags: int = os.O_WRONLY | os.O_CREAT | os.O_TRUNC) -> int:
    """`os.open` that creates the file 0600 (an existing file is tightened too)."""
    fd = os.open(path, flags, PRIVATE_FILE_MODE)
    with contextlib.suppress(OSError):
        if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
            os.fchmod(fd, stat.S_IMODE(os.fstat(fd).st_mode) & ~0o077)
    return fd


def write_private_bytes(path: Path, data: bytes) -> None:
    """Write `path` (created 0600) in one go."""
    fd = open_private(path)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def tighten(path: Path) -> bool:
    """Drop the group/other bits of one file or folder; True when it changed."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if stat.S_ISLNK(st.st_mode) or not (st.st_mode & 0o077):
        return False
    try:
        os.chmod(path, stat.S_IMODE(st.st_mode) & ~0o077)
    except OSError as exc:
        log.warning("cannot make %s private: %s", path, exc)
        return False
    return True


def tighten_tree(root: Path) -> int:
    """Make `root` and everything under it owner-only (symlinks are not followed); count changes."""
    changed = int(tighten(root))
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in (*dirs, *files):
            changed += tighten(Path(folder, name))
    return changed


def secure_app_dirs(folders: Iterable[Path]) -> int:
    """Make the app's folders private: a full pass once per folder, then only the folder itself."""
    changed = 0
    for folder in folders:
        if not folder.is_dir():
            continue
        marker = folder / MARKER_NAME
        if marker.exists():
            changed += tighten(folder)
            continue
        changed += tighten_tree(folder)
        with contextlib.suppress(OSError):
            os.close(open_private(marker))
    if changed:
        log.info("made %d existing files and folders of the app private (owner only)", changed)
    return changed
