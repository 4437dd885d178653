"""A workspace's own Xauthority: a random cookie only this user's processes can read.

The X server is started with `-auth FILE` (access control on, the cookie in FILE). Clients read
the cookie from the file named by XAUTHORITY; the launched app gets the workspace's own file. The
app's own process (capture, XTest input, the clipboard helper) connects to several workspaces at
once and must not touch the user's XAUTHORITY variable, so the workspace also admits the user
itself as a server-interpreted `localuser` (the kernel vouches for the peer's uid on the local
socket; `-nolisten tcp` keeps it local). Other accounts get neither.
"""

from __future__ import annotations

import os
import secrets
import socket
import struct
import subprocess
import sys
from pathlib import Path

COOKIE_NAME = b"MIT-MAGIC-COOKIE-1"
FAMILY_LOCAL = 256
FAMILY_WILD = 65535


def _entry(family: int, address: bytes, number: bytes, data: bytes) -> bytes:
    def counted(field: bytes) -> bytes:
        return struct.pack(">H", len(field)) + field

    return (
        struct.pack(">H", family) + counted(address) + counted(number) + counted(COOKIE_NAME) + counted(data)
    )


def new_cookie() -> bytes:
    return secrets.token_bytes(16)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def write_server_file(path: Path, cookie: bytes) -> None:
    """The file for the server's `-auth`: it accepts every entry, whatever its display number."""
    _write_private(path, _entry(FAMILY_WILD, b"", b"", cookie))


def write_client_file(path: Path, display_number: int, cookie: bytes) -> None:
    """The file for clients (XAUTHORITY): a local entry (python-xlib matches only this kind) and a
    wildcard one (libxcb/libX11 take it whatever the host name)."""
    number = str(display_number).encode()
    local = _entry(FAMILY_LOCAL, socket.gethostname().encode(), number, cookie)
    _write_private(path, local + _entry(FAMILY_WILD, b"", number, cookie))


_GRANT = (
    "import os, sys\n"
    "from Xlib import X, display\n"
    "d = display.Display(sys.argv[1])\n"
    "d.change_hosts(X.HostInsert, 5, b'localuser\\0' + sys.argv[2].encode())\n"  # 5 = ServerInterpreted
    "d.sync()\n"
    "d.close()\n"
)


def admit_local_user(display: str, xauthority: Path, timeout_s: float = 10.0) -> None:
    """Let this user's processes connect without the cookie (see the module docstring).

    Runs in a child process with XAUTHORITY set to the workspace's file, so that the app's own
    environment (the user's desktop) is never changed. Raises RuntimeError with the reason.
    """
    import pwd

    user = pwd.getpwuid(os.getuid()).pw_name
    env = dict(os.environ, XAUTHORITY=str(xauthority), DISPLAY=display)
    done = subprocess.run(
        [sys.executable, "-c", _GRANT, display, user],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError((done.stderr.strip().splitlines() or ["unknown error"])[-1])
