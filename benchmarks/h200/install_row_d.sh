#!/usr/bin/env bash
# Issue 17 row D, ON THE DEVICE: unpack the workspace payload made by prepare_row_d.sh (Xvfb, the
# X/xcb/GL/font libraries, PySide6 trimmed, python-xlib/mss/pyperclip/...) outside the system:
#     bash .gpu/d1/install_row_d.sh .gpu/d1        # then: source /root/xroot/env.sh
# Variables: XROOT (/root/xroot: the .debs, `dpkg -x`, never into /), DSITE (/root/dsite: the Python
# packages), PYTHON (python3), ALL_LIBS (0: link only the libraries the system lacks, by soname, so
# no system library is shadowed by an older Debian one; 1: link all of them — the local test),
# LDCONF (auto: as root, register the linked libraries — only the missing ones — in
# /etc/ld.so.conf.d so that ctypes.util.find_library (mss loads libxcb through it) finds them;
# 0: never). Idempotent: a second run re-links and re-writes env.sh.
#
# Xvfb needs two things from fixed paths: the XKB data (-xkbdir, given by the wrapper
# $XROOT/bin/Xvfb) and the `xkbcomp` program, which it runs from its compiled-in directory
# /usr/bin. The device has no /usr/bin/xkbcomp, so the wrapper runs a copy of Xvfb whose one
# "/usr/bin" string (XKB_BIN_DIRECTORY) is patched to "/tmp/xkb", a symlink to $XROOT/usr/bin.
# The wrapper also turns GLX off (-extension GLX): Mesa's DRI drivers are not carried, and the Qt
# form draws in software.
set -euo pipefail
P=$(cd "${1:?usage: install_row_d.sh PAYLOAD_DIR [PAYLOAD_DIR...]}" && pwd)
shift || true
XROOT=${XROOT:-/root/xroot}
DSITE=${DSITE:-/root/dsite}
PY=${PYTHON:-python3}
ALL_LIBS=${ALL_LIBS:-0}
LDCONF=${LDCONF:-auto}
XKBLINK=/tmp/xkb  # exactly 8 characters, like the "/usr/bin" it replaces in the binary
mkdir -p "$XROOT" "$DSITE"
t0=$(date +%s)

# 1. the .debs (from every payload folder given)
n=0
for dir in "$P" "$@"; do
  for deb in "$dir"/debs/*.deb; do
    [ -e "$deb" ] || continue
    dpkg-deb -x "$deb" "$XROOT" && n=$((n + 1))
  done
done
echo "unpacked $n .debs into $XROOT"

# 2. Python packages: the trimmed PySide6 (whole, or split into pyside6.tar.xz.part-* pieces
#    across payload folders), then the small wheels
parts=()
for dir in "$P" "$@"; do
  for f in "$dir"/pyside6.tar.xz.part-*; do [ -e "$f" ] && parts+=("$f"); done
done
if [ -f "$P/pyside6.tar.xz" ]; then parts=("$P/pyside6.tar.xz"); fi
# python's lzma, not tar -J: the device image may have no xz program
[ ${#parts[@]} -gt 0 ] && printf '%s\n' "${parts[@]}" | "$PY" -c '
import io, sys, tarfile
names = sorted(sys.stdin.read().split(), key=lambda n: n.rsplit("part-", 1)[-1])
data = b"".join(open(n, "rb").read() for n in names)
archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:xz")
try:
    archive.extractall(sys.argv[1], filter="fully_trusted")
except TypeError:  # a Python without extraction filters (3.11.2 and older): the same, unfiltered
    archive.extractall(sys.argv[1])
' "$DSITE"
[ -d "$DSITE/PySide6" ] || { echo "PySide6 missing from the payload"; exit 1; }
"$PY" -m pip install -q --no-index --no-deps --no-compile --upgrade --target "$DSITE" "$P"/wheels/*.whl 2>&1 \
  | grep -v -e "WARNING: Running pip as" -e "WARNING: Target directory" || true

# 3. the libraries: link into $XROOT/fill those the system lacks (ALL_LIBS=1: all of them)
FILL=$XROOT/fill
rm -rf "$FILL" && mkdir -p "$FILL"
have=$(ldconfig -p 2>/dev/null | awk '{print $1}' | sort -u)
linked=0
for lib in "$XROOT"/usr/lib/x86_64-linux-gnu/*.so.* "$XROOT"/lib/x86_64-linux-gnu/*.so.*; do
  [ -e "$lib" ] || continue
  name=$(basename "$lib")
  [[ $name =~ \.so\.[0-9]+$ ]] || continue  # sonames only (libfoo.so.1), not libfoo.so.1.2.3
  if [ "$ALL_LIBS" = 1 ] || ! grep -qxF "$name" <<< "$have"; then
    ln -sfn "$lib" "$FILL/$name"
    linked=$((linked + 1))
  fi
done
echo "linked $linked libraries into $FILL (ALL_LIBS=$ALL_LIBS)"
if [ "$LDCONF" = auto ] && [ "$(id -u)" = 0 ] && [ -d /etc/ld.so.conf.d ] && [ "$ALL_LIBS" != 1 ]; then
  echo "$FILL" > /etc/ld.so.conf.d/zz-qwen3vl-row-d.conf && ldconfig && echo "registered $FILL with ldconfig"
fi

# 4. Xvfb: the patched copy and the wrapper
XVFB=$XROOT/usr/bin/Xvfb
"$PY" - "$XVFB" "$XVFB.row-d" <<'EOF'
import sys
src, dst = sys.argv[1], sys.argv[2]
data = open(src, "rb").read()
old, new = b"\x00/usr/bin\x00", b"\x00/tmp/xkb\x00"
assert data.count(old) == 1, f"expected one XKB_BIN_DIRECTORY string in {src}, found {data.count(old)}"
open(dst, "wb").write(data.replace(old, new))
EOF
chmod 755 "$XVFB.row-d"
ln -sfn "$XROOT/usr/bin" "$XKBLINK"
mkdir -p "$XROOT/bin"
cat > "$XROOT/bin/Xvfb" <<EOF
#!/bin/sh
# Xvfb from the row-D payload: XKB data carried, xkbcomp through $XKBLINK, no GLX
[ -e $XKBLINK ] || ln -sfn "$XROOT/usr/bin" $XKBLINK
exec "$XVFB.row-d" -xkbdir "$XROOT/usr/share/X11/xkb" -extension GLX "\$@"
EOF
chmod 755 "$XROOT/bin/Xvfb"

# 5. fonts for Qt (fontconfig), the environment to use
mkdir -p "$XROOT/etc/fonts"
cat > "$XROOT/etc/fonts/fonts.conf" <<EOF
<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig>
  <dir>$XROOT/usr/share/fonts</dir>
  <cachedir>/tmp/xroot-fontconfig-cache</cachedir>
</fontconfig>
EOF
cat > "$XROOT/env.sh" <<EOF
# source me: the row-D workspace environment (install_row_d.sh)
export PATH="$XROOT/bin:\$PATH:$XROOT/usr/bin"
export LD_LIBRARY_PATH="$FILL\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export PYTHONPATH="$DSITE\${PYTHONPATH:+:\$PYTHONPATH}"
export FONTCONFIG_FILE="$XROOT/etc/fonts/fonts.conf"
export XLOCALEDIR="$XROOT/usr/share/X11/locale"
export XKB_CONFIG_ROOT="$XROOT/usr/share/X11/xkb"
export QT_QPA_PLATFORM=xcb
EOF
echo "installed in $(($(date +%s) - t0)) s; environment ($XROOT/env.sh):"
cat "$XROOT/env.sh"
