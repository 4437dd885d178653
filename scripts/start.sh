#!/usr/bin/env bash
# The README's start command: install the app into .venv (with vLLM when an NVIDIA GPU is
# present) and start the desktop app. Arguments go to `qwen3vl-agent`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh --app-only || echo "warning: could not install system packages" >&2
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  bash scripts/install-app.sh gpu
else
  [ -f .venv/.qwen3vl-agent-install-stamp ] || echo "no NVIDIA GPU found: installing without vLLM (point the app at an engine in Settings → Endpoints, or use CPU OCR)"
  bash scripts/install-app.sh
fi
exec .venv/bin/qwen3vl-agent "$@"
