#!/usr/bin/env bash
# Build the one-folder desktop bundle (no vLLM inside) into dist/qwen3vl-agent/ with PyInstaller.
# Usage: bash scripts/build-bundle.sh [DIST_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
DIST=${1:-dist}
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
.venv/bin/pyinstaller --noconfirm --clean --log-level WARN \
  --distpath "$DIST" --workpath "${DIST}/.build" packaging/pyinstaller/qwen3vl-agent.spec
echo "bundle: $DIST/qwen3vl-agent/qwen3vl-agent"
