#!/usr/bin/env bash
# Install (or refresh) the app into .venv, quietly, and only when something changed.
#
# Usage: install-app.sh [EXTRA]   e.g. `install-app.sh gpu`, `install-app.sh test`
#
# Why a stamp: the install is editable, so code changes need no reinstall; only a changed
# pyproject.toml (dependencies, entry points) or another extra does. Re-running pip on every start
# cost ~10 s and printed pip's warnings about local index folders that this machine's pip config
# names but that do not exist; those lines are noise and are filtered out.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRA="${1:-}"
SPEC="."; [ -n "$EXTRA" ] && SPEC=".[$EXTRA]"
[ -x .venv/bin/python ] || python3 -m venv .venv
# one line per extra installed for this pyproject.toml and Python: "<sha256> <python> <extra or ->"
STAMP=.venv/.qwen3vl-agent-install-stamp
BASE="$(sha256sum pyproject.toml | cut -d' ' -f1) $(.venv/bin/python -c 'import sys; print(sys.version.split()[0])')"
LINE="$BASE ${EXTRA:--}"
# the plain app is in every install of this pyproject.toml; an extra needs its own line
if [ -z "$EXTRA" ]; then PATTERN="^$BASE "; else PATTERN="^$LINE\$"; fi
if [ -f "$STAMP" ] && grep -q "$PATTERN" "$STAMP" && [ -x .venv/bin/qwen3vl-agent ] \
   && .venv/bin/python -c "import qwen3vl_agent" 2>/dev/null; then
  exit 0
fi
# pip's own chatter (warnings about absent local index folders named in this machine's pip
# config, setuptools' editable-install banner) goes to a log; it is shown only when pip fails
LOG=.venv/install.log
quiet() { "$@" >>"$LOG" 2>&1 || { echo "pip failed; its output (from $LOG):" >&2; grep -v "is ignored: it is neither" "$LOG" | tail -40 >&2; exit 1; }; }
: > "$LOG"
echo "installing the app into .venv ($SPEC)…"
quiet .venv/bin/python -m pip install -q --disable-pip-version-check -U pip
quiet .venv/bin/python -m pip install -q --disable-pip-version-check -e "$SPEC"
{ [ -f "$STAMP" ] && grep "^$BASE " "$STAMP" || true; echo "$LINE"; } | sort -u > "$STAMP.new" && mv "$STAMP.new" "$STAMP"
