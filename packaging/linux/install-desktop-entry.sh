#!/usr/bin/env bash
# Add (or with --uninstall, remove) the app's menu entry, icons and AppStream metainfo for the
# current user, following the XDG layout (respects XDG_DATA_HOME). Exec points at the installed
# `qwen3vl-agent` command (the repo's .venv, a pipx/uv tool install, or a PyInstaller bundle).
# Usage: install-desktop-entry.sh [--uninstall] [--exec PATH]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
APP_ID=io.github.qwen3vlagent.Qwen3VLAgent
DATA=${XDG_DATA_HOME:-$HOME/.local/share}
MODE=install; EXEC=""
while [ $# -gt 0 ]; do case $1 in
  --uninstall) MODE=uninstall;; --exec) EXEC=$2; shift;; *) echo "unknown option $1" >&2; exit 2;; esac; shift; done
if [ "$MODE" = uninstall ]; then
  rm -f "$DATA/applications/$APP_ID.desktop" "$DATA/metainfo/$APP_ID.metainfo.xml"
  find "$DATA/icons/hicolor" -name "$APP_ID.*" -delete 2>/dev/null || true
  echo "removed $APP_ID from $DATA"; exit 0
fi
if [ -z "$EXEC" ]; then
  EXEC=$(command -v qwen3vl-agent || true)
  [ -z "$EXEC" ] && [ -x "$HERE/../../.venv/bin/qwen3vl-agent" ] && EXEC=$(cd "$HERE/../../.venv/bin" && pwd)/qwen3vl-agent
  [ -z "$EXEC" ] && { echo "qwen3vl-agent not found: install the app first or pass --exec PATH" >&2; exit 1; }
fi
mkdir -p "$DATA/applications" "$DATA/metainfo"
sed "s|^Exec=.*|Exec=$EXEC|" "$HERE/$APP_ID.desktop" > "$DATA/applications/$APP_ID.desktop"
cp "$HERE/$APP_ID.metainfo.xml" "$DATA/metainfo/"
(cd "$HERE/icons" && find hicolor -name "$APP_ID.*" | while read -r f; do mkdir -p "$DATA/icons/$(dirname "$f")"; cp "$f" "$DATA/icons/$f"; done)
command -v update-desktop-database >/dev/null && update-desktop-database -q "$DATA/applications" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$DATA/icons/hicolor" 2>/dev/null || true
echo "installed $APP_ID into $DATA (Exec=$EXEC)"
