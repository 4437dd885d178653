#!/usr/bin/env bash
# The README's start command: install the app into .venv (with vLLM when an NVIDIA GPU is
# present) and start the desktop app. Arguments go to `qwen3vl-agent`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh --app-only || echo "warning: could not install system packages" >&2
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -U pip
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[gpu]'
else
  echo "no NVIDIA GPU found: installing without vLLM (point the app at a remote engine, or use CPU OCR)"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e .
fi
exec .venv/bin/qwen3vl-agent "$@"
